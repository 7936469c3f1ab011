"""``labeler label`` archive options: --resume, --workers, --engine/--scheduler, partitioned output."""

import json

import pyarrow.parquet as pq
import pytest

from cli_helpers import run


def test_cli_label_resume_continues_and_refuses_other_options(sample_csv, tmp_path, capsys):
    out = tmp_path / "labels.csv"
    assert run("label", sample_csv, "-o", out, "-q", "--chunk-size", "8") == 0
    reference = out.read_bytes()
    out.unlink()
    (tmp_path / "labels.csv.meta.json").unlink()
    parts = tmp_path / "labels.csv.parts"
    assert run("label", sample_csv, "-o", out, "-q", "--chunk-size", "8", "--resume") == 0
    assert out.read_bytes() == reference and not parts.exists()
    assert run("label", sample_csv, "-o", out, "--chunk-size", "8", "--resume") == 0
    assert "nothing to resume" in capsys.readouterr().err
    assert run("label", sample_csv, "-o", out, "-q", "--chunk-size", "16", "--resume") == 2
    err = capsys.readouterr().err
    assert "output exists" in err and "Traceback" not in err


def test_cli_label_leftover_parts_say_how_to_resume(sample_csv, tmp_path, capsys):
    out = tmp_path / "labels.csv"
    parts = tmp_path / "labels.csv.parts"
    parts.mkdir()
    (parts / "part-000000.csv").write_text("study_uid\n")
    assert run("label", sample_csv, "-o", out, "-q") == 2
    assert "--resume" in capsys.readouterr().err
    assert run("label", sample_csv, "-o", out, "-q", "--resume", "--overwrite") == 2
    assert run("label", sample_csv, "-o", out, "-q", "--resume") == 0  # nothing committed yet: a fresh run
    assert out.read_text().count("\n") == 52


def test_cli_label_a_wrong_column_leaves_nothing_behind(write_csv, tmp_path, capsys):
    path = write_csv([["uid", "text"], ["1", "No effusion."]])
    out = tmp_path / "o.csv"
    assert run("label", path, "-o", out, "-q") == 4
    assert "--id-column" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]
    assert run("label", path, "-o", out, "-q", "--id-column", "uid") == 0


def test_cli_label_partitioned_parquet_output(sample_csv, tmp_path):
    folder = tmp_path / "labels"
    assert run("label", sample_csv, "-o", f"{folder}/", "-f", "parquet", "--chunk-size", "20", "-q") == 0
    assert sorted(p.name for p in folder.iterdir()) == ["_manifest.jsonl", "part-000000.parquet",
                                                      "part-000001.parquet", "part-000002.parquet"]
    assert pq.read_table(folder).num_rows == 51
    meta = json.loads((tmp_path / "labels.meta.json").read_text())
    assert meta["output"]["partitioned"] is True


@pytest.mark.parametrize("args,message", [
    (["--scheduler", "tcp://127.0.0.1:8786"], "--engine dask"),
    (["--engine", "spark"], "unknown engine"),
    (["--workers", "-1"], "workers"),
    (["--encoding", "utf-16"], "ASCII-compatible"),
])
def test_cli_label_bad_archive_options_exit_2(sample_csv, tmp_path, capsys, args, message):
    assert run("label", sample_csv, "-o", tmp_path / "o.csv", "-q", *args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_cli_label_help_lists_archive_options(capsys):
    assert run("label", "--help") == 0
    out = capsys.readouterr().out
    for option in ("--workers", "--resume", "--engine", "--scheduler", "--chunk-size", "--encoding"):
        assert option in out
