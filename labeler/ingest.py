"""Stage 0: read report archives into :class:`~labeler.records.Report` records, streaming.

Formats: CSV/TSV, JSONL, Parquet, and a folder of ``.txt`` files (file stem = id). Every input
row yields exactly one :class:`Report` or one :class:`RowError` (empty text, missing id,
duplicate id, undecodable bytes, NUL bytes, over-long text, malformed row) — nothing is dropped
silently. Row numbers are 1-based record numbers (a CSV header is not counted; a JSONL blank
line is). The id is carried verbatim (as text).

Several text columns are joined into one report, each under its upper-cased column name as a
section header (``FINDINGS: ...`` / ``IMPRESSION: ...``), so the section stage finds them.

Duplicate ids follow a policy: ``error`` (later rows go to the errors file and the run exits
with the partial-failure code), ``keep-first`` (later rows are recorded as skipped, not
failed), or ``merge`` (all rows of an id are joined, in input order, into one report emitted at
the id's last row; this reads the id column once more before labeling).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from .errors import ConfigError, DataError
from .records import Report, RowError

__all__ = [
    "IngestOptions",
    "read_reports",
    "detect_format",
    "join_text_columns",
    "FORMATS",
    "DuplicatePolicy",
]

FORMATS = ("csv", "tsv", "jsonl", "parquet", "txt")
DuplicatePolicy = Literal["error", "keep-first", "merge"]
_SURROGATE = re.compile("[\udc80-\udcff]")
_EXTENSIONS = {
    ".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
    ".parquet": "parquet", ".pq": "parquet",
}

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
        ``auto`` decides from the extension (a directory is ``txt``).
    duplicates : {"error", "keep-first", "merge"}, default="error"
    max_chars : int, default=100_000
        Longer reports go to the errors file (``too_long``).
    encoding : str, default="utf-8"
    metadata_columns : tuple of str, default=()
        Extra columns copied into ``Report.metadata`` (e.g. accession).
    """

    id_column: str = "study_uid"
    text_columns: tuple[str, ...] = ("text",)
    format: str = "auto"
    duplicates: DuplicatePolicy = "error"
    max_chars: int = 100_000
    encoding: str = "utf-8"
    metadata_columns: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.format != "auto" and self.format not in FORMATS:
            raise ConfigError(f"unknown input format {self.format!r} (choose from {', '.join(FORMATS)})")
        if self.duplicates not in ("error", "keep-first", "merge"):
            raise ConfigError(f"unknown duplicate policy {self.duplicates!r}")
        if not self.text_columns:
            raise ConfigError("give at least one text column")
        if self.max_chars < 1:
            raise ConfigError("max_chars must be positive")
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise ConfigError(f"unknown encoding {self.encoding!r}") from None


def detect_format(path: str | Path, declared: str = "auto") -> str:
    """The input format of ``path`` (a declared format wins; a directory is ``txt``)."""
    if declared != "auto":
        return declared
    p = Path(path)
    if p.is_dir():
        return "txt"
    suffixes = [s.lower() for s in p.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".bz2", ".zst", ".xz"):
        raise ConfigError(f"{p.name}: compressed input is not supported yet; decompress it first")
    fmt = _EXTENSIONS.get(suffixes[-1] if suffixes else "")
    if fmt is None:
        raise ConfigError(f"cannot tell the format of {p.name!r} from its extension; pass --input-format")
    return fmt


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


_RawOrError = _Raw | RowError


class _CountingReader(io.RawIOBase):
    """Counts bytes read from a binary file (for progress bars)."""

    def __init__(self, raw: IO[bytes], on_read: Callable[[int], None] | None) -> None:
        self._raw = raw
        self._on_read = on_read

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = self._raw.readinto(b)  # type: ignore[attr-defined]
        if n and self._on_read is not None:
            self._on_read(n)
        return n or 0


