"""``labeler evaluate`` through its real entry point: side-by-side runs, outputs, exit codes."""

import csv
import json

import pytest

from cli_helpers import read_csv, run
from labeler.labelers.base import REGISTRY, LabelerInfo
from labeler.records import Label, Provenance, ReportResult
from labeler.vocab import AssertionStatus

GOLD = [["study_uid", "Edema", "Pleural Effusion"],
        ["r1", "1", "0"], ["r2", "1", "1"], ["r3", "0", "0"], ["r4", "0", "1"], ["r5", "1", "0"]]
PRED = [["study_uid", "Edema", "Pleural Effusion"],
        ["r1", "1", "0"], ["r2", "-1", ""], ["r3", "0", "-1"], ["r4", "", "1"], ["r5", "0", ""]]


def test_cli_evaluate_two_labels_files_side_by_side(write_csv, tmp_path, capsys):
    gold = write_csv(GOLD, "gold.csv")
    a = write_csv(GOLD, "a.csv")
    b = write_csv(PRED, "b.csv")
    out = tmp_path / "eval"
    assert run("evaluate", gold, "--gold-format", "binary", "--pred", f"perfect={a}", "--pred", b, "-o", out,
               "--n-bootstrap", "50") == 0
    data = json.loads((out / "evaluation.json").read_text())
    assert [lab["name"] for lab in data["labelers"]] == ["perfect", "b.csv"]
    assert data["labelers"][1]["headline"]["macro"]["value"] == 0.65
    assert data["comparisons"][0]["metrics"]["coded.f1"]["averages"]["macro"]["diff"] == -0.35
    assert sorted(p.name for p in out.iterdir()) == ["errors.csv", "evaluation.html", "evaluation.json",
                                                     "evaluation.md"]
    assert len(read_csv(out / "errors.csv")) == 1 + 3
    err = " ".join(capsys.readouterr().err.split())
    assert "b.csv − perfect" in err and "(binary gold) — coded F1 [95% CI]" in err


def test_cli_evaluate_rules_against_perturbed_predictions(sample_csv, tmp_path, capsys):
    labels = tmp_path / "labels.csv"
    assert run("label", sample_csv, "-o", labels, "-q") == 0
    with open(sample_csv, newline="", encoding="utf-8") as fh:
        texts = {r["study_uid"]: r["text"] for r in csv.DictReader(fh)}
    rows = read_csv(labels)
    header, body = rows[0], rows[1:]
    # gold = the rules' own labels, with the text to run on
    gold = tmp_path / "gold.csv"
    with gold.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow([*header, "text"])
        w.writerows([*r, texts[r[0]]] for r in body)
    # perturbed: three Pleural Effusion cells changed
    col = header.index("Pleural Effusion")
    flips = {0: "1", 2: "", 5: "-1"}
    perturbed = tmp_path / "perturbed.csv"
    changed = 0
    with perturbed.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for i, r in enumerate(body):
            r = r[:]
            if i in flips and r[col] != flips[i]:
                r[col] = flips[i]
                changed += 1
            w.writerow(r)
    assert changed == 3
    out = tmp_path / "eval"
    assert run("evaluate", gold, "-t", "text", "--labeler", "rules", "--pred", f"perturbed={perturbed}", "-o", out,
               "--n-bootstrap", "100", "-q") == 0
    data = json.loads((out / "evaluation.json").read_text())
    rules, pert = data["labelers"]
    assert rules["name"] == "rules" and rules["provenance"]["labeler"]["ruleset"]["name"] == "chexpert14"
    assert rules["tasks"]["mention"]["averages"]["macro"]["f1"]["value"] == 1.0
    assert sum(sum(v.values()) for v in rules["errors"].values()) == 0
    assert sum(pert["errors"]["Pleural Effusion"].values()) == 3
    assert sum(sum(v.values()) for o, v in pert["errors"].items() if o != "Pleural Effusion") == 0
    cmp = data["comparisons"][0]
    assert (cmp["reference"], cmp["other"]) == ("rules", "perturbed")
    assert cmp["mcnemar"]["Pleural Effusion"]["reference_right_other_wrong"] == 3
    assert cmp["metrics"]["weighted_f1"]["per_observation"]["Cardiomegaly"]["diff"] == 0.0
    errors = read_csv(out / "errors.csv")
    assert {r[0] for r in errors[1:]} == {"perturbed"}
    assert capsys.readouterr().err.count("Traceback") == 0


