"""Batch labeling: an input archive in, a labels file + errors file + ``.meta.json`` out.

:func:`label_corpus` is the library function under ``labeler label``. It is built to be pointed
at a whole archive and left alone:

* **Streaming.** Reports are read, labeled and written in chunks of ``chunk_size``; memory does
  not grow with the corpus (at most ``2 x workers`` chunks are in flight).
* **Parallel.** ``workers=N`` labels chunks in ``N`` spawned processes, ``engine="dask"`` on a
  Dask cluster; each worker builds its labeler once (from a :class:`LabelerSpec`, or from a
  labeler whose pickled form holds only its constructor parameters). Output order is input order.
* **Resumable.** Each labeled chunk is committed atomically as a part file
  (``<out>.parts/part-000123.<fmt>``, its error lines in ``<out>.parts/_errors/``) and then
  recorded in an append-only journal, ``<out>.parts/_manifest.jsonl`` (chunk number, input rows
  and bytes, a digest of the chunk's input, checksums and counts of both files). A run killed at
  any moment — ``kill -9`` included — continues with ``resume=True``: committed chunks are
  verified and skipped, the rest labeled, and the parts assembled in input order. The result is
  byte-for-byte the output of an uninterrupted run, one row per input row, and the errors file
  lists each failed row exactly once. Resuming checks that the options, the labeler (with its
  ruleset hash) and the input are those of the interrupted run, and refuses otherwise. The
  number of workers and the engine may change between attempts.
* **Partitioned output.** An output path ending in ``/`` (or an existing folder) keeps the part
  files as the result (``labels/part-000000.parquet`` ...), readable by pandas, pyarrow, Dask or
  Spark; the manifest inside is ``_manifest.jsonl`` (ignored by those readers).

A file at the output path is always a finished one: the labels are assembled into
``<out>.partial`` and renamed.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import platform
import shutil
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from ._parallel import LABEL_VALUES, ChunkOutput, LabelerSpec, WorkerContext, WorkerError, make_executor
from ._util import chunked, file_sha256
from ._version import __version__
from .errors import ConfigError, DataError
from .export import ExtraColumn, output_format_for, render_results, sidecar_paths, write_json
from .ingest import IngestOptions, detect_format, input_files, read_reports
from .labelers.base import Labeler, check_fitted
from .records import Report, RowError

__all__ = ["RunSummary", "label_corpus", "chunked", "LabelerSpec", "WorkerError", "ENGINES", "parts_dir"]

log = logging.getLogger(__name__)

ENGINES = ("local", "dask")
_MANIFEST_VERSION = 1
_EXT = {"csv": "csv", "jsonl": "jsonl", "parquet": "parquet"}


@dataclass
class RunSummary:
    """What a run did (also written to ``<out>.meta.json``). Counts cover resumed chunks too."""

    input: str
    output: str
    output_format: str
    n_rows: int = 0
    n_labeled: int = 0
    n_errors: int = 0
    n_skipped: int = 0
    error_reasons: dict[str, int] = field(default_factory=dict)
    #: per output column: counts of "1", "0", "-1", "" (blank)
    label_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: float = 0.0
    #: part of ``seconds`` spent building the labeler in this process (spaCy/medspaCy/model load)
    setup_seconds: float = 0.0
    errors_file: str | None = None
    meta_file: str = ""
    engine: str = "local"
    workers: int = 1
    n_chunks: int = 0
    #: chunks (and the reports labeled in them) taken over from an interrupted run
    n_resumed_chunks: int = 0
    n_resumed_labeled: int = 0
    #: True when ``resume`` found the run already complete and did nothing
    already_complete: bool = False

    @property
    def reports_per_second(self) -> float:
        """Reports labeled per second by this invocation, setup excluded (resumed chunks excluded)."""
        n = self.n_labeled - self.n_resumed_labeled
        busy = self.seconds - self.setup_seconds
        return n / busy if busy > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["reports_per_second"] = round(self.reports_per_second, 1)
        return d


# --------------------------------------------------------------------------------------------
# files: layout, atomic writes, the manifest journal


def _is_partitioned(path: str | Path) -> bool:
    return str(path).endswith(("/", os.sep)) or Path(path).is_dir()


def parts_dir(output: str | Path, partitioned: bool | None = None) -> Path:
    """Where the part files and manifest of a run writing ``output`` live (``partitioned``: known
    already, else read from ``output``)."""
    out = Path(output)
    if partitioned is None:
        partitioned = _is_partitioned(output)
    return out if partitioned else out.with_name(out.name + ".parts")


@dataclass(frozen=True)
class _Layout:
    out: Path
    fmt: str
    partitioned: bool

    @property
    def parts(self) -> Path:
        return parts_dir(self.out, self.partitioned)

    @property
    def manifest(self) -> Path:
        return self.parts / "_manifest.jsonl"

    @property
    def errors_dir(self) -> Path:
        return self.parts / "_errors"

    def part(self, k: int) -> Path:
        return self.parts / f"part-{k:06d}.{_EXT[self.fmt]}"

    def errors_part(self, k: int) -> Path:
        return self.errors_dir / f"part-{k:06d}.jsonl"

    @property
    def side(self) -> dict[str, Path]:
        return sidecar_paths(self.out)

    @property
    def partial(self) -> Path:
        return self.out.with_name(self.out.name + ".partial")

    def ours(self, p: Path) -> bool:
        """Whether ``p`` (inside :attr:`parts`) is a file this engine writes there."""
        name = p.name
        return (name in ("_manifest.jsonl", "_errors") or (name.startswith("part-") and name.endswith(
            f".{_EXT[self.fmt]}")) or (name.startswith((".part-", "._manifest")) and name.endswith(".tmp")))

    def has_run(self) -> bool:
        return self.parts.is_dir() and (self.manifest.exists() or any(
            self.ours(p) for p in self.parts.iterdir()))

    def remove_run(self) -> None:
        if not self.parts.is_dir():
            return
        if not self.partitioned:
            shutil.rmtree(self.parts)
            return
        for p in self.parts.iterdir():
            if self.ours(p):
                shutil.rmtree(p) if p.is_dir() else p.unlink()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_sha256(path: Path) -> str | None:
    try:
        return file_sha256(path)
    except OSError:
        return None


class _Manifest:
    """The append-only journal of a run: a header line, then one line per committed chunk.

    A line is written with one ``write`` and fsynced; a torn last line (a kill mid-write) is
    dropped on load. The last record of a chunk wins (a chunk redone after a bad checksum).
    """

    def __init__(self, path: Path, header: dict[str, Any], chunks: dict[int, dict[str, Any]],
                 end: dict[str, Any] | None) -> None:
        self.path = path
        self.header = header
        self.chunks = chunks
        self.end = end
        self._fh: IO[bytes] | None = None

    @classmethod
    def create(cls, path: Path, header: dict[str, Any]) -> _Manifest:
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(path, (json.dumps({"header": header}) + "\n").encode())
        _fsync_dir(path.parent)
        return cls(path, header, {}, None)

    @classmethod
    def load(cls, path: Path) -> _Manifest:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}", code="resume_failed") from None
        header: dict[str, Any] | None = None
        chunks: dict[int, dict[str, Any]] = {}
        end = None
        good = 0
        for raw in data.split(b"\n")[:-1]:  # the piece after the last newline is empty or torn
            try:
                rec = json.loads(raw)
            except ValueError:
                break
            if not isinstance(rec, dict):
                break
            if "header" in rec:
                header = rec["header"]
            elif "chunk" in rec:
                chunks[int(rec["chunk"])] = rec
            elif "end" in rec:
                end = rec
            good += len(raw) + 1
        if header is None or header.get("version") != _MANIFEST_VERSION:
            raise ConfigError(f"{path} is not a manifest this version can resume; pass --overwrite to start over",
                              code="resume_failed")
        if good < len(data):  # drop a torn last line
            with open(path, "r+b") as fh:
                fh.truncate(good)
        return cls(path, header, chunks, end)

    def append(self, record: dict[str, Any]) -> None:
        if self._fh is None:
            self._fh = open(self.path, "ab")  # noqa: SIM115 - closed in close()
        self._fh.write((json.dumps(record, separators=(",", ":")) + "\n").encode())
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


# --------------------------------------------------------------------------------------------
# fingerprints


def _normalize(obj: Any) -> Any:
    return json.loads(json.dumps(obj, sort_keys=True, default=str))


def _input_fingerprint(path: Path, fmt: str) -> dict[str, Any]:
    """Names and sizes of the input files, with hashes of each data file's first and last MiB."""
    files = input_files(path, fmt)
    h = hashlib.sha256()
    total = 0
    for fpath, source in files:
        try:
            size = fpath.stat().st_size
        except OSError:
            size = -1
        total += max(size, 0)
        h.update(f"{source}\0{size}\n".encode("utf-8", "surrogateescape"))
        if fmt != "txt" and size > 0:
            with open(fpath, "rb") as fh:
                h.update(fh.read(1 << 20))
                if size > 1 << 20:
                    fh.seek(max(size - (1 << 20), 1 << 20))
                    h.update(fh.read())
    return {"files": len(files), "bytes": total, "sha256": h.hexdigest()}