def _as_id(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value != value:  # NaN
        return None
    text = value if isinstance(value, str) else str(value)
    return text if text.strip() else None


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


def _read_delimited(path: Path, opts: IngestOptions, delimiter: str,
                    on_bytes: Callable[[int], None] | None) -> Iterator[_RawOrError]:
    source = path.name
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise DataError(f"cannot open {path}: {exc.strerror}") from None
    with raw:
        text = io.TextIOWrapper(io.BufferedReader(_CountingReader(raw, on_bytes)),
                                encoding=opts.encoding, errors="surrogateescape", newline="")
        reader = csv.reader(text, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            return  # empty file: no rows
        except csv.Error as exc:
            raise DataError(f"{source}: cannot parse the header: {exc}") from None
        if header and header[0].startswith("\ufeff"):
            header[0] = header[0][1:]
        _check_columns(source, header, opts)
        idx = {name: i for i, name in enumerate(header)}
        width = len(header)
        row = 0
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                row += 1
                yield RowError(row, "malformed_row", f"CSV parse error: {exc}", None, source)
                continue
            row += 1
            if not fields or (len(fields) == 1 and fields[0] == "" and width > 1):
                yield RowError(row, "malformed_row", "blank line", None, source)
                continue
            if len(fields) != width:
                yield RowError(row, "malformed_row", f"{len(fields)} fields, header has {width}",
                               _as_id(fields[idx[opts.id_column]]) if len(fields) > idx[opts.id_column] else None,
                               source)
                continue
            yield _Raw(
                row,
                _as_id(fields[idx[opts.id_column]]),
                {c: fields[idx[c]] for c in opts.text_columns},
                {c: fields[idx[c]] for c in opts.metadata_columns},
            )


def _read_jsonl(path: Path, opts: IngestOptions, on_bytes: Callable[[int], None] | None) -> Iterator[_RawOrError]:
    source = path.name
    try:
        fh = open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise DataError(f"cannot open {path}: {exc.strerror}") from None
    with fh:
        for row, line in enumerate(fh, start=1):
            if on_bytes is not None:
                on_bytes(len(line))
            if not line.strip():
                yield RowError(row, "malformed_row", "blank line", None, source)
                continue
            try:
                obj = json.loads(line.decode(opts.encoding))
            except UnicodeDecodeError:
                yield RowError(row, "undecodable", f"not valid {opts.encoding}", None, source)
                continue
            except json.JSONDecodeError as exc:
                yield RowError(row, "malformed_row", f"invalid JSON: {exc.msg}", None, source)
                continue
            if not isinstance(obj, dict):
                yield RowError(row, "malformed_row", "line is not a JSON object", None, source)
                continue
            missing = [c for c in (opts.id_column, *opts.text_columns) if c not in obj]
            if opts.id_column in missing:
                yield RowError(row, "missing_id", f"no {opts.id_column!r} field", None, source)
                continue
            yield _Raw(
                row,
                _as_id(obj.get(opts.id_column)),
                {c: obj.get(c) for c in opts.text_columns},
                {c: str(obj.get(c, "")) for c in opts.metadata_columns},
            )


def _read_parquet(path: Path, opts: IngestOptions, batch_size: int = 10_000) -> Iterator[_RawOrError]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path.name} as Parquet: {exc}") from None
    _check_columns(path.name, pf.schema_arrow.names, opts)
    columns = list(dict.fromkeys([opts.id_column, *opts.text_columns, *opts.metadata_columns]))
    row = 0
    for batch in pf.iter_batches(batch_size=batch_size, columns=columns):
        for rec in batch.to_pylist():
            row += 1
            yield _Raw(
                row,
                _as_id(rec.get(opts.id_column)),
                {c: rec.get(c) for c in opts.text_columns},
                {c: "" if rec.get(c) is None else str(rec.get(c)) for c in opts.metadata_columns},
            )


def _read_txt_dir(path: Path, opts: IngestOptions, on_bytes: Callable[[int], None] | None) -> Iterator[_RawOrError]:
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".txt")
    for row, fpath in enumerate(files, start=1):
        try:
            data = fpath.read_bytes()
        except OSError as exc:
            yield RowError(row, "unreadable", exc.strerror or "cannot read", fpath.stem, fpath.name)
            continue
        if on_bytes is not None:
            on_bytes(len(data))
        try:
            text = data.decode(opts.encoding)
        except UnicodeDecodeError:
            yield RowError(row, "undecodable", f"not valid {opts.encoding}", fpath.stem, fpath.name)
            continue
        yield _Raw(row, fpath.stem, {"text": text}, {})


