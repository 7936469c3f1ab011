"""The command line, run in-process through its real entry point (exit codes included)."""

import json

import pyarrow.parquet as pq

from cli_helpers import read_csv, run

CONTRACT = ["study_uid", "No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Lesion", "Lung Opacity",
            "Edema", "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other",
            "Fracture", "Support Devices"]


def test_cli_label_sample_corpus_csv_contract(sample_csv, tmp_path, capsys):
    out = tmp_path / "labels.csv"
    assert run("label", sample_csv, "-o", out) == 0
    rows = read_csv(out)
    assert rows[0] == CONTRACT
    inputs = read_csv(sample_csv)[1:]
    assert [r[0] for r in rows[1:]] == [r[0] for r in inputs]
    assert {v for r in rows[1:] for v in r[1:]} <= {"1", "0", "-1", ""}
    by_id = {r[0]: dict(zip(CONTRACT, r)) for r in rows[1:]}
    first = by_id["1.2.826.0.1.3680043.10.543.0001"]
    assert (first["No Finding"], first["Pneumothorax"], first["Pleural Effusion"]) == ("1", "0", "0")
    knee = by_id["1.2.826.0.1.3680043.10.543.0041"]
    assert knee["Pleural Effusion"] == ""  # a knee joint effusion is not a pleural effusion
    err = capsys.readouterr().err
    assert "Labels (51 reports)" in err and "Pleural Effusion" in err
    meta = json.loads((tmp_path / "labels.csv.meta.json").read_text())
    assert meta["counts"]["rows"] == 51 and meta["counts"]["labeled"] == 51
    assert meta["labeler"]["ruleset"]["name"] == "chexpert14"
    assert len(meta["labeler"]["ruleset"]["sha256"]) == 64
    assert not (tmp_path / "labels.csv.errors.jsonl").exists()


def test_cli_label_jsonl_has_evidence_and_provenance(sample_csv, tmp_path):
    out = tmp_path / "labels.jsonl"
    assert run("label", sample_csv, "-o", out, "-q") == 0
    objs = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(objs) == 51
    third = objs[2]
    assert third["labels"]["Pleural Effusion"] == 1
    ev = third["evidence"]["Pleural Effusion"][0]
    assert set(ev) == {"status", "rule_id", "section", "sentence", "mention", "modifier"}
    assert ev["rule_id"].startswith("pleural_effusion.mention.")
    assert third["provenance"]["ruleset"] == "chexpert14"
    text = json.dumps(objs)
    assert "effusion with adjacent" not in text.lower()  # offsets only, no report text


def test_cli_label_parquet(sample_csv, tmp_path):
    out = tmp_path / "labels.parquet"
    assert run("label", sample_csv, "-o", out, "-q") == 0
    table = pq.read_table(out)
    assert table.column_names[: len(CONTRACT)] == CONTRACT
    assert table.num_rows == 51
    assert b"labeler" in table.schema.metadata


def test_cli_label_refuses_to_overwrite(sample_csv, tmp_path, capsys):
    out = tmp_path / "labels.csv"
    assert run("label", sample_csv, "-o", out, "-q") == 0
    assert run("label", sample_csv, "-o", out, "-q") == 2
    assert "--overwrite" in capsys.readouterr().err
    assert run("label", sample_csv, "-o", out, "-q", "--overwrite") == 0


def test_cli_label_bad_rows_partial_exit_and_errors_file(write_csv, tmp_path, capsys):
    path = write_csv([["study_uid", "text"], ["a", "No effusion."], ["", "orphan"], ["c", ""], ["a", "dup"],
                      ["e", "Small effusion."]])
    out = tmp_path / "out.csv"
    assert run("label", path, "-o", out, "-q") == 3
    assert [r[0] for r in read_csv(out)[1:]] == ["a", "e"]
    errors = [json.loads(line) for line in (tmp_path / "out.csv.errors.jsonl").read_text().splitlines()]
    assert [(e["row"], e["reason"]) for e in errors] == [(2, "missing_id"), (3, "empty_text"), (4, "duplicate_id")]
    assert "orphan" not in (tmp_path / "out.csv.errors.jsonl").read_text()
    assert "Traceback" not in capsys.readouterr().err


def test_cli_label_missing_column_is_data_error(write_csv, tmp_path, capsys):
    path = write_csv([["id", "report"], ["a", "b"]])
    assert run("label", path, "-o", tmp_path / "o.csv") == 4
    err = capsys.readouterr().err
    assert "--id-column" in err and "Traceback" not in err


def test_cli_usage_errors(sample_csv, tmp_path, capsys):
    assert run("label", sample_csv) == 2  # no -o
    assert run("label", sample_csv, "-o", tmp_path / "x.csv", "--duplicates", "sometimes") == 2
    assert run("label", sample_csv, "-o", tmp_path / "x.xlsx") == 2
    assert run("label", tmp_path / "missing.csv", "-o", tmp_path / "y.csv") == 4
    assert "Traceback" not in capsys.readouterr().err


def test_cli_label_custom_text_columns_and_id(write_csv, tmp_path):
    path = write_csv([["uid", "findings", "impression"], ["9", "Small left pleural effusion.", "No pneumothorax."]])
    out = tmp_path / "o.csv"
    assert run("label", path, "-o", out, "--id-column", "uid", "-t", "findings", "-t", "impression", "-q") == 0
    row = dict(zip(CONTRACT, read_csv(out)[1]))
    assert (row["study_uid"], row["Pleural Effusion"], row["Pneumothorax"]) == ("9", "1", "0")


def test_cli_sections_option(write_csv, tmp_path):
    path = write_csv([["study_uid", "text"], ["1", "HISTORY: pneumonia.\nFINDINGS: Clear lungs."]])
    out = tmp_path / "o.csv"
    assert run("label", path, "-o", out, "-q", "--sections", "history,findings") == 0
    assert dict(zip(CONTRACT, read_csv(out)[1]))["Pneumonia"] == "1"
    assert run("label", path, "-o", out, "-q", "--overwrite", "--sections", "nonsense") == 2


def test_cli_explain_shows_rule_and_modifier(capsys):
    assert run("explain", "--text", "IMPRESSION: No pneumothorax.") == 0
    out = capsys.readouterr().out
    assert "Pneumothorax: absent -> 0" in out
    assert "{No} [pneumothorax]" in out and "neg.fwd.001" in out


def test_cli_rules_commands(capsys):
    assert run("rules", "test") == 0
    assert run("rules", "lint") == 0
    assert run("rules", "show") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["name"] == "chexpert14"


def test_cli_info(capsys):
    assert run("info") == 0
    info = json.loads(capsys.readouterr().out)
    assert "rules" in info["labelers"]
