"""Stage 0: read report archives into :class:`~labeler.records.Report` records, streaming.

Formats: CSV/TSV, JSONL, Parquet, a folder of ``.txt`` files (file stem = id), or a folder of
CSV/TSV/JSONL/Parquet part files (a partitioned data set, read recursively in path order;
names starting with ``.`` or ``_`` are skipped, as Spark/Dask/pyarrow do).

Every input row yields exactly one :class:`Report` or one :class:`RowError` (empty text, missing
id, duplicate id, undecodable bytes, NUL bytes, over-long text, malformed row) — nothing is
dropped silently. The id is carried verbatim (as text). Memory does not grow with the input:
rows are streamed, and duplicate ids are found with 16-byte digests (about 16 bytes per id).

What a row is (the reference every guarantee refers to):

* **CSV/TSV** — a *record* of Python's :mod:`csv` reader (default dialect, ``strict=True``,
  the header not counted) over the file's physical lines, where a line ends at ``\\n``,
  ``\\r\\n`` or ``\\r``. A record the reader rejects (in strict mode a stray quote is caught:
  a quoted field still open at the end of the file, or closed by a quote that no delimiter
  follows) and a record longer than ``max_record_bytes`` are one ``malformed_row`` each, at
  the record's first line, and parsing starts again on the line after that first line — so a
  stray quote costs one row, not the rest of the archive.
* **JSONL** — a line (``\\n``-terminated; a final line without ``\\n`` counts; blank lines count
  and are recorded as ``blank_line``).
* **Parquet** — a table row.  **.txt folder** — a file.

Row numbers are 1-based per input file (``source`` names the file). File-level notes (an empty
part file, an unreadable part of a folder) carry row ``0`` and are not rows.

Several text columns are joined into one report, each under its upper-cased column name as a
section header (``FINDINGS: ...`` / ``IMPRESSION: ...``), so the section stage finds them.

Duplicate ids follow a policy: ``error`` (later rows go to the errors file and the run exits
with the partial-failure code), ``keep-first`` (later rows are recorded as skipped, not
failed), or ``merge`` (all rows of an id are joined, in input order, into one report emitted at
the id's last row; this reads the input once more, ids only, before labeling).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, Literal

from .errors import ConfigError, DataError
from .records import Report, RowError

__all__ = [
    "IngestOptions",
    "read_reports",
    "detect_format",
    "input_files",
    "input_size",
    "join_text_columns",
    "FORMATS",
    "DuplicatePolicy",
]

FORMATS = ("csv", "tsv", "jsonl", "parquet", "txt")
DuplicatePolicy = Literal["error", "keep-first", "merge"]
_SURROGATE = re.compile("[\ud800-\udfff]")
_EXTENSIONS = {
    ".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
    ".parquet": "parquet", ".pq": "parquet",
}
_COMPRESSED = (".gz", ".bz2", ".zst", ".xz")
_CSV_NEWLINE = re.compile(rb"\r\n?|\n")
_JSONL_NEWLINE = re.compile(rb"\n")
_BLOCK = 1 << 20

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


@dataclass(frozen=True)
class IngestOptions:
    """How to read an input.

    Parameters
    ----------
    id_column : str, default="study_uid"
    text_columns : tuple of str, default=("text",)
        One column is used as is; several are joined with their names as section headers.
    format : {"auto", "csv", "tsv", "jsonl", "parquet", "txt"}, default="auto"
        ``auto`` decides from the extension (a folder: from the files in it).
    duplicates : {"error", "keep-first", "merge"}, default="error"
    max_chars : int, default=100_000
        Longer reports go to the errors file (``too_long``).
    encoding : str, default="utf-8"
        Must be ASCII-compatible for CSV/TSV/JSONL (utf-8, latin-1, cp1252, ...). Rows with bytes
        that are not valid in it go to the errors file (``undecodable``); the others are read.
    metadata_columns : tuple of str, default=()
        Extra columns copied into ``Report.metadata`` (e.g. accession).
    max_record_bytes : int, default=16 MiB
        A CSV record or JSONL line longer than this (at least ``8 * max_chars``) is malformed,
        and the CSV parse resynchronises after it (a stray quote cannot swallow the archive).
    """

    id_column: str = "study_uid"
    text_columns: tuple[str, ...] = ("text",)
    format: str = "auto"
    duplicates: DuplicatePolicy = "error"
    max_chars: int = 100_000
    encoding: str = "utf-8"
    metadata_columns: tuple[str, ...] = field(default_factory=tuple)
    max_record_bytes: int = 16 * 2**20

    def __post_init__(self) -> None:
        if self.format != "auto" and self.format not in FORMATS:
            raise ConfigError(f"unknown input format {self.format!r} (choose from {', '.join(FORMATS)})")
        if self.duplicates not in ("error", "keep-first", "merge"):
            raise ConfigError(f"unknown duplicate policy {self.duplicates!r}")
        if not self.text_columns:
            raise ConfigError("give at least one text column")
        if self.max_chars < 1:
            raise ConfigError("max_chars must be positive")
        if self.max_record_bytes < 1:
            raise ConfigError("max_record_bytes must be positive")
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise ConfigError(f"unknown encoding {self.encoding!r}") from None

    @property
    def record_limit(self) -> int:
        """Bytes a CSV record / JSONL line may take before it is declared malformed."""
        return max(self.max_record_bytes, 8 * self.max_chars)


# --------------------------------------------------------------------------------------------
# input files


def _format_of(p: Path) -> str | None:
    suffixes = [s.lower() for s in p.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSED:
        raise ConfigError(f"{p.name}: compressed input is not supported yet; decompress it first")
    return _EXTENSIONS.get(suffixes[-1] if suffixes else "")


def _hidden(rel: Path) -> bool:
    return any(part.startswith((".", "_")) for part in rel.parts)


def _data_files(root: Path) -> list[Path]:
    files = []
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        if p.is_file() and not _hidden(rel) and p.suffix.lower() in _EXTENSIONS:
            files.append(p)
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def detect_format(path: str | Path, declared: str = "auto") -> str:
    """The input format of ``path`` (a declared format wins).

    A folder holding ``.txt`` files is ``txt``; a folder of CSV/TSV/JSONL/Parquet part files
    has their format (mixing formats is an error).
    """
    if declared != "auto":
        return declared
    p = Path(path)
    if p.is_dir():
        kinds = sorted({_EXTENSIONS[f.suffix.lower()] for f in _data_files(p)})
        if len(kinds) > 1:
            raise ConfigError(f"{p.name}/ mixes input formats ({', '.join(kinds)}); pass --input-format")
        if kinds:
            return kinds[0]
        return "txt"
    fmt = _format_of(p)
    if fmt is None:
        raise ConfigError(f"cannot tell the format of {p.name!r} from its extension; pass --input-format")
    return fmt


def input_files(path: str | Path, fmt: str) -> list[tuple[Path, str]]:
    """The files an input consists of, in reading order, each with its ``source`` name.

    A single file is its own name; files of a folder are named by their path relative to it.
    """
    p = Path(path)
    if not p.is_dir():
        return [(p, p.name)]
    if fmt == "txt":
        files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() == ".txt")
        return [(f, f.name) for f in files]
    files = [f for f in _data_files(p) if _EXTENSIONS[f.suffix.lower()] == fmt]
    if not files:
        raise DataError(f"no {fmt} files in {p}")
    return [(f, f.relative_to(p).as_posix()) for f in files]


def input_size(path: str | Path) -> int:
    """Total bytes of an input (file size, or the sum of a folder's input files)."""
    p = Path(path)
    try:
        if p.is_dir():
            fmt = detect_format(p)
            return sum(f.stat().st_size for f, _ in input_files(p, fmt))
        return os.path.getsize(p)
    except (OSError, ConfigError, DataError):
        return 0


def join_text_columns(columns: dict[str, Any]) -> str:
    """Join text columns into one report, each under its upper-cased name as a header.

    One column is returned as is. Empty columns are skipped.

    >>> join_text_columns({"findings": "Clear lungs.", "impression": "Normal."})
    'FINDINGS: Clear lungs.\\n\\nIMPRESSION: Normal.'
    """
    if len(columns) == 1:
        (value,) = columns.values()
        return value if isinstance(value, str) else ""
    parts = [(k, v) for k, v in columns.items() if isinstance(v, str) and v.strip()]
    return "\n\n".join(f"{k.replace('_', ' ').upper()}: {v.strip()}" for k, v in parts)


# --------------------------------------------------------------------------------------------
# raw rows: (row number, id or None, {text column: value}, {meta column: value}) or RowError


@dataclass(frozen=True, slots=True)
class _Raw:
    row: int
    study_uid: str | None
    texts: dict[str, Any]
    meta: dict[str, str]
    source: str


_RawOrError = _Raw | RowError
_OnBytes = Callable[[int], None] | None


def _as_id(value: Any, encoding: str = "utf-8") -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value != value:  # NaN
        return None
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode(encoding, "surrogateescape")
    text = value if isinstance(value, str) else str(value)
    return text if text.strip() else None


def _error_uid(uid: str | None) -> str | None:
    """An id as it may appear in the errors file: undecodable bytes shown as ``\\xNN`` escapes."""
    if uid is None or not _SURROGATE.search(uid):
        return uid
    try:
        return uid.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return uid.encode("utf-8", "backslashreplace").decode("utf-8")


def _plausible_id(uid: str | None) -> str | None:
    """The id field of a malformed row, unless it may be report text (misaligned fields)."""
    if uid is None or len(uid) > 128 or "\n" in uid or "\r" in uid:
        return None
    return _error_uid(uid)


def _check_columns(source: str, have: Iterable[str], opts: IngestOptions) -> None:
    have = list(have)
    need = [opts.id_column, *opts.text_columns, *opts.metadata_columns]
    missing = [c for c in need if c not in have]
    if missing:
        shown = ", ".join(repr(c) for c in have[:20]) or "none"
        raise DataError(
            f"{source}: column(s) {', '.join(repr(c) for c in missing)} not found (columns: {shown}); "
            "use --id-column / --text-column"
        )


def _check_line_encoding(encoding: str) -> None:
    if "\n\r,\t\"{}".encode(encoding, "replace") != b"\n\r,\t\"{}":
        raise ConfigError(f"encoding {encoding!r} is not ASCII-compatible; convert the input to UTF-8")


class _Runaway(Exception):
    """A CSV record longer than the record limit."""


class _Lines:
    """Decoded physical lines of a binary file from a byte offset, with their offsets (for csv).

    ``csv.reader`` pulls exactly the lines of one record per ``next()``, so after each record
    :attr:`pos` is the byte offset where the next record starts.
    """

    def __init__(self, fh: IO[bytes], start: int, lines_before: int, encoding: str, newline: re.Pattern[bytes],
                 limit: int) -> None:
        fh.seek(start)
        self._fh = fh
        self._encoding = encoding
        self._newline = newline
        self._limit = limit
        self._buf = b""
        self._i = 0
        self._eof = False
        self.pos = start
        self.line = lines_before
        self.begin()

    def begin(self) -> None:
        """Mark the start of a record."""
        self.rec_start = self.pos
        self.rec_line = self.line + 1
        self.rec_first_line_end: int | None = None
        self.rec_lines = 0

    def read_line(self, cap: int) -> tuple[bytes, bool]:
        """The next physical line (with its terminator) and whether it is complete.

        Returns ``(b"", True)`` at the end of the file; an incomplete line is one longer than ``cap``.
        """
        while True:
            m = self._newline.search(self._buf, self._i)
            if m is not None and (m.end() < len(self._buf) or self._eof or m.group() != b"\r"):
                line = self._buf[self._i:m.end()]
                self._i = m.end()
                return line, True
            if self._eof:
                line = self._buf[self._i:]
                self._i = len(self._buf)
                return line, True
            if len(self._buf) - self._i > cap:
                line = self._buf[self._i:]
                self._i = len(self._buf)
                return line, False
            data = self._fh.read(_BLOCK)
            if not data:
                self._eof = True
            self._buf = self._buf[self._i:] + data
            self._i = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line, complete = self.read_line(self._limit - (self.pos - self.rec_start))
        if not line:
            raise StopIteration
        self.pos += len(line)
        self.rec_lines += 1
        if complete:
            self.line += 1
            if self.rec_first_line_end is None:
                self.rec_first_line_end = self.pos
        if not complete or self.pos - self.rec_start > self._limit:
            raise _Runaway
        return line.decode(self._encoding, "surrogateescape")

    def resync_point(self) -> tuple[int, int]:
        """(offset, lines before) just after the first line of the current record."""
        if self.rec_first_line_end is not None:
            return self.rec_first_line_end, self.rec_line
        skip = _Lines(self._fh, self.rec_start, self.rec_line - 1, self._encoding, self._newline, self._limit)
        while True:
            line, complete = skip.read_line(_BLOCK)
            skip.pos += len(line)
            if complete or not line:
                return skip.pos, self.rec_line


def _bom_length(fh: IO[bytes], encoding: str) -> int:
    head = fh.read(3)
    return 3 if head == codecs.BOM_UTF8 and codecs.lookup(encoding).name.startswith("utf-8") else 0


def _csv_records(fh: IO[bytes], delimiter: str, opts: IngestOptions,
                 on_pos: Callable[[int], None]) -> Iterator[tuple[list[str] | None, str, int]]:
    """``(fields, "", first line)`` per record, or ``(None, what went wrong, first line)``.

    The csv module runs in strict mode, so a stray quote shows up as an error (a quoted field
    still open at the end of the file, or closed by a quote not followed by a delimiter) instead
    of silently swallowing the following rows. A rejected or over-long record costs one row,
    and parsing starts again on the line after its first line.
    """
    start, lines_before = _bom_length(fh, opts.encoding), 0
    while True:
        src = _Lines(fh, start, lines_before, opts.encoding, _CSV_NEWLINE, opts.record_limit)
        reader = csv.reader(src, delimiter=delimiter, strict=True)
        while True:
            src.begin()
            try:
                fields = next(reader)
            except StopIteration:
                on_pos(src.pos)
                return
            except csv.Error as exc:
                problem = "a quoted field never closes" if "end of data" in str(exc) else str(exc)
                yield None, f"CSV parse error in the record starting on line {src.rec_line}: {problem}", src.rec_line
            except _Runaway:
                yield None, (f"the record starting on line {src.rec_line} is longer than {opts.record_limit} bytes "
                             "(an unbalanced quote?)"), src.rec_line
            else:
                on_pos(src.pos)
                yield fields, "", src.rec_line
                continue
            if src.rec_lines <= 1 and src.rec_first_line_end is not None:
                on_pos(src.pos)
                continue  # a one-line record: the reader is already on the next line
            start, lines_before = src.resync_point()
            break


class _Progress:
    """Turns absolute byte positions into increments for ``on_bytes`` (never counting twice)."""

    def __init__(self, on_bytes: _OnBytes, size: int = 0) -> None:
        self._on_bytes = on_bytes
        self._done = 0
        self._size = size

    def at(self, pos: int) -> None:
        if self._on_bytes is not None and pos > self._done:
            self._on_bytes(pos - self._done)
            self._done = pos

    def finish(self) -> None:
        self.at(self._size)


def _open(path: Path, whole: bool, source: str) -> IO[bytes] | RowError:
    try:
        return open(path, "rb")  # noqa: SIM115 - closed by the caller
    except OSError as exc:
        if whole:
            raise DataError(f"cannot open {path}: {exc.strerror}") from None
        return RowError(0, "unreadable_file", exc.strerror or "cannot open", None, source)


def _open_nonempty(path: Path, whole: bool, source: str, empty: str) -> tuple[IO[bytes], int] | RowError:
    """The open file and its size, or the row error that stands for it (unreadable, or empty)."""
    fh = _open(path, whole, source)
    if isinstance(fh, RowError):
        return fh
    size = os.fstat(fh.fileno()).st_size
    if size == 0:
        fh.close()
        return RowError(0, "empty_file", empty, None, source, fatal=False)
    return fh, size


def _read_header(records: Iterator[tuple[list[str] | None, str, int]], source: str, opts: IngestOptions) -> list[str]:
    """The first record as a header (BOM stripped), its columns checked against ``opts``."""
    header, problem, _ = next(records, (None, "no header", 0))
    if header is None:
        raise DataError(f"{source}: cannot parse the header: {problem}")
    if header and header[0].startswith("\ufeff"):
        header[0] = header[0][1:]
    _check_columns(source, header, opts)
    return header


def _read_delimited(path: Path, source: str, opts: IngestOptions, delimiter: str, whole: bool,
                    on_bytes: _OnBytes) -> Iterator[_RawOrError]:
    _check_line_encoding(opts.encoding)
    opened = _open_nonempty(path, whole, source, "the file is empty (no header)")
    if isinstance(opened, RowError):
        yield opened
        return
    fh, size = opened
    with fh:
        progress = _Progress(on_bytes, size)
        records = _csv_records(fh, delimiter, opts, progress.at)
        header = _read_header(records, source, opts)
        idx = {name: i for i, name in enumerate(header)}
        id_at = idx[opts.id_column]
        width = len(header)
        row = 0
        for fields, problem, _line in records:
            row += 1
            if fields is None:
                yield RowError(row, "malformed_row", problem, None, source)
                continue
            if not fields or (len(fields) == 1 and fields[0] == "" and width > 1):
                yield RowError(row, "blank_line", "blank line", None, source, fatal=False)
                continue
            if len(fields) != width:
                uid = _plausible_id(fields[id_at]) if len(fields) > id_at else None
                yield RowError(row, "malformed_row", f"{len(fields)} fields, header has {width}", uid, source)
                continue
            yield _Raw(
                row,
                _as_id(fields[id_at]),
                {c: fields[idx[c]] for c in opts.text_columns},
                {c: fields[idx[c]] for c in opts.metadata_columns},
                source,
            )
        progress.finish()


def _read_jsonl(path: Path, source: str, opts: IngestOptions, whole: bool,
                on_bytes: _OnBytes) -> Iterator[_RawOrError]:
    _check_line_encoding(opts.encoding)
    opened = _open_nonempty(path, whole, source, "the file is empty")
    if isinstance(opened, RowError):
        yield opened
        return
    fh, size = opened
    with fh:
        progress = _Progress(on_bytes, size)
        lines = _Lines(fh, _bom_length(fh, opts.encoding), 0, opts.encoding, _JSONL_NEWLINE, opts.record_limit)
        row = 0
        while True:
            data, complete = lines.read_line(opts.record_limit)
            if not data:
                break
            lines.pos += len(data)
            row += 1
            if not complete or len(data) > opts.record_limit:
                while not complete:  # skip the rest of the over-long line
                    more, complete = lines.read_line(_BLOCK)
                    lines.pos += len(more)
                progress.at(lines.pos)
                yield RowError(row, "malformed_row", f"line longer than {opts.record_limit} bytes", None, source)
                continue
            progress.at(lines.pos)
            yield _jsonl_row(data, row, source, opts)
        progress.finish()


def _jsonl_row(line: bytes, row: int, source: str, opts: IngestOptions) -> _RawOrError:
    if not line.strip():
        return RowError(row, "blank_line", "blank line", None, source, fatal=False)
    try:
        obj = json.loads(line.decode(opts.encoding))
    except UnicodeDecodeError:
        return RowError(row, "undecodable", f"not valid {opts.encoding}", None, source)
    except (json.JSONDecodeError, RecursionError) as exc:
        msg = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        return RowError(row, "malformed_row", f"invalid JSON: {msg}", None, source)
    if not isinstance(obj, dict):
        return RowError(row, "malformed_row", "line is not a JSON object", None, source)
    if opts.id_column not in obj:
        return RowError(row, "missing_id", f"no {opts.id_column!r} field", None, source)
    uid = obj.get(opts.id_column)
    if isinstance(uid, (dict, list)):
        return RowError(row, "malformed_row", f"{opts.id_column!r} is not a scalar", None, source)
    return _Raw(
        row,
        _as_id(uid),
        {c: obj.get(c) for c in opts.text_columns},
        {c: "" if obj.get(c) is None else str(obj.get(c)) for c in opts.metadata_columns},
        source,
    )


def _parquet_file(path: Path, source: str, whole: bool) -> Any:
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except (OSError, ValueError) as exc:
        if whole:
            raise DataError(f"cannot read {source} as Parquet: {exc}") from None
        return RowError(0, "unreadable_file", f"not a readable Parquet file: {type(exc).__name__}", None, source)


def _read_parquet(path: Path, source: str, opts: IngestOptions, whole: bool, on_bytes: _OnBytes,
                  batch_size: int = 4096) -> Iterator[_RawOrError]:
    try:
        size = path.stat().st_size
    except OSError as exc:
        if whole:
            raise DataError(f"cannot open {path}: {exc.strerror}") from None
        yield RowError(0, "unreadable_file", exc.strerror or "cannot open", None, source)
        return
    if size == 0:
        yield RowError(0, "empty_file", "the file is empty", None, source, fatal=False)
        return
    pf = _parquet_file(path, source, whole)
    if isinstance(pf, RowError):
        yield pf
        return
    _check_columns(source, pf.schema_arrow.names, opts)
    columns = list(dict.fromkeys([opts.id_column, *opts.text_columns, *opts.metadata_columns]))
    total = max(pf.metadata.num_rows, 1)
    progress = _Progress(on_bytes, size)
    row = 0
    for group in range(pf.num_row_groups):
        n_group = pf.metadata.row_group(group).num_rows
        done = 0
        try:
            for batch in pf.iter_batches(batch_size=batch_size, row_groups=[group], columns=columns):
                for rec in batch.to_pylist():
                    row += 1
                    done += 1
                    yield _Raw(
                        row,
                        _as_id(rec.get(opts.id_column), opts.encoding),
                        {c: _as_text(rec.get(c), opts.encoding) for c in opts.text_columns},
                        {c: "" if rec.get(c) is None else str(_as_text(rec.get(c), opts.encoding))
                         for c in opts.metadata_columns},
                        source,
                    )
                progress.at(size * row // total)
        except (OSError, ValueError, UnicodeDecodeError) as exc:  # pyarrow errors derive from these
            for _ in range(n_group - done):
                row += 1
                yield RowError(row, "unreadable", f"row group {group} could not be read ({type(exc).__name__})",
                               None, source)
    progress.finish()


def _as_text(value: Any, encoding: str) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode(encoding, "surrogateescape")
    return value


def _read_txt_dir(files: list[tuple[Path, str]], opts: IngestOptions, on_bytes: _OnBytes) -> Iterator[_RawOrError]:
    for row, (fpath, name) in enumerate(files, start=1):
        try:
            size = fpath.stat().st_size
            if size > opts.record_limit:
                yield RowError(row, "too_long", f"{size} bytes > {opts.record_limit}", fpath.stem, name)
                continue
            data = fpath.read_bytes()
        except OSError as exc:
            yield RowError(row, "unreadable", exc.strerror or "cannot read", fpath.stem, name)
            continue
        if on_bytes is not None:
            on_bytes(len(data))
        try:
            text = data.decode(opts.encoding)
        except UnicodeDecodeError:
            yield RowError(row, "undecodable", f"not valid {opts.encoding}", fpath.stem, name)
            continue
        yield _Raw(row, fpath.stem, {"text": text}, {}, name)


def _preflight(files: list[tuple[Path, str]], fmt: str, opts: IngestOptions) -> None:
    """Check every part file's columns before a long run starts (a folder input)."""
    for fpath, source in files:
        try:
            if fpath.stat().st_size == 0:
                continue
        except OSError:
            continue
        if fmt == "parquet":
            pf = _parquet_file(fpath, source, whole=False)
            if not isinstance(pf, RowError):
                _check_columns(source, pf.schema_arrow.names, opts)
        elif fmt in ("csv", "tsv"):
            with open(fpath, "rb") as fh:
                _read_header(_csv_records(fh, "," if fmt == "csv" else "\t", opts, lambda _pos: None), source, opts)


def _raw_rows(path: Path, fmt: str, opts: IngestOptions, on_bytes: _OnBytes) -> Iterator[_RawOrError]:
    if fmt not in FORMATS:
        raise ConfigError(f"unknown input format {fmt!r}")
    if fmt == "txt":
        if not path.is_dir():
            raise DataError(f"{path} is not a directory of .txt files")
        yield from _read_txt_dir(input_files(path, fmt), opts, on_bytes)
        return
    files = input_files(path, fmt)
    whole = not path.is_dir()
    if not whole:
        _preflight(files, fmt, opts)
    for fpath, source in files:
        if fmt in ("csv", "tsv"):
            yield from _read_delimited(fpath, source, opts, "," if fmt == "csv" else "\t", whole, on_bytes)
        elif fmt == "jsonl":
            yield from _read_jsonl(fpath, source, opts, whole, on_bytes)
        else:
            yield from _read_parquet(fpath, source, opts, whole, on_bytes)


def replace_text_columns(opts: IngestOptions) -> IngestOptions:
    """Options for a ``.txt`` folder: one implicit ``text`` column, the stem as id."""
    return replace(opts, text_columns=("text",), metadata_columns=())


def _to_report(raw: _Raw, opts: IngestOptions) -> Report | RowError:
    source = raw.source
    if raw.study_uid is None:
        return RowError(raw.row, "missing_id", f"empty {opts.id_column!r}", None, source)
    for col, value in raw.texts.items():
        if value is not None and not isinstance(value, str):
            return RowError(raw.row, "malformed_row", f"{col!r} is not text", _error_uid(raw.study_uid), source)
    for value in (raw.study_uid, *raw.texts.values()):
        if isinstance(value, str) and "\x00" in value:
            return RowError(raw.row, "nul_byte", "text contains NUL bytes", _error_uid(raw.study_uid), source)
    for value in (raw.study_uid, *raw.texts.values(), *raw.meta.values()):
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return RowError(raw.row, "undecodable", f"bytes that are not valid {opts.encoding}",
                                _error_uid(raw.study_uid), source)
    text = join_text_columns(raw.texts)
    if not text.strip():
        return RowError(raw.row, "empty_text", "no report text", raw.study_uid, source)
    if len(text) > opts.max_chars:
        return RowError(raw.row, "too_long", f"{len(text)} characters > --max-chars {opts.max_chars}",
                        raw.study_uid, source)
    return Report(raw.study_uid, text, source, (raw.row,), dict(raw.meta))


# --------------------------------------------------------------------------------------------
# duplicate ids, in memory proportional to 16 bytes per id


def _digest(uid: str) -> bytes:
    # 15 hash bytes + a non-NUL last byte: numpy's fixed-width bytes ignore trailing NULs
    return hashlib.blake2b(uid.encode("utf-8", "surrogatepass"), digest_size=15).digest() + b"\x01"


class _DigestSet:
    """A set of id digests: a Python set of recent ones, older ones in sorted numpy runs (LSM-style).

    About 16 bytes per id instead of ~120 for a set of strings; 120-bit digests make a false
    duplicate less likely than one in 10^18 for a billion ids.
    """

    def __init__(self, buffer: int = 1 << 17) -> None:
        self._recent: set[bytes] = set()
        self._runs: list[Any] = []
        self._buffer = buffer

    def __contains__(self, digest: bytes) -> bool:
        if digest in self._recent:
            return True
        for run in self._runs:
            i = int(run.searchsorted(digest))
            if i < len(run) and run[i] == digest:
                return True
        return False

    def add(self, digest: bytes) -> None:
        self._recent.add(digest)
        if len(self._recent) >= self._buffer:
            self._flush()

    def _flush(self) -> None:
        import numpy as np

        self._runs.append(np.array(sorted(self._recent), dtype="S16"))
        self._recent = set()
        while len(self._runs) > 1 and len(self._runs[-2]) <= 2 * len(self._runs[-1]):
            b, a = self._runs.pop(), self._runs.pop()
            self._runs.append(np.sort(np.concatenate([a, b]), kind="stable"))


def _duplicate_counts(path: Path, fmt: str, opts: IngestOptions) -> dict[bytes, int]:
    """Digest -> number of rows, for ids that occur more than once (one pass over the input)."""
    seen = _DigestSet()
    extra: dict[bytes, int] = {}
    for item in _raw_rows(path, fmt, opts, None):
        if isinstance(item, _Raw) and isinstance(_to_report(item, opts), Report):
            d = _digest(item.study_uid)  # type: ignore[arg-type]
            if d in extra or d in seen:
                extra[d] = extra.get(d, 1) + 1
            else:
                seen.add(d)
    return extra


def read_reports(
    path: str | Path,
    options: IngestOptions | None = None,
    *,
    on_bytes: Callable[[int], None] | None = None,
) -> Iterator[Report | RowError]:
    """Stream the reports of an input file or folder, with the duplicate policy applied.

    Parameters
    ----------
    path : str or Path
        A CSV/TSV/JSONL/Parquet file, a folder of such part files, or a folder of ``.txt`` files.
    options : IngestOptions, default=None
    on_bytes : callable, default=None
        Called with the number of bytes read, for progress bars.

    Yields
    ------
    Report or RowError
        In input order (a merged duplicate comes at its last row).

    Raises
    ------
    DataError
        When the input as a whole cannot be read (missing file, missing columns).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.csv"
    >>> _ = p.write_text('study_uid,text\\n1.2.3,"No effusion."\\n4.5,\\n', encoding="utf-8")
    >>> [(type(x).__name__, x.study_uid) for x in read_reports(p)]
    [('Report', '1.2.3'), ('RowError', '4.5')]
    """
    opts = options or IngestOptions()
    p = Path(path)
    if not p.exists():
        raise DataError(f"input not found: {p}")
    fmt = detect_format(p, opts.format)
    if fmt == "txt":
        opts = replace_text_columns(opts)
    return _apply_policy(p, fmt, opts, on_bytes)


def _apply_policy(p: Path, fmt: str, opts: IngestOptions, on_bytes: _OnBytes) -> Iterator[Report | RowError]:
    dup_counts = _duplicate_counts(p, fmt, opts) if opts.duplicates == "merge" else None
    seen = _DigestSet()
    pending: dict[bytes, list[Report]] = {}
    for item in _raw_rows(p, fmt, opts, on_bytes):
        if isinstance(item, RowError):
            yield item
            continue
        result = _to_report(item, opts)
        if isinstance(result, RowError):
            yield result
            continue
        uid = result.study_uid
        d = _digest(uid)
        if dup_counts is not None and d in dup_counts:
            group = pending.setdefault(d, [])
            group.append(result)
            if len(group) == dup_counts[d]:
                del pending[d]
                yield _merge(group)
            continue
        if d in seen:
            if opts.duplicates == "keep-first":
                yield RowError(result.rows[0], "duplicate_id", "later row of an id already read (kept the first)",
                               uid, result.source, fatal=False)
            else:
                yield RowError(result.rows[0], "duplicate_id", "id already used by an earlier row", uid, result.source)
            continue
        seen.add(d)
        yield result
    for group in pending.values():  # rows that failed validation left a group short
        yield _merge(group)


def _merge(group: list[Report]) -> Report:
    if len(group) == 1:
        return group[0]
    first = group[0]
    text = "\n\n".join(r.text for r in group)
    rows = tuple(row for r in group for row in r.rows)
    return Report(first.study_uid, text, first.source, rows, dict(first.metadata))
