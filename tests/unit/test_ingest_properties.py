"""Property-based tests of ingest: arbitrary bytes and text never crash it and never lose a row.

"Input rows" are defined by the reference parse documented in :mod:`labeler.ingest`, written
here independently of the streaming reader: the whole file split into physical lines
(``\\r\\n``, ``\\r``, ``\\n``), read by ``csv.reader(strict=True)``; a rejected record is one row
and the parse restarts on the line after its first line. The streaming reader is run with a
tiny read block, so line endings split across blocks are exercised too.
"""

import csv
import json
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import labeler.ingest as ingest
from labeler.ingest import IngestOptions, read_reports
from labeler.records import Report, RowError

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


@pytest.fixture(autouse=True)
def tiny_blocks(monkeypatch):
    monkeypatch.setattr(ingest, "_BLOCK", 7)


def reference_csv_rows(data: bytes) -> int:
    """The number of data rows (header excluded) by the documented definition."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = [m.group().decode("utf-8", "surrogateescape") for m in _LINE.finditer(data)]
    records, i = 0, 0
    while i < len(lines):
        used = [0]

        def feed(start=i):
            for line in lines[start:]:
                used[0] += 1
                yield line

        reader = csv.reader(feed(), strict=True)
        try:
            next(reader)
        except StopIteration:
            break
        except csv.Error:
            records += 1
            i += 1  # restart on the line after the record's first line
            continue
        records += 1
        i += used[0]
    return records - 1  # the header


def emitted_rows(items) -> list[int]:
    rows = []
    for it in items:
        if isinstance(it, Report):
            rows.extend(it.rows)
        elif it.row:  # row 0: a note about a whole file
            rows.append(it.row)
    return rows


csv_pieces = st.lists(st.one_of(
    st.sampled_from([b'"', b",", b"\n", b"\r", b"\r\n", b"a", b"id", b"\x00", b"\xff", b"\xc3\xa9", b" ", b'""']),
    st.binary(max_size=6),
), max_size=60).map(b"".join)


@SETTINGS
@given(body=csv_pieces)
def test_csv_arbitrary_bytes_every_reference_row_exactly_once(tmp_path, body):
    path = tmp_path / "in.csv"
    path.write_bytes(b"study_uid,text\n" + body)
    items = list(read_reports(path, IngestOptions(duplicates="keep-first")))
    rows = emitted_rows(items)
    assert sorted(rows) == list(range(1, len(rows) + 1))
    assert len(rows) == reference_csv_rows(b"study_uid,text\n" + body)
    for it in items:  # errors stay writable as UTF-8 JSON
        if isinstance(it, RowError):
            json.dumps(it.to_dict(), ensure_ascii=False).encode("utf-8")


@SETTINGS
@given(data=st.tuples(st.sampled_from([b"a,b\n", b"b,a\r", b'"a",b\r\n', b""]), csv_pieces).map(b"".join))
def test_csv_arbitrary_bytes_including_the_header_never_crash(tmp_path, data):
    path = tmp_path / "in.csv"
    path.write_bytes(data)
    try:
        items = list(read_reports(path, IngestOptions(id_column="a", text_columns=("b",))))
    except ingest.DataError:
        return  # a header without the columns: the whole input is refused, clearly
    rows = emitted_rows(items)
    assert sorted(rows) == list(range(1, len(rows) + 1))
    assert len(rows) == (reference_csv_rows(data) if data else 0)


@SETTINGS
@given(data=st.lists(st.one_of(st.binary(max_size=20), st.sampled_from(
    [b'{"study_uid": "x", "text": "t"}', b"{}", b"[]", b'{"study_uid": null}', b"\n", b"\r\n", b'"\\ud800"']))
).map(b"\n".join))
def test_jsonl_arbitrary_bytes_one_row_per_line(tmp_path, data):
    path = tmp_path / "in.jsonl"
    path.write_bytes(data)
    items = list(read_reports(path, IngestOptions(duplicates="keep-first")))
    n_lines = len(data.split(b"\n")) - (1 if data.endswith(b"\n") else 0) if data else 0
    assert sorted(emitted_rows(items)) == list(range(1, n_lines + 1))


records = st.lists(st.tuples(st.text(max_size=8), st.text(max_size=40)), max_size=25)


def expected_outcome(recs, max_chars):
    """(row, id, "ok" | reason) from the documented checks, in their documented order."""
    seen, out = set(), []
    for row, (uid, text) in enumerate(recs, start=1):
        if not uid.strip():
            out.append((row, None, "missing_id"))
        elif "\x00" in uid or "\x00" in text:
            out.append((row, uid, "nul_byte"))
        elif not text.strip():
            out.append((row, uid, "empty_text"))
        elif len(text) > max_chars:
            out.append((row, uid, "too_long"))
        elif uid in seen:
            out.append((row, uid, "duplicate_id"))
        else:
            seen.add(uid)
            out.append((row, uid, "ok"))
    return out


def write_records(tmp_path, fmt, recs):
    path = tmp_path / f"in.{fmt}"
    if fmt == "csv":
        with path.open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)  # "\r\n" terminator: fields with "\r" are quoted
            w.writerow(["study_uid", "text"])
            w.writerows(recs)
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps({"study_uid": u, "text": t}) + "\n" for u, t in recs), encoding="utf-8")
    else:
        pq.write_table(pa.table({"study_uid": pa.array([u for u, _ in recs], pa.string()),
                                 "text": pa.array([t for _, t in recs], pa.string())}), path)
    return path


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
@SETTINGS
@given(recs=records)
def test_arbitrary_text_round_trips_or_fails_with_the_right_reason(tmp_path, fmt, recs):
    path = write_records(tmp_path, fmt, recs)
    items = [i for i in read_reports(path, IngestOptions(max_chars=30)) if isinstance(i, Report) or i.row]
    got = [(i.rows[0], i.study_uid, "ok") if isinstance(i, Report) else (i.row, i.study_uid, i.reason) for i in items]
    exp = expected_outcome(recs, 30)
    assert got == exp
    texts = {i.study_uid: i.text for i in items if isinstance(i, Report)}
    assert texts == {u: t for (row, u, what), (_, t) in zip(exp, recs) if what == "ok"}


def test_reference_parse_on_a_small_file(tmp_path):
    data = b'study_uid,text\na,"x\ny"\nb,z\r\nc,"bad"q\nd,e\n'
    assert reference_csv_rows(data) == 4
    path = tmp_path / "in.csv"
    path.write_bytes(data)
    got = [(i.rows[0], "ok") if isinstance(i, Report) else (i.row, i.reason) for i in read_reports(path)]
    assert got == [(1, "ok"), (2, "ok"), (3, "malformed_row"), (4, "ok")]
