"""The image commands through the real entry point: index-dicom -> link -> split -> export-manifest."""

import json

import pandas as pd
import pytest

pytest.importorskip("pydicom")

from cli_helpers import run  # noqa: E402


def test_cli_image_flow_end_to_end(dicom_tree, labels_for_tree, tmp_path, capsys):
    labels, _ = labels_for_tree
    index = tmp_path / "index.parquet"
    assert run("index-dicom", dicom_tree["root"], "-o", index, "-j", "2") == 3  # 2 files in the errors file
    err = capsys.readouterr().err
    assert "indexed: 8" in err and "errors: 2" in err and "not_dicom: 1" in err and "truncated: 1" in err

    manifest = tmp_path / "manifest.parquet"
    assert run("link", labels, index, "-o", manifest, "--view", "frontal,lateral") == 0
    err = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert "reports: 6 · linked: 4 · without images: 2 (no_images: 1, no_images_after_filter: 1)" in err
    assert "images: 8 · linked: 6 · not linked: 2 (excluded_view: 1, no_report: 1)" in err

    split = tmp_path / "split.parquet"
    assert run("split", manifest, "-o", split, "--ratios", "34:33:33", "--seed", "3") == 0
    err = capsys.readouterr().err
    assert "patients in several splits: 0" in err

    out = tmp_path / "export"
    assert run("export-manifest", split, "-o", out, "--uncertainty", "ones", "--uncertainty-for", "Edema=zeros") == 0
    meta = json.loads((out / "export.meta.json").read_text())
    assert meta["policy"]["per_observation"] == {"Edema": "zeros"}
    total = sum(len(pd.read_csv(out / f"{s}.csv")) for s in meta["counts"]["rows_per_split"])
    assert total == 6
    frames = [pd.read_parquet(out / f"{s}.parquet") for s in meta["counts"]["rows_per_split"]]
    per_patient = pd.concat(frames).groupby("patient_id")["split"].nunique()
    assert (per_patient == 1).all()


def test_cli_index_dicom_resume_and_overwrite_messages(dicom_tree, tmp_path, capsys):
    index = tmp_path / "index.parquet"
    assert run("index-dicom", dicom_tree["root"], "-o", index, "-q") == 3
    assert run("index-dicom", dicom_tree["root"], "-o", index, "-q") == 2
    assert "--overwrite" in capsys.readouterr().err


def test_cli_link_refuses_report_text(dicom_tree, write_csv, tmp_path, capsys):
    index = tmp_path / "index.parquet"
    run("index-dicom", dicom_tree["root"], "-o", index, "-q")
    labels = write_csv([["study_uid", "Edema", "report"], ["1.2.3", "1", "x"]], name="labels.csv")
    assert run("link", labels, index, "-o", tmp_path / "m.parquet") == 4
    err = capsys.readouterr().err
    assert "'report'" in err and "Traceback" not in err


def test_cli_link_missing_labels_file(tmp_path, capsys):
    assert run("link", tmp_path / "nope.csv", tmp_path / "index.parquet", "-o", tmp_path / "m.parquet") == 4
    assert "labels file not found" in capsys.readouterr().err


def test_cli_export_bad_policy_is_usage_error(dicom_tree, labels_for_tree, tmp_path, capsys):
    labels, _ = labels_for_tree
    index = tmp_path / "index.parquet"
    run("index-dicom", dicom_tree["root"], "-o", index, "-q")
    run("link", labels, index, "-o", tmp_path / "m.parquet", "-q")
    assert run("export-manifest", tmp_path / "m.parquet", "-o", tmp_path / "e", "--uncertainty", "maybe") == 2
    assert "unknown uncertainty policy 'maybe'" in capsys.readouterr().err
    assert run("export-manifest", tmp_path / "m.parquet", "-o", tmp_path / "e", "--uncertainty-for", "Edema") == 2


def test_cli_split_bad_ratios(dicom_tree, labels_for_tree, tmp_path, capsys):
    labels, _ = labels_for_tree
    index = tmp_path / "index.parquet"
    run("index-dicom", dicom_tree["root"], "-o", index, "-q")
    run("link", labels, index, "-o", tmp_path / "m.parquet", "-q")
    assert run("split", tmp_path / "m.parquet", "-o", tmp_path / "s.parquet", "--ratios", "80:20") == 2
    assert "three ratios" in capsys.readouterr().err


def test_cli_help_lists_image_commands(capsys):
    assert run("--help") == 0
    out = capsys.readouterr().out
    for cmd in ("index-dicom", "link", "split", "export-manifest"):
        assert cmd in out