def _raw_rows(path: Path, fmt: str, opts: IngestOptions,
              on_bytes: Callable[[int], None] | None) -> Iterator[_RawOrError]:
    if fmt == "csv":
        return _read_delimited(path, opts, ",", on_bytes)
    if fmt == "tsv":
        return _read_delimited(path, opts, "\t", on_bytes)
    if fmt == "jsonl":
        return _read_jsonl(path, opts, on_bytes)
    if fmt == "parquet":
        return _read_parquet(path, opts)
    if fmt == "txt":
        if not path.is_dir():
            raise DataError(f"{path} is not a directory of .txt files")
        return _read_txt_dir(path, replace_text_columns(opts), on_bytes)
    raise ConfigError(f"unknown input format {fmt!r}")


def replace_text_columns(opts: IngestOptions) -> IngestOptions:
    """Options for a ``.txt`` folder: one implicit ``text`` column, the stem as id."""
    return IngestOptions(opts.id_column, ("text",), opts.format, opts.duplicates, opts.max_chars, opts.encoding)


def _to_report(raw: _Raw, opts: IngestOptions, source: str) -> Report | RowError:
    if raw.study_uid is None:
        return RowError(raw.row, "missing_id", f"empty {opts.id_column!r}", None, source)
    values = list(raw.texts.values())
    for value in (raw.study_uid, *values):
        if isinstance(value, str):
            if "\x00" in value:
                return RowError(raw.row, "nul_byte", "text contains NUL bytes", raw.study_uid, source)
            if _SURROGATE.search(value):
                return RowError(raw.row, "undecodable", f"bytes that are not valid {opts.encoding}",
                                raw.study_uid, source)
    for col, value in raw.texts.items():
        if value is not None and not isinstance(value, str):
            return RowError(raw.row, "malformed_row", f"{col!r} is not text", raw.study_uid, source)
    text = join_text_columns(raw.texts)
    if not text.strip():
        return RowError(raw.row, "empty_text", "no report text", raw.study_uid, source)
    if len(text) > opts.max_chars:
        return RowError(raw.row, "too_long", f"{len(text)} characters > --max-chars {opts.max_chars}",
                        raw.study_uid, source)
    return Report(raw.study_uid, text, source, (raw.row,), dict(raw.meta))


def _count_ids(path: Path, fmt: str, opts: IngestOptions) -> Counter[str]:
    counts: Counter[str] = Counter()
    for item in _raw_rows(path, fmt, opts, None):
        if isinstance(item, _Raw) and item.study_uid is not None:
            counts[item.study_uid] += 1
    return counts


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
        A CSV/TSV/JSONL/Parquet file or a folder of ``.txt`` files.
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
    """
    opts = options or IngestOptions()
    p = Path(path)
    if not p.exists():
        raise DataError(f"input not found: {p}")
    fmt = detect_format(p, opts.format)
    source = p.name
    dup_counts: Counter[str] | None = None
    if opts.duplicates == "merge":
        dup_counts = _count_ids(p, fmt, opts)
    seen: set[str] = set()
    pending: dict[str, list[Report]] = {}
    for item in _raw_rows(p, fmt, opts, on_bytes):
        if isinstance(item, RowError):
            yield item
            continue
        result = _to_report(item, opts, source)
        if isinstance(result, RowError):
            yield result
            continue
        uid = result.study_uid
        if dup_counts is not None and dup_counts[uid] > 1:
            group = pending.setdefault(uid, [])
            group.append(result)
            if len(group) == dup_counts[uid]:
                del pending[uid]
                yield _merge(group)
            continue
        if uid in seen:
            if opts.duplicates == "keep-first":
                yield RowError(result.rows[0], "duplicate_id", "later row of an id already read (kept the first)",
                               uid, source, fatal=False)
            else:
                yield RowError(result.rows[0], "duplicate_id", "id already used by an earlier row", uid, source)
            continue
        seen.add(uid)
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


def input_size(path: str | Path) -> int:
    """Total bytes of an input (file size, or the sum of a folder's ``.txt`` files)."""
    p = Path(path)
    if p.is_dir():
        return sum(f.stat().st_size for f in p.iterdir() if f.is_file() and f.suffix.lower() == ".txt")
    try:
        return os.path.getsize(p)
    except OSError:
        return 0