@pytest.mark.parametrize(
    ("rows", "args", "code", "message"),
    [
        ([["study_uid", "Edema"], ["r1", "maybe"]], (), 4, "unknown values (expected 1, 0, -1 or empty) in 'Edema'"),
        ([["id", "Edema"], ["r1", "1"]], (), 4, "no id column 'study_uid'"),
        ([["study_uid", "Edema"], ["r1", "1"], ["r1", "0"]], (), 4, "1 duplicated id(s)"),
        ([["study_uid", "Oedema"], ["r1", "1"]], (), 4, "map names with --rename"),
        ([["study_uid", "Edema"], ["r1", "1"]], ("--missing", "error"), 4, "1 of 1 gold id(s) not predicted"),
        ([["study_uid", "Edema"], ["r1", "1"]], ("--metric", "f2"), 2, "unknown metric 'f2'"),
        ([["study_uid", "Edema"], ["r1", "1"]], ("--gold-format", "xml"), 2, "unknown gold format 'xml'"),
        ([["study_uid", "Edema"], ["r1", "1"]], ("--rename", "Edema"), 2, "--rename takes GOLD_COLUMN=OBSERVATION"),
    ],
)
def test_cli_evaluate_bad_input_exit_codes_without_traceback(write_csv, capsys, rows, args, code, message):
    gold = write_csv(rows, "gold.csv")
    pred = write_csv([["study_uid", "Edema"], ["x9", "1"]], "pred.csv")
    assert run("evaluate", gold, "--pred", pred, "--n-bootstrap", "0", "-q", *args) == code
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_cli_evaluate_warns_with_counts(write_csv, capsys):
    gold = write_csv(GOLD, "gold.csv")
    pred = write_csv(PRED[:-1] + [["x1", "1", "0"]], "pred.csv")
    assert run("evaluate", gold, "--gold-format", "binary", "--pred", pred, "--n-bootstrap", "0") == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "warning: pred.csv: 1 predicted id(s) not in the gold, not scored" in err
    assert "warning: pred.csv: 1 of 5 gold id(s) not predicted (e.g. ['r5']); scored as blank" in err


def test_cli_evaluate_refuses_existing_output(write_csv, tmp_path, capsys):
    gold, pred, out = write_csv(GOLD, "gold.csv"), write_csv(PRED, "pred.csv"), tmp_path / "eval"
    assert run("evaluate", gold, "--gold-format", "binary", "--pred", pred, "-o", out, "-q", "--n-bootstrap", "0") == 0
    assert run("evaluate", gold, "--gold-format", "binary", "--pred", pred, "-o", out, "-q", "--n-bootstrap", "0") == 2
    assert "--overwrite" in capsys.readouterr().err


def test_cli_evaluate_needs_something_to_score(write_csv, capsys):
    assert run("evaluate", write_csv(GOLD, "gold.csv")) == 2
    assert "give --pred FILE and/or --labeler NAME" in capsys.readouterr().err


def test_cli_evaluate_unknown_labeler(write_csv, capsys):
    assert run("evaluate", write_csv(GOLD, "gold.csv"), "--labeler", "nope") == 2
    assert "unknown labeler 'nope'" in capsys.readouterr().err