def _chunk_digest(items: list[Report | RowError]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for it in items:
        if isinstance(it, Report):
            h.update(json.dumps([it.study_uid, it.source, it.rows, it.metadata], ensure_ascii=True).encode())
            h.update(it.text.encode("utf-8", "surrogatepass"))
        else:
            h.update(json.dumps(it.to_dict(), ensure_ascii=True).encode())
        h.update(b"\0")
    return h.hexdigest()


def _differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    keys = sorted(set(old) | set(new))
    out = []
    for k in keys:
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k}")
    return out


# --------------------------------------------------------------------------------------------
# the run


@dataclass
class _Totals:
    names: list[str]
    n_rows: int = 0
    n_labeled: int = 0
    n_errors: int = 0
    n_skipped: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    labels: list[list[int]] = field(default_factory=list)

    def add(self, rec: dict[str, Any]) -> None:
        self.n_rows += rec["n_rows"]
        self.n_labeled += rec["n_labeled"]
        self.n_errors += rec["n_errors"]
        self.n_skipped += rec["n_skipped"]
        self.reasons.update(rec["reasons"])
        if not self.labels:
            self.labels = [[0] * len(LABEL_VALUES) for _ in self.names]
        for acc, counts in zip(self.labels, rec["labels"]):
            for i, c in enumerate(counts):
                acc[i] += c

    def label_counts(self) -> dict[str, dict[str, int]]:
        rows = self.labels or [[0] * len(LABEL_VALUES) for _ in self.names]
        return {n: dict(zip(LABEL_VALUES, c)) for n, c in zip(self.names, rows)}


