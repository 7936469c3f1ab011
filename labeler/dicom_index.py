"""Index a DICOM tree: one row per readable DICOM file, headers only, parallel and resumable.

:func:`index_dicom` walks a folder, reads each file's header with pydicom
(``stop_before_pixels=True``: pixel data is never loaded) and records the keys an image pipeline
joins on: StudyInstanceUID, SeriesInstanceUID, SOPInstanceUID, AccessionNumber, PatientID,
Modality, ViewPosition, BodyPartExamined, StudyDate and the file's path (relative to the folder).

Nothing is dropped silently: every file under the folder yields one index row or one line in
``<out>.errors.jsonl`` with a reason:

``not_dicom``
    no DICOM preamble / ``DICM`` prefix (text files, images, DICOM without the Part-10 header
    unless ``force=True``).
``empty_file``
    zero bytes.
``unreadable``
    the operating system refused to read it (permissions, vanished file).
``corrupt``
    pydicom could not parse the header.
``truncated``
    the pixel data element runs past the end of the file (a partial copy or download).
``no_pixel_data``
    an image object (image SOP class, or Rows/Columns present) whose file ends before the
    pixel data: usually a file cut inside its header.
``dicomdir``
    a DICOMDIR (media directory), which indexes other files and is not an image.
``missing_study_uid``
    a readable DICOM object without StudyInstanceUID: it cannot be linked to a report.

Resumability: files are processed in parts (``part_size`` files each). Each finished part is
committed under ``<out>.parts/`` (its errors first, then its index rows, each written to a temp
file and renamed), so an interrupted run loses at most the part in flight. Rerun with
``resume=True`` (``--resume``) to skip every file a committed part already holds; the parts are
merged into ``<out>`` (sorted by path), ``<out>.errors.jsonl`` and ``<out>.meta.json`` at the end.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import json
import logging
import os
import shutil
import struct
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ._version import __version__
from .errors import ConfigError, DataError
from .export import sidecar_paths, write_json

__all__ = [
    "INDEX_COLUMNS",
    "ERROR_REASONS",
    "IndexSummary",
    "index_dicom",
    "read_dicom_header",
    "read_index",
    "require_pydicom",
]

log = logging.getLogger(__name__)

#: index columns: our name -> DICOM keyword (``None``: not a DICOM attribute)
_FIELDS: dict[str, str | None] = {
    "path": None,
    "study_uid": "StudyInstanceUID",
    "series_uid": "SeriesInstanceUID",
    "sop_uid": "SOPInstanceUID",
    "sop_class_uid": "SOPClassUID",
    "accession": "AccessionNumber",
    "patient_id": "PatientID",
    "modality": "Modality",
    "view_position": "ViewPosition",
    "body_part": "BodyPartExamined",
    "laterality": "ImageLaterality",
    "study_date": "StudyDate",
    "series_number": "SeriesNumber",
    "instance_number": "InstanceNumber",
    "transfer_syntax_uid": None,
}
#: the columns of an index, in order (all strings; missing values are null)
INDEX_COLUMNS: tuple[str, ...] = tuple(_FIELDS)
ERROR_REASONS = ("not_dicom", "empty_file", "unreadable", "corrupt", "truncated", "no_pixel_data", "dicomdir",
                 "missing_study_uid")

_PIXEL_TAGS = {(0x7FE0, 0x0010), (0x7FE0, 0x0008), (0x7FE0, 0x0009)}
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
_ALL_VRS = _LONG_VRS | {b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT",
                        b"PN", b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US"}
_UNDEFINED = 0xFFFFFFFF
_DICOMDIR_CLASS = "1.2.840.10008.1.3.10"


def require_pydicom() -> Any:
    """Import pydicom, or raise a :class:`~labeler.errors.ConfigError` saying how to install it."""
    try:
        import pydicom
    except ImportError:
        raise ConfigError(
            "reading DICOM needs pydicom: pip install 'radlabeler[images]'", code="missing_dependency"
        ) from None
    return pydicom


@dataclass
class IndexSummary:
    """What an indexing run did (also written to ``<out>.meta.json``)."""

    root: str
    output: str
    n_files: int = 0
    n_indexed: int = 0
    n_errors: int = 0
    n_resumed: int = 0
    error_reasons: dict[str, int] = field(default_factory=dict)
    n_studies: int = 0
    n_series: int = 0
    n_patients: int = 0
    n_duplicate_sop_uids: int = 0
    modalities: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    errors_file: str | None = None
    meta_file: str = ""

    @property
    def files_per_second(self) -> float:
        done = self.n_files - self.n_resumed
        return done / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["files_per_second"] = round(self.files_per_second, 1)
        return d


# --------------------------------------------------------------------------------------------
# one file


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        text = "\\".join(str(v) for v in value)
    else:
        text = str(value)
    text = text.replace("\x00", "").strip()
    return text or None


def _pixel_end(fh: Any, ds: Any, size: int) -> tuple[str, str] | None:
    """Check the pixel data element the reader stopped at; a (reason, detail) if the file is cut short."""
    pos = fh.tell()
    _, little = getattr(ds, "original_encoding", (None, None))
    if little is None:
        return None
    endian = "<" if little else ">"
    head = fh.read(8)
    if len(head) < 8:
        return ("truncated", "file ends inside the pixel data element header")
    group, elem = struct.unpack(endian + "HH", head[:4])
    if (group, elem) not in _PIXEL_TAGS:
        return None  # stopped somewhere else (should not happen); nothing to check
    # the VR as written, not as declared: some files say explicit VR and are implicit (pydicom reads both)
    explicit = head[4:6] in _ALL_VRS
    if not explicit:
        (length,) = struct.unpack(endian + "L", head[4:8])
        header = 8
    elif head[4:6] in _LONG_VRS:
        more = fh.read(4)
        if len(more) < 4:
            return ("truncated", "file ends inside the pixel data element header")
        (length,) = struct.unpack(endian + "L", more)
        header = 12
    else:
        (length,) = struct.unpack(endian + "H", head[6:8])
        header = 8
    if length == _UNDEFINED:  # encapsulated: fragments end with a sequence delimitation item
        delimiter = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00" if little else b"\xff\xfe\xe0\xdd\x00\x00\x00\x00"
        tail_start = max(pos + header, size - 4096)
        fh.seek(tail_start)
        if delimiter not in fh.read():
            return ("truncated", "encapsulated pixel data has no sequence delimiter (file cut short)")
        return None
    missing = pos + header + length - size
    if missing > 0:
        return ("truncated", f"pixel data needs {length} bytes, file ends {missing} bytes short")
    return None


def _is_image(ds: Any, sop_class: str | None) -> bool:
    if "Rows" in ds and "Columns" in ds:
        return True
    if not sop_class:
        return False
    from pydicom.uid import UID

    return "Image Storage" in UID(sop_class).name


def read_dicom_header(path: str | Path, *, root: str | Path | None = None,
                      force: bool = False) -> dict[str, Any]:
    """Read one file's header (never its pixels) into an index row, or an error record.

    Parameters
    ----------
    path : str or Path
    root : str or Path, default=None
        The row's ``path`` is made relative to it (POSIX separators).
    force : bool, default=False
        Also read files without the DICOM Part-10 preamble (pydicom's ``force``). Non-DICOM
        files may then parse as empty datasets; they end up as ``missing_study_uid``.

    Returns
    -------
    dict
        Either ``{"row": {column: str | None}}`` or ``{"error": {"path", "reason", "detail"}}``.
        Errors never carry header values (patient data), only pydicom's or the OS's message.
    """
    pydicom = require_pydicom()
    from pydicom.errors import InvalidDicomError

    p = Path(path)
    rel = p.relative_to(root).as_posix() if root is not None else p.as_posix()

    def error(reason: str, detail: str) -> dict[str, Any]:
        return {"error": {"path": rel, "reason": reason, "detail": detail[:300]}}

    try:
        size = p.stat().st_size
    except OSError as exc:
        return error("unreadable", f"{type(exc).__name__}: {exc.strerror or exc}")
    if size == 0:
        return error("empty_file", "0 bytes")
    try:
        with open(p, "rb") as fh, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ds = pydicom.dcmread(fh, stop_before_pixels=True, force=force)
            except InvalidDicomError as exc:
                return error("not_dicom", str(exc) or "not a DICOM file")
            meta = getattr(ds, "file_meta", None)
            ts = _text(meta.get("TransferSyntaxUID")) if meta is not None else None
            media_class = _text(meta.get("MediaStorageSOPClassUID")) if meta is not None else None
            if media_class == _DICOMDIR_CLASS or "DirectoryRecordSequence" in ds:
                return error("dicomdir", "DICOMDIR (media directory), not an image")
            row: dict[str, Any] = {"path": rel, "transfer_syntax_uid": ts}
            for column, keyword in _FIELDS.items():
                if keyword is not None:
                    row[column] = _text(ds.get(keyword))
            if not row["laterality"] and "Laterality" in ds:
                row["laterality"] = _text(ds.Laterality)
            sop_class = row["sop_class_uid"] or media_class
            deflated = ts is not None and ts == "1.2.840.10008.1.2.1.99"
            stopped_at_pixels = fh.tell() < size
            if stopped_at_pixels and not deflated:
                problem = _pixel_end(fh, ds, size)
                if problem is not None:
                    return error(*problem)
            elif not stopped_at_pixels and not deflated and _is_image(ds, sop_class) and not any(
                    t in ds for t in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
                return error("no_pixel_data", "image object without pixel data (cut inside its header, or incomplete)")
    except OSError as exc:
        return error("unreadable", f"{type(exc).__name__}: {exc.strerror or exc}")
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types on damaged files
        return error("corrupt", f"{type(exc).__name__}: {exc}")
    if not row["study_uid"]:
        return error("missing_study_uid", "DICOM object without StudyInstanceUID")
    return {"row": row}


def _read_batch(args: tuple[list[str], str, bool]) -> list[dict[str, Any]]:
    paths, root, force = args
    return [read_dicom_header(p, root=root, force=force) for p in paths]


# --------------------------------------------------------------------------------------------
# the tree


def _walk(root: Path, patterns: Sequence[str], exclude: set[Path]) -> tuple[list[Path], list[dict[str, Any]]]:
    """Every regular file under ``root`` (symlinked folders not followed), sorted, minus ``exclude``.

    Folders that cannot be listed are returned as error records (reason ``unreadable``).
    """
    out: list[Path] = []
    errors: list[dict[str, Any]] = []

    def on_error(exc: OSError) -> None:
        where = Path(exc.filename) if exc.filename else root
        rel = where.relative_to(root).as_posix() if where != root else "."
        errors.append({"path": rel + "/", "reason": "unreadable",
                       "detail": f"folder cannot be listed: {type(exc).__name__}: {exc.strerror or exc}"})

    for dirpath, dirnames, filenames in os.walk(root, onerror=on_error, followlinks=False):
        d = Path(dirpath)
        dirnames[:] = sorted(n for n in dirnames if d / n not in exclude)
        for name in sorted(filenames):
            path = d / name
            if path in exclude:
                continue
            if patterns and not any(fnmatch.fnmatch(name, pat) for pat in patterns):
                continue
            out.append(path)
    return out, errors


def _schema() -> Any:
    import pyarrow as pa

    return pa.schema([pa.field(c, pa.string()) for c in INDEX_COLUMNS])


def _write_part(parts: Path, number: int, rows: list[dict[str, Any]], errors: list[dict[str, Any]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    err_path = parts / f"part-{number:06d}.errors.jsonl"
    tmp = err_path.with_name(err_path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(e, ensure_ascii=False) + "\n" for e in errors)
    os.replace(tmp, err_path)
    table = pa.Table.from_pylist(rows, schema=_schema())
    part = parts / f"part-{number:06d}.parquet"
    tmp = part.with_name(part.name + ".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, part)  # the commit point of this part


def _committed_parts(parts: Path) -> list[tuple[Path, Path]]:
    """(index part, errors part) pairs that were committed; leftovers of the part in flight are removed."""
    out = []
    for leftover in parts.glob("*.tmp"):
        leftover.unlink()
    for err in sorted(parts.glob("part-*.errors.jsonl")):
        part = err.with_name(err.name.replace(".errors.jsonl", ".parquet"))
        if part.exists():
            out.append((part, err))
        else:
            err.unlink()
    return out


def _read_errors(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def index_dicom(
    root: str | Path,
    output: str | Path,
    *,
    n_jobs: int = 1,
    part_size: int = 2000,
    resume: bool = False,
    overwrite: bool = False,
    force: bool = False,
    patterns: Sequence[str] = (),
    on_progress: Callable[[int, int], None] | None = None,
    command: str | None = None,
) -> IndexSummary:
    """Index every DICOM file under ``root`` into ``output`` (Parquet), headers only.

    Parameters
    ----------
    root : str or Path
        The folder to walk (recursively; symlinked folders are not followed).
    output : str or Path
        The index (Parquet, one row per DICOM file, columns :data:`INDEX_COLUMNS`, all strings,
        ``path`` relative to ``root``). ``<out>.errors.jsonl`` lists the files that are not in the
        index, with a reason; ``<out>.meta.json`` holds the root, options and counts.
    n_jobs : int, default=1
        Worker processes reading headers (``-1``: one per CPU). Output is identical for any value.
    part_size : int, default=2000
        Files per committed part (the unit an interrupted run can lose).
    resume : bool, default=False
        Continue an interrupted run: keep its committed parts and read only the other files.
    overwrite : bool, default=False
        Replace an existing index (and discard an interrupted run's parts).
    force : bool, default=False
        Read files without the DICOM Part-10 preamble too (pydicom ``force=True``).
    patterns : sequence of str, default=()
        File-name globs to read (e.g. ``("*.dcm",)``); empty reads every file.
    on_progress : callable(n_done, n_total), default=None
    command : str, default=None
        The command line, recorded in the meta file.

    Returns
    -------
    IndexSummary
    """
    require_pydicom()
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = Path(root).absolute()
    if not src.is_dir():
        raise DataError(f"not a folder: {root}")
    if part_size < 1:
        raise ConfigError("part_size must be at least 1")
    n_workers = (os.cpu_count() or 1) if n_jobs == -1 else n_jobs
    if n_workers < 1:
        raise ConfigError("n_jobs must be a positive number or -1")
    out = Path(output)
    side = sidecar_paths(out)
    parts = out.with_name(out.name + ".parts")
    state_file = parts / "state.json"
    state = {"root": str(src.resolve()), "force": force, "patterns": list(patterns), "engine_version": __version__}
    existing = [p for p in (out, side["meta"], side["errors"]) if p.exists()]
    if existing and not (overwrite or resume):
        raise ConfigError(f"output exists: {', '.join(map(str, existing))} (pass --overwrite to replace)",
                          code="output_exists")
    if resume and not parts.exists() and out.exists():
        raise ConfigError(f"nothing to resume: {out} is complete (pass --overwrite to rebuild it)",
                          code="nothing_to_resume")
    if parts.exists():
        if resume and state_file.exists():
            previous = json.loads(state_file.read_text(encoding="utf-8"))
            if {k: previous.get(k) for k in state if k != "engine_version"} != \
                    {k: v for k, v in state.items() if k != "engine_version"}:
                raise ConfigError(f"{parts} was started with other options ({previous}); rerun with --overwrite",
                                  code="resume_mismatch")
        elif overwrite or resume:
            shutil.rmtree(parts)
        else:
            raise ConfigError(f"an interrupted run left {parts}: pass --resume to continue it or --overwrite to "
                              "start again", code="parts_exist")
    out.parent.mkdir(parents=True, exist_ok=True)
    parts.mkdir(parents=True, exist_ok=True)
    write_json(state_file, state)

    start = time.perf_counter()
    exclude = {p.absolute() for p in (out, side["meta"], side["errors"], parts, out.with_name(out.name + ".tmp"))}
    files, walk_errors = _walk(src, patterns, exclude)
    committed = _committed_parts(parts)
    done: set[str] = set()
    for part, err in committed:
        done.update(pq.read_table(part, columns=["path"]).column("path").to_pylist())
        done.update(e["path"] for e in _read_errors(err))
    todo = [f for f in files if f.relative_to(src).as_posix() not in done]
    summary = IndexSummary(root=str(src.resolve()), output=str(out), meta_file=str(side["meta"]))
    summary.n_resumed = len(files) - len(todo)
    next_part = 1 + max((int(p.name[5:11]) for p, _ in committed), default=-1)
    n_done = summary.n_resumed
    if on_progress is not None:
        on_progress(n_done, len(files))

    def batches(paths: list[Path]) -> Iterator[tuple[list[str], str, bool]]:
        step = max(1, min(64, len(paths) // (n_workers * 4) or 1))
        for i in range(0, len(paths), step):
            yield [str(p) for p in paths[i:i + step]], str(src), force

    pool = ProcessPoolExecutor(max_workers=n_workers) if n_workers > 1 else None
    try:
        for i in range(0, len(todo), part_size):
            chunk = todo[i:i + part_size]
            rows: list[dict[str, Any]] = []
            errors: list[dict[str, Any]] = []
            results = pool.map(_read_batch, batches(chunk)) if pool else map(_read_batch, batches(chunk))
            for batch in results:
                for rec in batch:
                    (rows if "row" in rec else errors).append(rec.get("row") or rec["error"])
                n_done += len(batch)
                if on_progress is not None:
                    on_progress(n_done, len(files))
            _write_part(parts, next_part, rows, errors)
            next_part += 1
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)

    # merge the parts
    committed = _committed_parts(parts)
    tables = [pq.read_table(p, schema=_schema()) for p, _ in committed]
    table = pa.concat_tables(tables) if tables else _schema().empty_table()
    table = table.sort_by([("path", "ascending")])
    errors = sorted([*(e for _, err in committed for e in _read_errors(err)), *walk_errors], key=lambda e: e["path"])
    meta_root = {b"labeler_index": json.dumps({"root": summary.root, "engine_version": __version__}).encode()}
    table = table.replace_schema_metadata(meta_root)
    tmp = out.with_name(out.name + ".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, out)
    if errors:
        with open(side["errors"], "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(e, ensure_ascii=False) + "\n" for e in errors)
    elif side["errors"].exists():
        side["errors"].unlink()

    summary.seconds = time.perf_counter() - start
    summary.n_files = len(files)
    summary.n_indexed = table.num_rows
    summary.n_errors = len(errors)
    summary.error_reasons = dict(sorted(Counter(e["reason"] for e in errors).items()))
    summary.errors_file = str(side["errors"]) if errors else None
    frame = table.select(["study_uid", "series_uid", "patient_id", "sop_uid", "modality"]).to_pandas()
    summary.n_studies = int(frame["study_uid"].nunique())
    summary.n_series = int(frame["series_uid"].nunique())
    summary.n_patients = int(frame["patient_id"].nunique())
    sops = frame["sop_uid"].dropna()
    summary.n_duplicate_sop_uids = int(sops.duplicated().sum())
    summary.modalities = {str(k): int(v) for k, v in frame["modality"].fillna("").value_counts().sort_index().items()}
    meta = {
        "engine_version": __version__,
        "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "root": summary.root,
        "output": {"path": str(out), "columns": list(INDEX_COLUMNS)},
        "options": {"force": force, "patterns": list(patterns), "n_jobs": n_workers, "part_size": part_size},
        "counts": {k: v for k, v in summary.to_dict().items()
                   if k.startswith("n_") or k in ("error_reasons", "modalities")},
        "timing": {"seconds": round(summary.seconds, 3), "files_per_second": round(summary.files_per_second, 1)},
        "command": command or " ".join(sys.argv),
    }
    write_json(side["meta"], meta)
    shutil.rmtree(parts)
    log.info("indexed %d files (%d errors) in %.1f s", summary.n_indexed, summary.n_errors, summary.seconds)
    return summary


def read_index(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """Read an index written by :func:`index_dicom` (Parquet) or a CSV with the same columns.

    Returns
    -------
    (DataFrame, dict)
        The rows (all columns strings, missing values ``None``) and the index's metadata
        (``root`` when known).
    """
    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise DataError(f"index not found: {path}")
    meta: dict[str, Any] = {}
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            table = pq.read_table(p)
            raw = (table.schema.metadata or {}).get(b"labeler_index")
            if raw:
                meta = json.loads(raw)
            frame = table.to_pandas()
        else:
            frame = pd.read_csv(p, dtype=str, keep_default_na=False, sep="\t" if p.suffix == ".tsv" else ",")
            frame = frame.replace({"": None})
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read index {p.name}: {exc}") from None
    missing = [c for c in ("path", "study_uid") if c not in frame.columns]
    if missing:
        raise DataError(f"{p.name} is not an image index: missing column(s) {', '.join(missing)}")
    for col in INDEX_COLUMNS:
        if col not in frame.columns:
            frame[col] = None
    frame = frame.astype(object).where(frame.notna(), None)
    return frame, meta
