"""``labeler noise`` and ``labeler label --with-confidence`` end to end on the sample corpus."""

import csv
import json

import pyarrow.parquet as pq
import pytest

from cli_helpers import run
from labeler.label_table import read_label_table
from labeler.noise_audit import REVIEW_COLUMNS

FAST = ("--n-bootstrap", "10", "--folds", "3")


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def noise_run(sample_csv, tmp_path_factory):
    out = tmp_path_factory.mktemp("noise") / "review.csv"
    code = run("noise", sample_csv, "-o", out, *FAST, "-q")
    return code, out


def test_cli_noise_writes_review_and_noise_file(noise_run):
    code, out = noise_run
    assert code == 0
    with open(out, newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    assert header == list(REVIEW_COLUMNS)
    rows = read_rows(out)
    assert len(rows) == 51 * 14                       # --top 1000 > every label of the 51 reports
    sus = [float(r["suspicion"]) for r in rows]
    assert sus == sorted(sus, reverse=True)
    assert [int(r["rank"]) for r in rows] == list(range(1, len(rows) + 1))
    assert all(0.0 <= float(r["confidence"]) <= 1.0 for r in rows)
    assert {r["label"] for r in rows} <= {"1", "0", "-1", ""}
    with_evidence = [r for r in rows if r["evidence"]]
    assert with_evidence and all(r["rule_id"] for r in with_evidence)
    doc = json.loads(out.with_name(out.name + ".noise.json").read_text())
    assert doc["n_reports"] == 51 and len(doc["observations"]) == 14
    assert doc["signals"] == ["rules.impression", "rules.findings", "negex", "baseline.tfidf"]
    assert doc["review"]["rows"] == len(rows)
    pe = next(o for o in doc["observations"] if o["observation"] == "Pleural Effusion")
    assert set(pe) >= {"estimate", "coded", "confident_learning", "signals", "warnings"}
    assert pe["estimate"]["error_rate"]["ci"] is not None
    assert pe["estimate"]["label_counts"]["positive"] >= 1


def test_cli_noise_file_holds_no_report_text(noise_run, sample_csv):
    _, out = noise_run
    text = out.with_name(out.name + ".noise.json").read_text()
    with open(sample_csv, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            for sentence in row["text"].split(". ")[1:3]:
                if len(sentence) > 25:
                    assert sentence not in text


def test_cli_noise_refuses_to_overwrite(noise_run, sample_csv):
    _, out = noise_run
    assert run("noise", sample_csv, "-o", out, *FAST, "-q") == 2


def test_cli_noise_by_report_and_gold(sample_csv, tmp_path, capsys):
    labels = tmp_path / "labels.csv"
    assert run("label", sample_csv, "-o", labels, "-q") == 0
    rows = list(csv.reader(labels.open(newline="", encoding="utf-8")))
    col = rows[0].index("Pleural Effusion")
    for r in rows[1:6]:                                # gold disagrees with the rules on five reports
        r[col] = "0" if r[col] == "1" else "1"
    gold = tmp_path / "gold.csv"
    with gold.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    out = tmp_path / "review.csv"
    assert run("noise", sample_csv, "-o", out, *FAST, "--by", "report", "--top", "4", "--gold", gold) == 0
    review = read_rows(out)
    uids = list(dict.fromkeys(r["study_uid"] for r in review))
    assert len(uids) == 4
    assert [r["study_uid"] for r in review] == sorted((r["study_uid"] for r in review), key=uids.index)
    doc = json.loads(out.with_name("review.csv.noise.json").read_text())
    assert doc["calibrated_on_gold"] is True
    pe = doc["gold"]["observations"]["Pleural Effusion"]
    assert pe["measured_error_rate"] == pytest.approx(5 / 51, abs=1e-4)
    err = capsys.readouterr().err
    assert "Label noise, % (51 reports, rules labels)" in " ".join(err.split()) and "gold = measured on the gold reports" in err
    # status gold recalibrates the class confidences; the coded / not-coded review keeps its reading
    assert "a hedged finding counts as coded with p = 0.5" in " ".join(err.split())


def test_cli_noise_missing_input_is_a_data_error(tmp_path):
    assert run("noise", tmp_path / "nope.csv", "-o", tmp_path / "r.csv", "-q") == 4


def test_cli_noise_bad_option_is_a_usage_error(sample_csv, tmp_path):
    assert run("noise", sample_csv, "-o", tmp_path / "r.csv", "--by", "sentence", *FAST, "-q") == 2
    assert run("noise", sample_csv, "-o", tmp_path / "r.csv", "--review-for", "vibes", *FAST, "-q") == 2
    assert run("noise", sample_csv, "-o", tmp_path / "r.csv", "--hedged-coded", "2", *FAST, "-q") == 2


def test_cli_noise_review_for_status_ranks_by_one_minus_confidence(noise_run, sample_csv, tmp_path):
    out = tmp_path / "status.csv"
    assert run("noise", sample_csv, "-o", out, *FAST, "--review-for", "status", "-q") == 0
    rows = read_rows(out)
    assert all(float(r["suspicion"]) == pytest.approx(1 - float(r["confidence"]), abs=2e-4) for r in rows)
    doc = json.loads(out.with_name("status.csv.noise.json").read_text())
    assert doc["noise_config"]["review"] == "status"
    assert doc["definition"]["suspicion"] == "review list: 1 - confidence"
    # the default: a reader's coded / not-coded decision, hedged findings a coin flip
    _, default = noise_run
    doc = json.loads(default.with_name(default.name + ".noise.json").read_text())
    assert doc["noise_config"]["review"] == "decision" and doc["noise_config"]["hedged_coded"] == 0.5
    half = {(r["study_uid"], r["observation"]): r for r in read_rows(default)}
    # a U-ones reader codes hedged findings: coded labels (positive or uncertain) are less suspect
    u_ones = tmp_path / "u1.csv"
    assert run("noise", sample_csv, "-o", u_ones, *FAST, "--hedged-coded", "1", "-q") == 0
    doc = json.loads(u_ones.with_name("u1.csv.noise.json").read_text())
    assert doc["noise_config"]["hedged_coded"] == 1.0
    hedged = [r for r in read_rows(u_ones) if r["status"] == "uncertain"]
    assert hedged
    lower = [float(r["suspicion"]) < float(half[r["study_uid"], r["observation"]]["suspicion"]) for r in hedged]
    assert all(lower)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_cli_label_with_confidence(sample_csv, tmp_path, fmt):
    out = tmp_path / f"labels.{fmt}"
    assert run("label", sample_csv, "-o", out, "--with-confidence", "-q") == 0
    table = read_label_table(out)
    assert table.conf is not None and table.conf.shape == (51, 14)
    assert ((table.conf >= 0) & (table.conf <= 1)).all()
    if fmt == "csv":
        header = out.read_text().splitlines()[0].split(",")
        assert "Pleural Effusion__conf" in header and header[1] == "No Finding"
    elif fmt == "jsonl":
        first = json.loads(out.read_text().splitlines()[0])
        assert set(first["conf"]) == set(first["labels"])
    else:
        assert "Pleural Effusion__conf" in pq.read_schema(out).names
    assert out.with_name(out.name + ".noise.json").exists()


def test_cli_label_without_confidence_is_unchanged(sample_csv, tmp_path):
    out = tmp_path / "labels.csv"
    assert run("label", sample_csv, "-o", out, "-q") == 0
    assert "__conf" not in out.read_text().splitlines()[0]
    assert not out.with_name("labels.csv.noise.json").exists()


def test_cli_label_with_confidence_of_an_unfitted_labeler_says_so(sample_csv, tmp_path, capsys):
    assert run("label", sample_csv, "-o", tmp_path / "l.csv", "--with-confidence", "-l", "baseline.tfidf", "-q") == 2
    assert "fit" in capsys.readouterr().err


def test_cli_noise_model_without_labeler_is_a_usage_error(sample_csv, tmp_path, capsys):
    assert run("noise", sample_csv, "-o", tmp_path / "r.csv", "--model", tmp_path, *FAST, "-q") == 2
    assert "--labeler classifier" in capsys.readouterr().err


def test_cli_noise_signal_options(sample_csv, tmp_path, capsys):
    out = tmp_path / "r.csv"
    assert run("noise", sample_csv, "-o", out, "--rule-signals", "rules.impression,keyword", "--model-signals", "",
               *FAST, "-q") == 0
    doc = json.loads(out.with_name("r.csv.noise.json").read_text())
    assert doc["signals"] == ["rules.impression", "keyword"]
    assert doc["observations"][0]["confident_learning"] is None
    assert run("noise", sample_csv, "-o", tmp_path / "s.csv", "--model-signals", "dragon", *FAST, "-q") == 2
    assert run("noise", sample_csv, "-o", tmp_path / "t.csv", "--pooled-signals", "dragon", *FAST, "-q") == 2
    # a pooled-only signal is cross-fitted and recorded, but does not vote
    assert run("noise", sample_csv, "-o", tmp_path / "p.csv", "--model-signals", "", "--pooled-signals",
               "baseline.tfidf", *FAST) == 0
    assert "confidences also average baseline.tfidf" in " ".join(capsys.readouterr().err.split())
    doc = json.loads((tmp_path / "p.csv.noise.json").read_text())
    assert "baseline.tfidf" not in doc["signals"] and doc["noise_config"]["pooled_models"] == ["baseline.tfidf"]
    assert "averaged with the model signals" in doc["definition"]["confidence"]


def test_cli_noise_rows_that_fail_go_to_the_errors_file(sample_csv, tmp_path, monkeypatch):
    from labeler.labelers.rules import RuleLabeler
    from labeler.records import ReportResult

    rows = list(csv.reader(sample_csv.open(newline="", encoding="utf-8")))
    rows.append(["empty-1", "cxr", ""])
    src = tmp_path / "in.csv"
    with src.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    real = RuleLabeler.label_one

    def flaky(self, report):
        if report.study_uid.endswith(".0007"):
            return ReportResult(report.study_uid, self.provenance, rows=report.rows, errors=("labeling_failed: X",))
        return real(self, report)

    monkeypatch.setattr(RuleLabeler, "label_one", flaky)
    out = tmp_path / "r.csv"
    assert run("noise", src, "-o", out, *FAST, "-q") == 3
    errors = [json.loads(line) for line in (tmp_path / "r.csv.errors.jsonl").read_text().splitlines()]
    assert sorted(e["reason"] for e in errors) == ["empty_text", "labeling_failed"]
    assert {r["study_uid"] for r in read_rows(out)} == {r[0] for r in rows[1:52]} - {"1.2.826.0.1.3680043.10.543.0007"}
