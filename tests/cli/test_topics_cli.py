"""``labeler topics fit | show | assign | drift`` through the real entry point (exit codes included)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pyarrow.parquet as pq
import pytest

pytest.importorskip("gensim")

from labeler.cli import main  # noqa: E402
from cli_helpers import read_csv, run  # noqa: E402

FAST = ("--k", "2,3", "--passes", "5", "--iterations", "30", "--min-df", "2")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, sample_csv):
    out = tmp_path_factory.mktemp("topics") / "topics-sample"
    with pytest.raises(SystemExit) as exc:
        main(["topics", "fit", str(sample_csv), "-o", str(out), *FAST, "-q"])
    assert exc.value.code == 0
    return out


def sample_sentences(sample_csv):
    """Report sentences of the sample corpus (to check that no output carries report text)."""
    rows = read_csv(sample_csv)
    col = rows[0].index("text")
    return [s.strip() for r in rows[1:] for s in r[col].split(".") if len(s.strip()) > 25]


def test_cli_topics_fit_writes_model_meta_and_html(model_dir, sample_csv):
    names = sorted(p.name for p in model_dir.iterdir())
    assert names == ["dictionary.txt", "fit.meta.json", "lda.npz", "manifest.json", "phrases.json", "report.html"]
    manifest = json.loads((model_dir / "manifest.json").read_text())
    assert manifest["n_topics"] in (2, 3)
    assert [c["k"] for c in manifest["coherence"]["curve"]] == [2, 3]
    meta = json.loads((model_dir / "fit.meta.json").read_text())
    assert meta["counts"]["reports"] == 51 and meta["counts"]["errors"] == 0
    assert meta["model"]["model_sha256"] == manifest["model_sha256"]
    excluded = meta["excluded_offdomain_study_uids"]
    assert len(excluded) == meta["counts"]["excluded_offdomain"] == manifest["training"]["n_excluded_offdomain"]
    assert set(excluded) <= {r[0] for r in read_csv(sample_csv)[1:]}
    page = (model_dir / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 3 and "Coherence curve" in page
    for sentence in sample_sentences(sample_csv):
        assert sentence not in page


def test_cli_topics_fit_prints_curve_and_topics_to_stderr(sample_csv, tmp_path, capsys):
    assert run("topics", "fit", sample_csv, "-o", tmp_path / "m", *FAST, "--no-html") == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Coherence (c_v)" in captured.err and "Topics (k =" in captured.err
    assert not (tmp_path / "m" / "report.html").exists()


def test_cli_topics_fit_refuses_existing_output_without_overwrite(model_dir, sample_csv):
    assert run("topics", "fit", sample_csv, "-o", model_dir, *FAST, "-q") == 2


@pytest.mark.parametrize("bad", [("--k", "ten"), ("--k", "1"), ("--coherence", "npmi"), ("--max-df", "0"),
                                 ("--sections", ",")])
def test_cli_topics_fit_rejects_bad_options_with_exit_2(sample_csv, tmp_path, bad, capsys):
    assert run("topics", "fit", sample_csv, "-o", tmp_path / "m", *FAST, *bad, "-q") == 2
    assert "Traceback" not in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_cli_topics_fit_missing_input_is_exit_4(tmp_path):
    assert run("topics", "fit", tmp_path / "nope.csv", "-o", tmp_path / "m", "-q") == 4


def test_cli_topics_fit_records_unreadable_rows_and_exits_3(sample_csv, tmp_path):
    rows = read_csv(sample_csv)
    col = rows[0].index("text")
    rows[5][col] = ""
    path = tmp_path / "in.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    assert run("topics", "fit", path, "-o", tmp_path / "m", *FAST, "-q", "--no-html") == 3
    errors = [json.loads(line) for line in (tmp_path / "m" / "fit.errors.jsonl").read_text().splitlines()]
    assert [(e["row"], e["reason"]) for e in errors] == [(5, "empty_text")]


def test_cli_topics_assign_csv_keyed_by_study_uid(model_dir, sample_csv, tmp_path):
    out = tmp_path / "topics.csv"
    assert run("topics", "assign", sample_csv, "-m", model_dir, "-o", out, "-q") == 0
    rows = read_csv(out)
    k = json.loads((model_dir / "manifest.json").read_text())["n_topics"]
    assert rows[0] == ["study_uid", *[f"topic_{j}" for j in range(k)], "dominant_topic", "dominant_weight",
                       "n_tokens", "oov_rate", "offdomain_score", "offdomain"]
    assert [r[0] for r in rows[1:]] == [r[0] for r in read_csv(sample_csv)[1:]]
    theta = np.array([[float(x) for x in r[1:1 + k]] for r in rows[1:]])
    np.testing.assert_allclose(theta.sum(axis=1), 1.0, atol=1e-4)
    assert [int(r[1 + k]) for r in rows[1:]] == theta.argmax(axis=1).tolist()
    assert {r[-1] for r in rows[1:]} <= {"0", "1"}
    meta = json.loads((tmp_path / "topics.csv.meta.json").read_text())
    assert meta["counts"]["assigned"] == 51 and meta["counts"]["flagged"] == sum(r[-1] == "1" for r in rows[1:])
    assert meta["offdomain"]["threshold_source"].startswith("model:")
    assert meta["model"]["model_sha256"] == json.loads((model_dir / "manifest.json").read_text())["model_sha256"]


def test_cli_topics_assign_parquet_matches_csv(model_dir, sample_csv, tmp_path):
    assert run("topics", "assign", sample_csv, "-m", model_dir, "-o", tmp_path / "t.csv", "-q") == 0
    assert run("topics", "assign", sample_csv, "-m", model_dir, "-o", tmp_path / "t.parquet", "-q") == 0
    table = pq.read_table(tmp_path / "t.parquet")
    rows = read_csv(tmp_path / "t.csv")
    assert table.column_names == rows[0]
    assert table.column("study_uid").to_pylist() == [r[0] for r in rows[1:]]
    assert table.column("offdomain").to_pylist() == [r[-1] == "1" for r in rows[1:]]
    assert b"labeler_topics" in table.schema.metadata


def test_cli_topics_assign_threshold_and_offdomain_topic_options(model_dir, sample_csv, tmp_path):
    assert run("topics", "assign", sample_csv, "-m", model_dir, "-o", tmp_path / "a.csv", "--threshold", "-5",
               "-q") == 0
    assert {r[-1] for r in read_csv(tmp_path / "a.csv")[1:]} == {"1"}
    assert run("topics", "assign", sample_csv, "-m", model_dir, "-o", tmp_path / "b.csv", "--offdomain-topic", "0",
               "--threshold", "1000", "-q") == 0
    rows = read_csv(tmp_path / "b.csv")
    k = len([c for c in rows[0] if c.startswith("topic_")])
    assert [r[-1] == "1" for r in rows[1:]] == [r[1 + k] == "0" for r in rows[1:]]
    assert run("topics", "assign", sample_csv, "-m", model_dir, "-o", tmp_path / "c.csv", "--offdomain-topic",
               "99", "-q") == 2


@pytest.mark.parametrize("case", ["no_model", "exists", "bad_ext"])
def test_cli_topics_assign_errors(model_dir, sample_csv, tmp_path, case):
    out = tmp_path / ("t.txt" if case == "bad_ext" else "t.csv")
    if case == "exists":
        out.write_text("x")
    model = tmp_path / "missing" if case == "no_model" else model_dir
    assert run("topics", "assign", sample_csv, "-m", model, "-o", out, "-q") == 2


def test_cli_topics_show_with_labels_writes_lift_json_and_html(model_dir, sample_csv, tmp_path, capsys):
    labels = tmp_path / "labels.csv"
    assert run("label", sample_csv, "-o", labels, "-q") == 0
    assign = tmp_path / "t.parquet"
    assert run("topics", "assign", sample_csv, "-m", model_dir, "-o", assign, "-q") == 0
    capsys.readouterr()
    out, page = tmp_path / "show.json", tmp_path / "show.html"
    assert run("topics", "show", model_dir, "--labels", labels, "--assignments", assign, "--n-bootstrap", "100",
               "-o", out, "--html", page) == 0
    data = json.loads(out.read_text())
    k = data["model"]["n_topics"]
    assert [t["topic"] for t in data["topics"]] == list(range(k))
    assert sum(t["prevalence"] for t in data["topics"]) == pytest.approx(1.0, abs=1e-3)
    lift = data["lift"]
    assert lift["source"]["n_matched"] == 51
    assert {r["label"] for r in lift["rows"]} >= {"Cardiomegaly", "Pleural Effusion", "Support Devices"}
    assert len(lift["rows"]) == k * len({r["label"] for r in lift["rows"]})
    err = capsys.readouterr().err
    assert "Label-topic lift" in err
    assert "lift heatmap" in page.read_text()


def test_cli_topics_show_lift_from_corpus_equals_lift_from_assignments(model_dir, sample_csv, tmp_path):
    labels = tmp_path / "labels.csv"
    assert run("label", sample_csv, "-o", labels, "-q") == 0
    assign = tmp_path / "t.csv"
    assert run("topics", "assign", sample_csv, "-m", model_dir, "-o", assign, "-q") == 0
    for name, src in (("a.json", ("--assignments", assign)), ("c.json", ("--corpus", sample_csv))):
        assert run("topics", "show", model_dir, "--labels", labels, *src, "--label-column", "Cardiomegaly",
                   "--n-bootstrap", "0", "-o", tmp_path / name, "-q") == 0
    a = json.loads((tmp_path / "a.json").read_text())["lift"]["rows"]
    c = json.loads((tmp_path / "c.json").read_text())["lift"]["rows"]
    assert [r["topic"] for r in a] == [r["topic"] for r in c]
    assert [r["lift"] for r in a] == pytest.approx([r["lift"] for r in c], abs=1e-3)


@pytest.mark.parametrize("option", ["--labels", "--assignments"])
def test_cli_topics_show_needs_labels_and_one_topic_source(model_dir, sample_csv, tmp_path, option):
    labels = tmp_path / "labels.csv"
    assert run("label", sample_csv, "-o", labels, "-q") == 0
    # --labels without a topic source, or a topic source without --labels
    assert run("topics", "show", model_dir, option, labels, "-q") == 2


def test_cli_topics_drift_json(model_dir, sample_csv, tmp_path, capsys):
    rows = read_csv(sample_csv)
    half_a, half_b = tmp_path / "a.csv", tmp_path / "b.csv"
    for path, part in ((half_a, rows[1:26]), (half_b, rows[26:])):
        with path.open("w", newline="", encoding="utf-8") as fh:
            csv.writer(fh, lineterminator="\n").writerows([rows[0], *part])
    out = tmp_path / "drift.json"
    assert run("topics", "drift", half_a, half_b, "-m", model_dir, "-o", out, "--n-permutations", "200",
               "--n-bootstrap", "200", "--n-baseline", "50") == 0
    data = json.loads(out.read_text())
    assert data["n_a"] == 25 and data["n_b"] == 26
    assert 0 <= data["js"] <= 1 and 0 < data["permutation_p"] <= 1
    assert data["baseline_a_vs_a"]["n"] == 50
    assert all("name" in t for t in data["topics"])
    assert "Jensen-Shannon divergence" in capsys.readouterr().err


def test_cli_topics_drift_b_options_read_a_differently_shaped_corpus(model_dir, sample_csv, tmp_path):
    rows = read_csv(sample_csv)
    col_id, col_text = rows[0].index("study_uid"), rows[0].index("text")
    b = tmp_path / "b.jsonl"
    b.write_text("".join(json.dumps({"id": r[col_id], "report": r[col_text]}) + "\n" for r in rows[1:]))
    out = tmp_path / "d.json"
    assert run("topics", "drift", sample_csv, b, "-m", model_dir, "-o", out, "--b-id-column", "id",
               "--b-text-column", "report", "--n-permutations", "100", "--n-bootstrap", "100", "-q") == 0
    data = json.loads(out.read_text())
    assert data["js"] == 0.0 and data["moved_topics"] == []


def test_cli_topics_help_lists_commands(capsys):
    assert run("topics", "--help") == 0
    out = capsys.readouterr().out
    for cmd in ("fit", "show", "assign", "drift"):
        assert cmd in out


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_cli_topics_show_reads_parquet_and_jsonl_labels(model_dir, sample_csv, tmp_path, fmt):
    labels = tmp_path / f"labels.{fmt}"
    assert run("label", sample_csv, "-o", labels, "-q") == 0
    out = tmp_path / "show.json"
    assert run("topics", "show", model_dir, "--labels", labels, "--corpus", sample_csv, "--n-bootstrap", "0",
               "-o", out, "-q") == 0
    rows = json.loads(out.read_text())["lift"]["rows"]
    assert len({r["label"] for r in rows}) == 14
    by_label = {r["label"]: r["n_positive"] for r in rows}
    csv_labels = read_csv(_label_csv(sample_csv, tmp_path))
    col = csv_labels[0].index("Cardiomegaly")
    assert by_label["Cardiomegaly"] == sum(r[col] == "1" for r in csv_labels[1:])


def _label_csv(sample_csv, tmp_path):
    path = tmp_path / "labels_ref.csv"
    if not path.exists():
        assert run("label", sample_csv, "-o", path, "-q") == 0
    return path


def test_cli_topics_fit_overwrite_refuses_a_directory_that_is_not_a_model(sample_csv, tmp_path):
    d = tmp_path / "precious"
    d.mkdir()
    (d / "notes.txt").write_text("keep")
    assert run("topics", "fit", sample_csv, "-o", d, *FAST, "--overwrite", "-q") == 2
    assert (d / "notes.txt").read_text() == "keep"
