"""``labeler train`` and ``labeler label --labeler classifier|ensemble`` through the real entry point."""

from __future__ import annotations

import csv
import json
import math

import pytest

pytest.importorskip("torch")

from cli_helpers import run  # noqa: E402

TINY_ARGS = ["--epochs", "2", "--threads", "1", "--seed", "0", "-q"]
NAMES = ["No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Lesion", "Lung Opacity", "Edema",
         "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other", "Fracture",
         "Support Devices"]


@pytest.fixture(scope="module")
def cli_model(tmp_path_factory, sample_csv):
    out = tmp_path_factory.mktemp("cli") / "models" / "sample-bigru"
    assert run("train", sample_csv, "-o", out, *TINY_ARGS) == 0
    return out


def test_cli_train_writes_model_dir_with_card(cli_model):
    assert {p.name for p in cli_model.iterdir()} == {"model.pt", "vocab.json", "model.json", "MODEL_CARD.md"}
    card = json.loads((cli_model / "model.json").read_text())
    assert card["training_data"]["label_source"] == "rules"
    assert card["training_data"]["n_reports"] == 51
    assert card["hyperparameters"]["epochs"] == 2


def test_cli_train_refuses_existing_model_without_overwrite(cli_model, sample_csv, capsys):
    assert run("train", sample_csv, "-o", cli_model, *TINY_ARGS) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_cli_train_default_directory_is_models_name(sample_csv, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run("train", sample_csv, "--name", "mine", *TINY_ARGS, "--epochs", "1") == 0
    assert (tmp_path / "models" / "mine" / "model.json").is_file()


def test_cli_label_classifier_jsonl_has_probabilities(cli_model, sample_csv, tmp_path):
    out = tmp_path / "labels.jsonl"
    assert run("label", sample_csv, "-o", out, "--labeler", "classifier", "--model", cli_model, "-q") == 0
    objs = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(objs) == 51
    first = objs[0]
    assert set(first["p_pos"]) == set(NAMES)
    for name in NAMES:
        total = sum(first[k][name] for k in ("p_pos", "p_neg", "p_unc", "p_none"))
        assert math.isclose(total, 1.0, abs_tol=1e-4)
    assert first["provenance"]["labeler"] == "classifier"
    assert len(first["provenance"]["model_sha256"]) == 64
    meta = json.loads((tmp_path / "labels.jsonl.meta.json").read_text())
    assert meta["labeler"]["model_sha256"] == first["provenance"]["model_sha256"]


def test_cli_label_classifier_csv_keeps_contract_unless_asked(cli_model, sample_csv, tmp_path):
    plain = tmp_path / "plain.csv"
    assert run("label", sample_csv, "-o", plain, "--labeler", "classifier", "--model", cli_model, "-q") == 0
    with open(plain, newline="") as fh:
        assert next(csv.reader(fh)) == ["study_uid", *NAMES]
    wide = tmp_path / "wide.csv"
    assert run("label", sample_csv, "-o", wide, "--labeler", "classifier", "--model", cli_model, "-q",
               "--probabilities") == 0
    with open(wide, newline="") as fh:
        header = next(csv.reader(fh))
    assert header[:15] == ["study_uid", *NAMES]
    assert header[15:] == [f"{n}__{s}" for s in ("p_pos", "p_neg", "p_unc", "p_none") for n in NAMES]


def test_cli_label_classifier_parquet_probability_columns(cli_model, sample_csv, tmp_path):
    import pyarrow.parquet as pq

    out = tmp_path / "labels.parquet"
    assert run("label", sample_csv, "-o", out, "--labeler", "classifier", "--model", cli_model, "-q") == 0
    table = pq.read_table(out)
    assert "Pleural Effusion__p_pos" in table.column_names and "No Finding__p_none" in table.column_names
    col = table.column("Pleural Effusion__p_pos").to_pylist()
    assert len(col) == 51 and all(0.0 <= v <= 1.0 for v in col)


def test_cli_label_rules_jsonl_has_no_probabilities_by_default(sample_csv, tmp_path):
    out = tmp_path / "rules.jsonl"
    assert run("label", sample_csv, "-o", out, "-q") == 0
    assert "p_pos" not in json.loads(out.read_text().splitlines()[0])


def test_cli_label_ensemble_with_param(cli_model, sample_csv, tmp_path):
    out = tmp_path / "ens.jsonl"
    assert run("label", sample_csv, "-o", out, "--labeler", "ensemble", "--model", cli_model, "-q",
               "-p", "policy=gate", "-p", "threshold=0.8") == 0
    first = json.loads(out.read_text().splitlines()[0])
    assert first["provenance"]["labeler"] == "ensemble" and "p_pos" in first
    meta = json.loads((tmp_path / "ens.jsonl.meta.json").read_text())
    assert meta["labeler"]["params"]["threshold"] == 0.8


def test_cli_label_classifier_without_model_is_usage_error(sample_csv, tmp_path, capsys):
    assert run("label", sample_csv, "-o", tmp_path / "x.csv", "--labeler", "classifier", "-q") == 2
    assert "--model" in capsys.readouterr().err


def test_cli_label_refuses_model_for_other_label_set(cli_model, sample_csv, tmp_path, capsys):
    import shutil

    import yaml

    from labeler.ruleset import default_rules_path

    rules = tmp_path / "rules"
    shutil.copytree(default_rules_path(), rules)
    manifest = yaml.safe_load((rules / "manifest.yaml").read_text())
    manifest["observations"].remove("fracture")
    (rules / "manifest.yaml").write_text(yaml.safe_dump(manifest))
    (rules / "findings" / "fracture.yaml").unlink()
    code = run("label", sample_csv, "-o", tmp_path / "x.csv", "--labeler", "classifier", "--model", cli_model,
               "--rules", rules, "-q")
    assert code == 2
    err = capsys.readouterr().err
    assert "different label set" in err and "Traceback" not in err


@pytest.mark.parametrize("bad", ["threshold", "=1", "no-such-option=1"])
def test_cli_label_bad_param_is_usage_error(cli_model, sample_csv, tmp_path, bad):
    assert run("label", sample_csv, "-o", tmp_path / "x.jsonl", "--labeler", "ensemble", "--model", cli_model,
               "-q", "-p", bad) == 2


def test_cli_train_with_gold_stack(sample_csv, tmp_path):
    """A gold file (ids, text, coded columns) fits the ensemble's stacker; gold reports leave the corpus."""
    import pandas as pd

    df = pd.read_csv(sample_csv, dtype=str)
    gold = df[["study_uid", "text"]].head(20).copy()
    for name in NAMES:
        gold[name] = "0"
    gold["Pleural Effusion"] = ["1" if "effusion" in t.lower() and "no " not in t.lower() else "0" for t in gold["text"]]
    gold_path = tmp_path / "gold.csv"
    gold.to_csv(gold_path, index=False)
    out = tmp_path / "m"
    assert run("train", sample_csv, "-o", out, *TINY_ARGS, "--gold", gold_path, "--gold-kind", "binary",
               "--gold-use", "stack") == 0
    assert (out / "stacker.json").is_file()
    card = json.loads((out / "model.json").read_text())
    assert card["training_data"]["n_reports"] == 31
    ens_out = tmp_path / "e.jsonl"
    assert run("label", sample_csv, "-o", ens_out, "--labeler", "ensemble", "--model", out, "-q") == 0
    meta = json.loads((tmp_path / "e.jsonl.meta.json").read_text())
    assert meta["labeler"]["params"]["policy"] == "stack"


def test_cli_noise_audits_the_classifier_labels(cli_model, sample_csv, tmp_path):
    out = tmp_path / "review.csv"
    assert run("noise", sample_csv, "-o", out, "--labeler", "classifier", "--model", cli_model,
               "--n-bootstrap", "10", "--folds", "3", "-q") == 0
    doc = json.loads(out.with_name("review.csv.noise.json").read_text())
    assert doc["labeler"]["name"] == "classifier" and doc["signals_from"]["name"] == "rules"
    labels = tmp_path / "clf.csv"
    assert run("label", sample_csv, "-o", labels, "--labeler", "classifier", "--model", cli_model, "-q") == 0
    with open(labels, newline="") as fh:
        emitted = {r["study_uid"]: r for r in csv.DictReader(fh)}
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows
    for r in rows:  # the review list shows the classifier's labels, not the rules'
        assert r["label"] == emitted[r["study_uid"]][r["observation"]]


@pytest.mark.parametrize("name", ["classifier", "ensemble"])
def test_cli_label_with_confidence_of_a_model_labeler(cli_model, sample_csv, tmp_path, name):
    out = tmp_path / "labels.csv"
    assert run("label", sample_csv, "-o", out, "--labeler", name, "--model", cli_model, "--with-confidence",
               "-q") == 0
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 51
    conf = [float(r["Pleural Effusion__conf"]) for r in rows]
    assert all(0.0 <= c <= 1.0 for c in conf)
    doc = json.loads(out.with_name("labels.csv.noise.json").read_text())
    assert doc["labeler"]["name"] == name