def _commit(layout: _Layout, manifest: _Manifest, k: int, out: ChunkOutput, meta: dict[str, Any]) -> dict[str, Any]:
    """Write a chunk's part files atomically, then record it in the manifest (the commit point)."""
    part = layout.part(k)
    _write_atomic(part, out.part)
    errors_name = None
    if out.errors:
        layout.errors_dir.mkdir(exist_ok=True)
        _write_atomic(layout.errors_part(k), out.errors)
        errors_name = layout.errors_part(k).name
    _fsync_dir(layout.parts)
    rec = {
        "chunk": k,
        "part": part.name,
        "part_sha256": _sha256(out.part),
        "errors_part": errors_name,
        "errors_sha256": _sha256(out.errors) if out.errors else None,
        **meta,
        "n_rows": out.n_rows,
        "n_labeled": out.n_labeled,
        "n_errors": out.n_errors,
        "n_skipped": out.n_skipped,
        "reasons": out.reasons,
        "labels": out.label_counts,
    }
    manifest.append(rec)
    return rec


def _valid(layout: _Layout, rec: dict[str, Any]) -> bool:
    """Whether a committed chunk's files are still there with their recorded checksums."""
    if _file_sha256(layout.parts / rec["part"]) != rec["part_sha256"]:
        return False
    if rec["errors_part"] is not None:
        return _file_sha256(layout.errors_dir / rec["errors_part"]) == rec["errors_sha256"]
    return True


