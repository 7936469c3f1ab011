"""Bad input at archive scale: every row ends as a report or as an error with its row; the read goes on."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labeler.errors import ConfigError, DataError
from labeler.ingest import IngestOptions, _DigestSet, _digest, detect_format, input_files, read_reports
from labeler.records import Report, RowError


def outcome(items):
    """[(row, study_uid, "ok" | reason)] in stream order."""
    return [(i.rows[0], i.study_uid, "ok") if isinstance(i, Report) else (i.row, i.study_uid, i.reason) for i in items]


def write_bytes(tmp_path, data: bytes, name="in.csv"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_ingest_unbalanced_quote_mid_file_costs_only_its_row(tmp_path):
    data = b'study_uid,text\na,"ok"\nb,"never closed\nc,fine\nd,"also fine"\n'
    items = list(read_reports(write_bytes(tmp_path, data)))
    assert outcome(items) == [(1, "a", "ok"), (2, None, "malformed_row"), (3, "c", "ok"), (4, "d", "ok")]
    assert "line 3" in items[1].detail
    assert [i.text for i in items if isinstance(i, Report)] == ["ok", "fine", "also fine"]


def test_ingest_runaway_record_resynchronises_after_the_record_limit(tmp_path):
    filler = b"".join(b"%d,ok %d\n" % (i, i) for i in range(200))
    data = b'study_uid,text\nx,"stray quote\n' + filler + b'y,"a quote "" and close"\n' + filler.replace(b",", b"-", 1)
    opts = IngestOptions(max_chars=10, max_record_bytes=64)
    items = list(read_reports(write_bytes(tmp_path, data), opts))
    rows = outcome(items)
    assert rows[0] == (1, None, "malformed_row")
    assert "longer than 80 bytes" in items[0].detail  # record_limit = max(64, 8 * max_chars)
    assert rows[1:201] == [(i + 2, str(i), "ok") for i in range(200)]
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))  # every row once, in order


def test_ingest_eof_inside_a_quoted_field(tmp_path):
    items = list(read_reports(write_bytes(tmp_path, b'study_uid,text\na,ok\nb,"open\nc,x\n')))
    assert outcome(items) == [(1, "a", "ok"), (2, None, "malformed_row"), (3, "c", "ok")]
    assert "never closes" in items[1].detail


def test_ingest_one_line_without_newlines_longer_than_the_limit(tmp_path):
    data = b"study_uid,text\n" + b"z," + b"x" * 5000 + b"\nok,fine\n"
    items = list(read_reports(write_bytes(tmp_path, data), IngestOptions(max_chars=10, max_record_bytes=100)))
    assert outcome(items) == [(1, None, "malformed_row"), (2, "ok", "ok")]


def test_ingest_one_megabyte_report_is_too_long_by_default_and_keeps_its_id(tmp_path):
    big = "Small effusion. " * 70_000  # 1.1 MB
    data = f'study_uid,text\nbig,"{big}"\nnext,No effusion.\n'.encode()
    items = list(read_reports(write_bytes(tmp_path, data)))
    assert outcome(items) == [(1, "big", "too_long"), (2, "next", "ok")]
    assert "effusion" not in json.dumps(items[0].to_dict()).lower()


def test_ingest_latin1_row_in_a_utf8_file(tmp_path):
    data = "study_uid,text\na,Épanchement pleural.\n".encode() + b"b,\xc9panchement\nc,ok\n"
    items = list(read_reports(write_bytes(tmp_path, data)))
    assert outcome(items) == [(1, "a", "ok"), (2, "b", "undecodable"), (3, "c", "ok")]
    assert items[0].text == "Épanchement pleural."


def test_ingest_undecodable_id_is_escaped_in_the_error(tmp_path):
    items = list(read_reports(write_bytes(tmp_path, b"study_uid,text\nid\xff,text\n")))
    assert [(e.reason, e.study_uid) for e in items] == [("undecodable", "id\\xff")]
    json.dumps(items[0].to_dict(), ensure_ascii=False).encode("utf-8")  # writable as UTF-8


@pytest.mark.parametrize("data,expected", [
    (b"study_uid,text\na,bad\x00byte\nb,ok\n", [(1, "a", "nul_byte"), (2, "b", "ok")]),
    (b"study_uid,text\na\x00b,text\nb,ok\n", [(1, "a\x00b", "nul_byte"), (2, "b", "ok")]),
    (b'study_uid,text\na,"quoted\x00nul"\nb,ok\n', [(1, "a", "nul_byte"), (2, "b", "ok")]),
])
def test_ingest_nul_bytes(tmp_path, data, expected):
    assert outcome(read_reports(write_bytes(tmp_path, data))) == expected


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_ingest_line_endings(tmp_path, newline):
    data = newline.join([b"study_uid,text", b'a,"two' + newline + b'lines"', b"b,one", b""])
    items = list(read_reports(write_bytes(tmp_path, data)))
    assert [(i.study_uid, i.text) for i in items] == [("a", "two" + newline.decode() + "lines"), ("b", "one")]


def test_ingest_utf8_bom_is_not_part_of_the_first_column(tmp_path):
    items = list(read_reports(write_bytes(tmp_path, b"\xef\xbb\xbfstudy_uid,text\na,ok\n")))
    assert outcome(items) == [(1, "a", "ok")]


def test_ingest_blank_lines_are_recorded_not_fatal(tmp_path):
    items = list(read_reports(write_bytes(tmp_path, b"study_uid,text\na,ok\n\nb,ok\n\n")))
    assert outcome(items) == [(1, "a", "ok"), (2, None, "blank_line"), (3, "b", "ok"), (4, None, "blank_line")]
    assert [e.fatal for e in items if isinstance(e, RowError)] == [False, False]


def test_ingest_misaligned_row_does_not_leak_text_as_its_id(tmp_path):
    data = b'study_uid,text\n"Heart size normal.\nLungs clear.",x,y\nshort-id,a,b\n'
    items = list(read_reports(write_bytes(tmp_path, data)))
    assert [(e.row, e.reason, e.study_uid) for e in items] == [(1, "malformed_row", None), (2, "malformed_row", "short-id")]


def test_ingest_non_ascii_compatible_encoding_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="ASCII-compatible"):
        list(read_reports(write_bytes(tmp_path, "study_uid,text\n".encode("utf-16")), IngestOptions(encoding="utf-16")))


def test_ingest_latin1_encoding_option(tmp_path):
    items = list(read_reports(write_bytes(tmp_path, b"study_uid,text\na,\xc9panchement\n"), IngestOptions(encoding="latin-1")))
    assert [i.text for i in items] == ["Épanchement"]


def test_ingest_jsonl_lone_surrogate_is_undecodable_and_errors_stay_writable(tmp_path):
    lines = ['{"study_uid": "a", "text": "x\\ud800y"}', '{"study_uid": "\\udc80", "text": "ok"}',
             '{"study_uid": {"nested": 1}, "text": "ok"}', '{"study_uid": "b", "text": "ok"}']
    path = write_bytes(tmp_path, ("\n".join(lines) + "\n").encode(), "in.jsonl")
    items = list(read_reports(path))
    assert outcome(items) == [(1, "a", "undecodable"), (2, "\\x80", "undecodable"), (3, None, "malformed_row"),
                              (4, "b", "ok")]
    for e in items[:3]:
        json.dumps(e.to_dict(), ensure_ascii=False).encode("utf-8")


def test_ingest_jsonl_over_long_line_is_one_malformed_row(tmp_path):
    data = b'{"study_uid": "a", "text": "' + b"x" * 3000 + b'"}\n{"study_uid": "b", "text": "ok"}'
    items = list(read_reports(write_bytes(tmp_path, data, "in.jsonl"), IngestOptions(max_chars=10, max_record_bytes=100)))
    assert outcome(items) == [(1, None, "malformed_row"), (2, "b", "ok")]


# ---- folders of part files ---------------------------------------------------------------


def parts_folder(tmp_path):
    root = tmp_path / "parts"
    (root / "year=2020").mkdir(parents=True)
    (root / "year=2020" / "part-0.csv").write_bytes(b"study_uid,text\na,one\nb,two\n")
    (root / "year=2020" / "part-1.csv").write_bytes(b"")  # an empty part
    (root / "year=2021").mkdir()
    (root / "year=2021" / "part-0.csv").write_bytes(b"study_uid,text\nc,three\na,dup\n")
    (root / "_SUCCESS").write_bytes(b"")
    (root / ".part-0.csv.crc").write_bytes(b"xx")
    return root


def test_ingest_folder_of_csv_parts_in_path_order_with_sources(tmp_path):
    root = parts_folder(tmp_path)
    assert detect_format(root) == "csv"
    assert [s for _, s in input_files(root, "csv")] == ["year=2020/part-0.csv", "year=2020/part-1.csv",
                                                          "year=2021/part-0.csv"]
    items = list(read_reports(root))
    assert [(type(i).__name__, i.source, o[0], o[1]) for i, o in zip(items, outcome(items))] == [
        ("Report", "year=2020/part-0.csv", 1, "a"),
        ("Report", "year=2020/part-0.csv", 2, "b"),
        ("RowError", "year=2020/part-1.csv", 0, None),
        ("Report", "year=2021/part-0.csv", 1, "c"),
        ("RowError", "year=2021/part-0.csv", 2, "a"),
    ]
    assert [(e.reason, e.fatal) for e in items if isinstance(e, RowError)] == [("empty_file", False), ("duplicate_id", True)]


def test_ingest_folder_part_missing_a_column_fails_before_reading(tmp_path):
    root = parts_folder(tmp_path)
    (root / "year=2021" / "part-2.csv").write_bytes(b"study_uid,report\nz,x\n")
    with pytest.raises(DataError, match="year=2021/part-2.csv.*'text'"):
        list(read_reports(root))


def test_ingest_folder_mixing_formats_is_a_config_error(tmp_path):
    root = parts_folder(tmp_path)
    (root / "x.jsonl").write_text('{"study_uid": "q", "text": "t"}\n')
    with pytest.raises(ConfigError, match="mixes input formats"):
        read_reports(root)


def test_ingest_folder_of_parquet_parts_with_a_corrupt_and_an_empty_part(tmp_path):
    root = tmp_path / "pq"
    root.mkdir()
    pq.write_table(pa.table({"study_uid": ["a", "b"], "text": [b"one", b"caf\xe9"]}, schema=pa.schema(
        [("study_uid", pa.string()), ("text", pa.binary())])), root / "part-0.parquet")
    (root / "part-1.parquet").write_bytes(b"PAR1 this is not parquet")
    (root / "part-2.parquet").write_bytes(b"")
    pq.write_table(pa.table({"study_uid": [3], "text": ["three"]}), root / "part-3.parquet")
    items = list(read_reports(root))
    assert [(i.source, *o) for i, o in zip(items, outcome(items))] == [
        ("part-0.parquet", 1, "a", "ok"),
        ("part-0.parquet", 2, "b", "undecodable"),
        ("part-1.parquet", 0, None, "unreadable_file"),
        ("part-2.parquet", 0, None, "empty_file"),
        ("part-3.parquet", 1, "3", "ok"),
    ]


def test_ingest_single_corrupt_parquet_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="Parquet"):
        list(read_reports(write_bytes(tmp_path, b"not parquet", "x.parquet")))


def test_ingest_progress_bytes_add_up_to_the_input_size(tmp_path):
    root = parts_folder(tmp_path)
    seen = []
    list(read_reports(root, on_bytes=seen.append))
    assert sum(seen) == sum(f.stat().st_size for f, _ in input_files(root, "csv"))


# ---- duplicate ids in bounded memory -----------------------------------------------------


def test_digest_set_finds_every_member_across_runs_and_no_stranger():
    s = _DigestSet(buffer=64)
    members = [_digest(f"1.2.{i}") for i in range(5000)]
    for d in members:
        assert d not in s
        s.add(d)
    assert len(s._runs) > 1
    assert all(d in s for d in members)
    assert not any(_digest(f"9.9.{i}") in s for i in range(5000))


def test_ingest_duplicates_far_apart_are_found(tmp_path):
    rows = b"".join(b"id%d,text\n" % i for i in range(3000))
    items = list(read_reports(write_bytes(tmp_path, b"study_uid,text\n" + rows + b"id7,again\n")))
    assert outcome(items)[-1] == (3001, "id7", "duplicate_id")


def test_ingest_merge_ignores_rows_that_fail_validation(tmp_path):
    data = b"study_uid,text\na,first\nb,x\na,\na,second\n"
    items = list(read_reports(write_bytes(tmp_path, data), IngestOptions(duplicates="merge")))
    assert outcome(items) == [(2, "b", "ok"), (3, "a", "empty_text"), (1, "a", "ok")]
    assert items[2].rows == (1, 4) and items[2].text == "first\n\nsecond"