class FakeModelLabeler:
    """A registered labeler that takes --model (as the classifier will): says 'present' for everything."""

    name = "fake"
    version = "0"

    def __init__(self, model=None):
        self.model = model

    @property
    def observations(self):
        return ("edema",)

    def info(self):
        return LabelerInfo(self.name, self.version, self.observations, {"model": str(self.model)})

    def label(self, reports):
        prov = Provenance("0", "fake", "0", "none", "0", "", "")
        for r in reports:
            yield ReportResult(r.study_uid, prov, labels=(Label("edema", AssertionStatus.PRESENT),))


def test_cli_evaluate_labeler_options_reach_registered_labelers(write_csv, tmp_path, monkeypatch):
    monkeypatch.setitem(REGISTRY, "fake", FakeModelLabeler)
    gold = write_csv([["study_uid", "text", "Edema"], ["r1", "Edema.", "1"], ["r2", "Clear.", "0"]], "gold.csv")
    out = tmp_path / "eval"
    assert run("evaluate", gold, "-t", "text", "--gold-format", "binary", "--labeler", "fake", "--model",
               tmp_path / "m", "-o", out, "-q", "--n-bootstrap", "0") == 0
    data = json.loads((out / "evaluation.json").read_text())
    assert data["labelers"][0]["provenance"]["labeler"]["params"] == {"model": str(tmp_path / "m")}
    assert data["labelers"][0]["tasks"]["coded"]["per_observation"]["Edema"]["fp"] == 1


def test_cli_evaluate_option_no_labeler_takes(write_csv, tmp_path, capsys):
    gold = write_csv([["study_uid", "text", "Edema"], ["r1", "Edema.", "1"]], "gold.csv")
    assert run("evaluate", gold, "-t", "text", "--labeler", "rules", "--model", tmp_path) == 2
    assert "--model not taken by labeler(s) rules" in capsys.readouterr().err


def test_cli_evaluate_help_lists_options(capsys):
    assert run("evaluate", "--help") == 0
    out = " ".join(capsys.readouterr().out.split())
    for opt in ("--pred", "--labeler", "--gold-format", "--rename", "--mapping", "--tier", "--n-bootstrap", "--seed",
                "--with-text", "--missing", "--metric"):
        assert opt in out


def test_cli_evaluate_engine_outputs_in_every_format_score_alike(sample_csv, tmp_path):
    for ext in ("csv", "jsonl", "parquet"):
        assert run("label", sample_csv, "-o", tmp_path / f"labels.{ext}", "-q") == 0
    rows = read_csv(tmp_path / "labels.csv")
    col = rows[0].index("Pleural Effusion")
    i = next(k for k, r in enumerate(rows) if k and r[col] == "1")
    rows[i][col] = "0"  # the gold disagrees with one positive effusion
    gold = tmp_path / "gold.csv"
    with gold.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    out = tmp_path / "eval"
    assert run("evaluate", gold, *(x for ext in ("csv", "jsonl", "parquet") for x in ("--pred", tmp_path / f"labels.{ext}")),
               "-o", out, "-q", "--n-bootstrap", "0") == 0
    data = json.loads((out / "evaluation.json").read_text())
    assert [lab["headline"]["macro"]["value"] for lab in data["labelers"]] == [data["labelers"][0]["headline"]["macro"]["value"]] * 3
    errors = {r["labeler"]: r for r in csv.DictReader((out / "errors.csv").open(encoding="utf-8"))}
    assert set(errors) == {"labels.csv", "labels.jsonl", "labels.parquet"}
    assert errors["labels.csv"]["rule_id"] == ""  # CSV labels carry no evidence
    for name in ("labels.jsonl", "labels.parquet"):
        e = errors[name]
        assert (e["study_uid"], e["error"], e["gold"], e["predicted"]) == (rows[i][0], "wrong_status", "0", "1")
        assert e["rule_id"].startswith("pleural_effusion.mention.") and int(e["sentence_end"]) > int(e["sentence_start"])
    assert data["labelers"][1]["provenance"]["ruleset"] == "chexpert14"  # JSONL rows carry provenance
    assert data["labelers"][0]["provenance"]["labeler"]["ruleset"]["name"] == "chexpert14"  # CSV: .meta.json