def _assemble(layout: _Layout, n_chunks: int, ctx: WorkerContext) -> bool:
    """Concatenate the parts into the output (and the errors file); True when some row failed."""
    if not layout.partitioned:
        _assemble_labels(layout, n_chunks, ctx)
    errors = layout.side["errors"]
    error_parts = [layout.errors_part(k) for k in range(n_chunks) if layout.errors_part(k).exists()]
    if not error_parts:
        if errors.exists():
            errors.unlink()
        return False
    tmp = errors.with_name(errors.name + ".partial")
    with open(tmp, "wb") as dst:
        for p in error_parts:
            with open(p, "rb") as src:
                shutil.copyfileobj(src, dst)
        dst.flush()
        os.fsync(dst.fileno())
    os.replace(tmp, errors)
    return True


def _assemble_labels(layout: _Layout, n_chunks: int, ctx: WorkerContext) -> None:
    tmp = layout.partial
    if layout.fmt == "parquet":
        import pyarrow.parquet as pq

        empty = render_results([], ctx.fmt, ctx.observations, ctx.names, extra=ctx.extra, metadata=ctx.metadata)
        if n_chunks == 0:
            tmp.write_bytes(empty)
        else:
            writer = None
            try:
                for k in range(n_chunks):
                    table = pq.read_table(layout.part(k))
                    if writer is None:
                        writer = pq.ParquetWriter(tmp, table.schema)
                    if table.num_rows:
                        writer.write_table(table)
            finally:
                if writer is not None:
                    writer.close()
    else:
        header = render_results([], ctx.fmt, ctx.observations, ctx.names, extra=ctx.extra) if ctx.fmt == "csv" else b""
        with open(tmp, "wb") as dst:
            dst.write(header)
            for k in range(n_chunks):
                with open(layout.part(k), "rb") as src:
                    head = src.read(len(header))
                    if head != header:
                        raise ConfigError(f"{layout.part(k)} does not start with the expected header", code="bad_part")
                    shutil.copyfileobj(src, dst)
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, layout.out)


def _check_engine(engine: str, workers: int, scheduler: str | None, chunk_size: int) -> int:
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r} (choose from {', '.join(ENGINES)})")
    if scheduler and engine != "dask":
        raise ConfigError("--scheduler needs --engine dask")
    if workers < 0:
        raise ConfigError("workers must be >= 0 (0: one per CPU core)")
    if chunk_size < 1:
        raise ConfigError("chunk_size must be positive")
    return workers or (os.cpu_count() or 1)


