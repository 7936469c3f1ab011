import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labeler.errors import ConfigError, DataError
from labeler.ingest import IngestOptions, read_reports
from labeler.records import Report, RowError


def split(items):
    reports = [i for i in items if isinstance(i, Report)]
    errors = [i for i in items if isinstance(i, RowError)]
    return reports, errors


def test_ingest_csv_multiple_text_columns_get_headers(write_csv):
    path = write_csv([["study_uid", "findings", "impression"], ["1.2.3", "Clear lungs.", "Normal."]])
    (rep,), errs = split(list(read_reports(path, IngestOptions(text_columns=("findings", "impression")))))
    assert errs == []
    assert rep.study_uid == "1.2.3"
    assert rep.text == "FINDINGS: Clear lungs.\n\nIMPRESSION: Normal."
    assert rep.rows == (1,)


def test_ingest_id_is_verbatim(write_csv):
    path = write_csv([["study_uid", "text"], ["007", "x"], [" 1.2.840 ", "y"]])
    reports, _ = split(list(read_reports(path)))
    assert [r.study_uid for r in reports] == ["007", " 1.2.840 "]


def test_ingest_tsv(write_csv):
    path = write_csv([["study_uid", "text"], ["a", "No effusion."]], name="in.tsv", delimiter="\t")
    reports, _ = split(list(read_reports(path)))
    assert [r.text for r in reports] == ["No effusion."]


@pytest.mark.parametrize(
    "rows,reason",
    [
        ([["a", ""]], "empty_text"),
        ([["a", "   "]], "empty_text"),
        ([["", "text"]], "missing_id"),
        ([["a", "x" * 50]], "too_long"),
        ([["a", "bad\x00byte"]], "nul_byte"),
        ([["a", "one", "extra"]], "malformed_row"),
    ],
)
def test_ingest_bad_rows_go_to_errors(write_csv, rows, reason):
    path = write_csv([["study_uid", "text"], ["ok", "fine"], *rows])
    reports, errors = split(list(read_reports(path, IngestOptions(max_chars=40))))
    assert [r.study_uid for r in reports] == ["ok"]
    assert [(e.row, e.reason) for e in errors] == [(2, reason)]


def test_ingest_undecodable_bytes(tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes(b"study_uid,text\na,ok\nb,caf\xe9 latin-1\n")
    reports, errors = split(list(read_reports(path)))
    assert [r.study_uid for r in reports] == ["a"]
    assert [(e.row, e.reason, e.study_uid) for e in errors] == [(2, "undecodable", "b")]


@pytest.mark.parametrize(
    "policy,expected_ids,expected_errors",
    [
        ("error", ["a", "b"], [(3, "duplicate_id", True)]),
        ("keep-first", ["a", "b"], [(3, "duplicate_id", False)]),
        ("merge", ["b", "a"], []),
    ],
)
def test_ingest_duplicate_policies(write_csv, policy, expected_ids, expected_errors):
    path = write_csv([["study_uid", "text"], ["a", "first"], ["b", "other"], ["a", "second"]])
    reports, errors = split(list(read_reports(path, IngestOptions(duplicates=policy))))
    assert [r.study_uid for r in reports] == expected_ids
    assert [(e.row, e.reason, e.fatal) for e in errors] == expected_errors
    if policy == "merge":
        merged = reports[1]
        assert merged.text == "first\n\nsecond" and merged.rows == (1, 3)


def test_ingest_jsonl_bad_lines(tmp_path):
    path = tmp_path / "in.jsonl"
    lines = [json.dumps({"study_uid": "a", "text": "ok"}), "{not json", "[1, 2]",
             json.dumps({"text": "no id"}), json.dumps({"study_uid": 42, "text": "numeric id"})]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    reports, errors = split(list(read_reports(path)))
    assert [r.study_uid for r in reports] == ["a", "42"]
    assert [(e.row, e.reason) for e in errors] == [(2, "malformed_row"), (3, "malformed_row"), (4, "missing_id")]


def test_ingest_parquet(tmp_path):
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"uid": [1, 2], "findings": ["Clear.", None], "impression": ["Normal.", "Effusion."]}), path)
    opts = IngestOptions(id_column="uid", text_columns=("findings", "impression"))
    reports, errors = split(list(read_reports(path, opts)))
    assert [(r.study_uid, r.text) for r in reports] == [
        ("1", "FINDINGS: Clear.\n\nIMPRESSION: Normal."),
        ("2", "IMPRESSION: Effusion."),
    ]
    assert errors == []


def test_ingest_txt_folder(tmp_path):
    (tmp_path / "b.txt").write_text("IMPRESSION: Normal.", encoding="utf-8")
    (tmp_path / "a.txt").write_text("No effusion.", encoding="utf-8")
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    (tmp_path / "notes.md").write_text("ignored", encoding="utf-8")
    reports, errors = split(list(read_reports(tmp_path)))
    assert [r.study_uid for r in reports] == ["a", "b"]
    assert [(e.reason, e.study_uid) for e in errors] == [("empty_text", "empty")]


def test_ingest_missing_column_is_a_clear_data_error(write_csv):
    path = write_csv([["id", "report"], ["a", "b"]])
    with pytest.raises(DataError, match="'study_uid'.*not found"):
        list(read_reports(path))


def test_ingest_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        list(read_reports(tmp_path / "nope.csv"))


def test_ingest_unknown_extension(tmp_path):
    path = tmp_path / "in.xlsx"
    path.write_text("x")
    with pytest.raises(ConfigError, match="--input-format"):
        list(read_reports(path))


def test_ingest_empty_file_is_a_non_fatal_file_note(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("")
    assert [(e.row, e.reason, e.fatal, e.source) for e in read_reports(path)] == [(0, "empty_file", False, "in.csv")]


def test_ingest_header_only_file_yields_nothing(write_csv):
    assert list(read_reports(write_csv([["study_uid", "text"]]))) == []