def _prepare(layout: _Layout, fingerprint: dict[str, Any], overwrite: bool, resume: bool) -> _Manifest | dict[str, Any] | None:
    """Decide between a fresh run (``None``), a resumed one (its manifest), or a finished one (its meta)."""
    side = layout.side
    if resume and overwrite:
        raise ConfigError("--resume and --overwrite contradict each other; choose one")
    if layout.partitioned and layout.parts.is_dir():
        foreign = sorted(p.name for p in layout.parts.iterdir() if not layout.ours(p))
        if foreign:
            raise ConfigError(f"{layout.parts} holds other files ({', '.join(foreign[:3])}); "
                              "a folder output must be empty or a previous run's", code="output_exists")
    if resume and side["meta"].exists() and (layout.partitioned or layout.out.exists()):
        try:
            meta = json.loads(side["meta"].read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = {}
        if meta.get("fingerprint") == fingerprint:  # the meta file is written last: the run is complete
            if not layout.partitioned:
                layout.remove_run()  # killed while cleaning up
            return meta
    if layout.has_run() and _nothing_committed(layout):
        layout.remove_run()  # a run that stopped before its first commit (a bad option, say)
    if layout.has_run():
        if overwrite:
            layout.remove_run()
        elif resume and layout.manifest.exists():
            manifest = _Manifest.load(layout.manifest)
            diff = _differences(manifest.header["fingerprint"], fingerprint)
            if diff:
                raise ConfigError(f"cannot resume: the interrupted run in {layout.parts} used other settings or "
                                  f"input ({', '.join(diff)} differ); rerun it with the same command, or pass "
                                  "--overwrite to start over", code="resume_mismatch")
            return manifest
        elif resume:
            layout.remove_run()  # killed before its first commit: nothing to keep
        elif side["meta"].exists():
            raise ConfigError(f"output exists: {layout.parts} (pass --overwrite to replace it)", code="output_exists")
        else:
            raise ConfigError(f"an interrupted run left {layout.parts}; pass --resume to continue it, "
                              "or --overwrite to start over", code="output_exists")
    existing = [p for p in (layout.out, side["meta"], side["errors"])
                if p.exists() and not (layout.partitioned and p == layout.out)]
    if existing and not overwrite:
        names = ", ".join(str(p) for p in existing)
        raise ConfigError(f"output exists: {names} (pass --overwrite to replace)", code="output_exists")
    for p in existing:
        p.unlink()
    return None


def _nothing_committed(layout: _Layout) -> bool:
    if any(p.name.startswith("part-") for p in layout.parts.iterdir()):
        return False
    if not layout.manifest.exists():
        return True
    lines = layout.manifest.read_bytes().split(b"\n")
    return not any(line.startswith(b'{"chunk"') for line in lines)


def _summary_from_meta(meta: dict[str, Any], summary: RunSummary) -> RunSummary:
    c = meta["counts"]
    summary.n_rows, summary.n_labeled = c["rows"], c["labeled"]
    summary.n_errors, summary.n_skipped = c["errors"], c["skipped"]
    summary.error_reasons = dict(c["error_reasons"])
    summary.label_counts = c["labels"]
    summary.n_chunks = meta.get("run", {}).get("chunks", 0)
    summary.n_resumed_chunks = summary.n_chunks
    summary.n_resumed_labeled = summary.n_labeled
    summary.errors_file = meta.get("errors_file")
    summary.already_complete = True
    return summary


def label_corpus(
    input_path: str | Path,
    output_path: str | Path,
    labeler: Labeler | LabelerSpec,
    *,
    ingest: IngestOptions | None = None,
    output_format: str | None = None,
    overwrite: bool = False,
    chunk_size: int = 512,
    extra_columns: Iterable[ExtraColumn] = (),
    on_progress: Callable[[int, int], None] | None = None,
    command: str | None = None,
    workers: int = 1,
    resume: bool = False,
    engine: str = "local",
    scheduler: str | None = None,
) -> RunSummary:
    """Label every report of ``input_path`` with ``labeler`` and write ``output_path``.

    Parameters
    ----------
    input_path : str or Path
        CSV/TSV/JSONL/Parquet file, a folder of such part files, or a folder of ``.txt`` files
        (see :mod:`labeler.ingest`).
    output_path : str or Path
        Labels file; ``<out>.meta.json`` and (if any row failed) ``<out>.errors.jsonl`` go beside
        it. A path ending in ``/`` (or an existing folder) gets partitioned output: the part files
        themselves (``output_format`` is then required).
    labeler : Labeler or LabelerSpec
        With ``workers > 1`` or ``engine="dask"`` each worker rebuilds it: from a
        :class:`LabelerSpec` (``make_labeler(name, **params)``), or by unpickling the labeler,
        whose ``__getstate__`` must hold only constructor parameters.
    ingest : IngestOptions, default=None
    output_format : {"csv", "jsonl", "parquet"}, default=None
        ``None`` decides from the output extension.
    overwrite : bool, default=False
        Replace existing outputs (and the parts of an interrupted run) instead of refusing.
    chunk_size : int, default=512
        Reports per chunk: the unit of work, of commit and of resume. Part of the run's
        fingerprint (a run resumes only with the same chunk size).
    extra_columns : iterable of (suffix, function), default=()
        Extra per-observation columns (e.g. probabilities). Sent to workers (cloudpickle is used
        for lambdas and closures).
    on_progress : callable(bytes_done, n_labeled), default=None
        Called once before labeling starts (with what a resumed run already has) and after
        each committed chunk: input bytes of the committed chunks, reports labeled in all.
    command : str, default=None
        The command line, recorded in the meta file.
    workers : int, default=1
        Worker processes (``1``: label in this process; ``0``: one per CPU core). For
        ``engine="dask"`` without ``scheduler``: the size of the ``LocalCluster``. Workers are
        *spawned*: a script that calls this with ``workers > 1`` needs the usual
        ``if __name__ == "__main__":`` guard.
    resume : bool, default=False
        Continue an interrupted run of the same job (see the module docstring); with no
        interrupted run, start one; with a finished one, do nothing.
    engine : {"local", "dask"}, default="local"
    scheduler : str, default=None
        Dask scheduler address (``tcp://host:8786``) or scheduler file (``dask scheduler
        --scheduler-file``); ``None`` or ``"local"`` starts a ``LocalCluster`` of ``workers``
        processes.

    Returns
    -------
    RunSummary

    Raises
    ------
    ConfigError
        Bad options, output exists (without ``overwrite``/``resume``), or ``resume`` of a run
        with other settings or input.
    DataError
        The input cannot be read at all.
    WorkerError
        A worker process or the cluster failed (committed chunks are kept for ``resume``).
    """
    start = time.perf_counter()
    opts = ingest or IngestOptions()
    n_workers = _check_engine(engine, workers, scheduler, chunk_size)
    out = Path(output_path)
    partitioned = _is_partitioned(output_path)
    if partitioned and not output_format:
        raise ConfigError(f"{out}/ is a folder: pass --format csv|jsonl|parquet for partitioned output")
    fmt = output_format_for(out, output_format)
    layout = _Layout(out, fmt, partitioned)
    if not Path(input_path).exists():
        raise DataError(f"input not found: {input_path}")
    in_fmt = detect_format(input_path, opts.format)
    next(iter(read_reports(input_path, replace(opts, duplicates="keep-first"))), None)  # fail before any output

    spec = labeler
    lab = labeler.build() if isinstance(labeler, LabelerSpec) else labeler
    check_fitted(lab)  # before any output exists, whichever process labels
    setup_seconds = 0.0
    if engine == "local" and n_workers <= 1:
        t_setup = time.perf_counter()
        prepare = getattr(lab, "prepare", None)
        if callable(prepare):
            prepare()  # build compiled state now, so it is not counted as labeling time
        setup_seconds = time.perf_counter() - t_setup
    extra = tuple(extra_columns)
    info = lab.info()
    observations = tuple(lab.observations)
    ruleset = getattr(lab, "ruleset", None)
    names = tuple(ruleset.display_name(o) for o in observations) if ruleset is not None else observations
    fingerprint = _normalize({
        "engine_version": __version__,
        "labeler": info.to_dict(),
        "ingest": asdict(opts),
        "input_format": in_fmt,
        "input": _input_fingerprint(Path(input_path), in_fmt),
        "output_format": fmt,
        "partitioned": partitioned,
        "chunk_size": chunk_size,
        "extra_columns": [suffix for suffix, _ in extra],
    })

    summary = RunSummary(str(input_path), str(out), fmt, meta_file=str(layout.side["meta"]), engine=engine,
                         workers=n_workers, setup_seconds=setup_seconds)
    if not out.parent.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
    state = _prepare(layout, fingerprint, overwrite, resume)
    if isinstance(state, dict):
        log.info("nothing to resume: %s is complete", out)
        return _summary_from_meta(state, summary)
    if state is None:
        created_at = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        manifest = _Manifest.create(layout.manifest, {
            "version": _MANIFEST_VERSION, "run_id": uuid.uuid4().hex[:12], "created_at": created_at,
            "fingerprint": fingerprint,
        })
    else:
        manifest = state
        for p in [*layout.parts.glob(".part-*.tmp"), *layout.errors_dir.glob(".part-*.tmp")]:
            p.unlink()
    provenance: dict[str, Any] = {
        "engine_version": __version__,
        "labeler": info.to_dict(),
        "created_at": manifest.header["created_at"],
        "python": platform.python_version(),
    }
    ctx = WorkerContext(fmt, observations, names, extra, provenance)
    totals = _Totals(list(names))
    n_chunks, resumed = _run(layout, manifest, Path(input_path), opts, chunk_size, ctx, lab, spec, engine,
                             n_workers, scheduler, totals, on_progress)
    has_errors = _assemble(layout, n_chunks, ctx)
    manifest.close()

    summary.seconds = time.perf_counter() - start
    summary.n_rows, summary.n_labeled = totals.n_rows, totals.n_labeled
    summary.n_errors, summary.n_skipped = totals.n_errors, totals.n_skipped
    summary.error_reasons = dict(sorted(totals.reasons.items()))
    summary.label_counts = totals.label_counts()
    summary.errors_file = str(layout.side["errors"]) if has_errors else None
    summary.n_chunks = n_chunks
    summary.n_resumed_chunks, summary.n_resumed_labeled = resumed
    meta = {
        **provenance,
        "input": {
            "path": str(input_path),
            "format": in_fmt,
            "bytes": fingerprint["input"]["bytes"],
            "files": fingerprint["input"]["files"],
            "id_column": opts.id_column,
            "text_columns": list(opts.text_columns),
            "duplicates": opts.duplicates,
            "max_chars": opts.max_chars,
        },
        "output": {"path": str(out), "format": fmt, "partitioned": partitioned, "columns": ["study_uid", *names],
                   **({"parts": [layout.part(k).name for k in range(n_chunks)]} if partitioned else {})},
        "counts": {
            "rows": summary.n_rows,
            "labeled": summary.n_labeled,
            "errors": summary.n_errors,
            "skipped": summary.n_skipped,
            "error_reasons": summary.error_reasons,
            "labels": summary.label_counts,
        },
        "errors_file": summary.errors_file,
        "run": {"engine": engine, "workers": n_workers, "chunk_size": chunk_size, "chunks": n_chunks,
                "resumed_chunks": resumed[0], "run_id": manifest.header["run_id"]},
        "timing": {"seconds": round(summary.seconds, 3), "setup_seconds": round(summary.setup_seconds, 3),
                   "reports_per_second": round(summary.reports_per_second, 1)},
        "command": command or " ".join(sys.argv),
        "fingerprint": fingerprint,
    }
    write_json(layout.side["meta"], meta)
    if not partitioned:
        layout.remove_run()
    log.info("labeled %d reports, %d errors, %.1f reports/s", summary.n_labeled, summary.n_errors,
             summary.reports_per_second)
    return summary


def _run(layout: _Layout, manifest: _Manifest, input_path: Path, opts: IngestOptions, chunk_size: int,
         ctx: WorkerContext, lab: Labeler, spec: Labeler | LabelerSpec, engine: str, n_workers: int,
         scheduler: str | None, totals: _Totals, on_progress: Callable[[int, int], None] | None,
         ) -> tuple[int, tuple[int, int]]:
    """Label what the manifest lacks; returns (number of chunks, (resumed chunks, resumed reports))."""
    committed = {k: rec for k, rec in manifest.chunks.items() if _valid(layout, rec)}
    for k in sorted(set(manifest.chunks) - set(committed)):
        log.warning("chunk %d of the interrupted run is missing or damaged; labeling it again", k)
    done_bytes = 0
    if manifest.end is not None and len(committed) == manifest.end["n_chunks"] == (max(committed, default=-1) + 1):
        for rec in committed.values():  # all labeled before the interruption: only assembly was left
            totals.add(rec)
            done_bytes += rec["bytes"][1] - rec["bytes"][0]
        if on_progress is not None:
            on_progress(done_bytes, totals.n_labeled)
        return manifest.end["n_chunks"], (len(committed), totals.n_labeled)

    position = [0]

    def on_bytes(n: int) -> None:
        position[0] += n

    stream = read_reports(input_path, opts, on_bytes=on_bytes)
    resumed_chunks = 0
    executor = None
    started = False
    pending_meta: dict[int, dict[str, Any]] = {}

    def progress() -> None:
        if on_progress is not None:
            on_progress(done_bytes, totals.n_labeled)

    def commit(done: list[tuple[int, ChunkOutput]]) -> None:
        nonlocal done_bytes
        for k, out in done:
            meta = pending_meta.pop(k)
            rec = _commit(layout, manifest, k, out, meta)
            totals.add(rec)
            done_bytes += meta["bytes"][1] - meta["bytes"][0]
        if done:
            progress()

    k = -1
    start_byte = 0
    try:
        for k, items in enumerate(chunked(stream, chunk_size)):
            end_byte = position[0]
            meta = {
                "bytes": [start_byte, end_byte],
                "items": len(items),
                "first": _where(items[0]),
                "last": _where(items[-1]),
                "input_digest": _chunk_digest(items),
            }
            start_byte = end_byte
            rec = committed.get(k)
            if rec is not None:
                if rec["input_digest"] != meta["input_digest"] or rec["items"] != meta["items"]:
                    raise ConfigError(f"cannot resume: chunk {k} of the input (rows {rec['first']}..{rec['last']}) "
                                      "differs from the interrupted run's; the input changed. Pass --overwrite to "
                                      "start over", code="resume_mismatch")
                totals.add(rec)
                resumed_chunks += 1
                done_bytes += meta["bytes"][1] - meta["bytes"][0]
                continue
            if executor is None:
                if not started:
                    progress()
                    started = True
                executor = make_executor(engine, n_workers, lab, spec, ctx, scheduler, manifest.header["run_id"])
            while executor.in_flight >= executor.capacity:
                commit(executor.collect(block=True))
            pending_meta[k] = meta
            executor.submit(k, items)
            commit(executor.collect(block=False))
        if executor is not None:
            while executor.in_flight:
                commit(executor.collect(block=True))
    except BaseException:
        if executor is not None:
            executor.close(cancel=True)
            executor = None
        raise
    finally:
        if executor is not None:
            executor.close()
    if not started:
        progress()
    n_chunks = k + 1
    manifest.append({"end": True, "n_chunks": n_chunks, "bytes": position[0]})
    resumed_labeled = sum(committed[i]["n_labeled"] for i in committed if i < n_chunks)
    return n_chunks, (resumed_chunks, resumed_labeled)


def _where(item: Report | RowError) -> list[Any]:
    if isinstance(item, Report):
        return [item.source, item.rows[0] if item.rows else 0]
    return [item.source, item.row]
