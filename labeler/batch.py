"""Batch labeling: an input archive in, a labels file + errors file + ``.meta.json`` out.

:func:`label_corpus` is the library function under ``labeler label``. It streams: reports are
read, labeled and written in chunks, so memory does not grow with the corpus. The output is
written to ``<out>.partial`` and renamed when the run completes, so a file at the output path is
always a finished one.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import platform
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ._version import __version__
from .errors import ConfigError
from .export import ErrorWriter, ExtraColumn, open_writer, output_format_for, sidecar_paths, write_json
from .ingest import IngestOptions, detect_format, input_size, read_reports
from .labelers.base import Labeler
from .records import Report, ReportResult, RowError
from .vocab import status_to_chexpert

__all__ = ["RunSummary", "label_corpus", "chunked"]

log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    """What a run did (also written to ``<out>.meta.json``)."""

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
    errors_file: str | None = None
    meta_file: str = ""

    @property
    def reports_per_second(self) -> float:
        return self.n_labeled / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["reports_per_second"] = round(self.reports_per_second, 1)
        return d


def chunked(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Lists of up to ``size`` consecutive items."""
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _check_overwrite(paths: Iterable[Path], overwrite: bool) -> None:
    existing = [p for p in paths if p.exists()]
    if existing and not overwrite:
        names = ", ".join(str(p) for p in existing)
        raise ConfigError(f"output exists: {names} (pass --overwrite to replace)", code="output_exists")


def label_corpus(
    input_path: str | Path,
    output_path: str | Path,
    labeler: Labeler,
    *,
    ingest: IngestOptions | None = None,
    output_format: str | None = None,
    overwrite: bool = False,
    chunk_size: int = 512,
    extra_columns: Iterable[ExtraColumn] = (),
    on_progress: Callable[[int, int], None] | None = None,
    command: str | None = None,
) -> RunSummary:
    """Label every report of ``input_path`` with ``labeler`` and write ``output_path``.

    Parameters
    ----------
    input_path : str or Path
        CSV/TSV/JSONL/Parquet file or folder of ``.txt`` files (see :mod:`labeler.ingest`).
    output_path : str or Path
        Labels file; ``<out>.meta.json`` and (if any row failed) ``<out>.errors.jsonl`` go beside it.
    labeler : Labeler
    ingest : IngestOptions, default=None
    output_format : {"csv", "jsonl", "parquet"}, default=None
        ``None`` decides from the output extension.
    overwrite : bool, default=False
        Refuse to replace existing outputs unless True.
    chunk_size : int, default=512
        Reports labeled and written per step.
    extra_columns : iterable of (suffix, function), default=()
        Extra per-observation columns (e.g. probabilities).
    on_progress : callable(bytes_read, n_labeled), default=None
    command : str, default=None
        The command line, recorded in the meta file.

    Returns
    -------
    RunSummary
    """
    opts = ingest or IngestOptions()
    out = Path(output_path)
    fmt = output_format_for(out, output_format)
    side = sidecar_paths(out)
    partial = out.with_name(out.name + ".partial")
    _check_overwrite([out, side["meta"], side["errors"]], overwrite)
    if not Path(input_path).exists():
        from .errors import DataError

        raise DataError(f"input not found: {input_path}")
    in_fmt = detect_format(input_path, opts.format)
    if out.parent and not out.parent.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
    for stale in (side["errors"],):
        if stale.exists():
            stale.unlink()

    info = labeler.info()
    observations = list(labeler.observations)
    ruleset = getattr(labeler, "ruleset", None)
    names = [ruleset.display_name(o) for o in observations] if ruleset is not None else observations
    provenance: dict[str, Any] = {
        "engine_version": __version__,
        "labeler": info.to_dict(),
        "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
    }
    summary = RunSummary(str(input_path), str(out), fmt, meta_file=str(side["meta"]))
    counts = {n: Counter() for n in names}
    errors = ErrorWriter(side["errors"])
    writer = open_writer(partial, fmt, observations, names, extra=list(extra_columns), metadata=provenance)
    bytes_read = 0

    def on_bytes(n: int) -> None:
        nonlocal bytes_read
        bytes_read += n

    start = time.perf_counter()
    ok = False
    try:
        stream = read_reports(input_path, opts, on_bytes=on_bytes)
        for chunk in chunked(stream, chunk_size):
            reports: list[Report] = []
            for item in chunk:
                summary.n_rows += len(item.rows) if isinstance(item, Report) else 1
                if isinstance(item, RowError):
                    errors.write(item)
                else:
                    reports.append(item)
            results: list[ReportResult] = []
            for report, res in zip(reports, labeler.label(reports)):
                if res.errors:
                    for row in report.rows:
                        errors.write(RowError(row, "labeling_failed", "; ".join(res.errors), report.study_uid,
                                              report.source))
                    continue
                results.append(res)
                for name, value in zip(names, _row_values(res, observations)):
                    counts[name][value] += 1
            writer.write(results)
            summary.n_labeled += len(results)
            if on_progress is not None:
                on_progress(bytes_read, summary.n_labeled)
        ok = True
    finally:
        writer.close()
        errors.close()
        summary.seconds = time.perf_counter() - start
        if ok:
            os.replace(partial, out)
        elif partial.exists():
            partial.unlink()

    summary.n_errors = errors.n_fatal
    summary.n_skipped = errors.n_skipped
    summary.error_reasons = dict(sorted(errors.reasons.items()))
    summary.errors_file = str(side["errors"]) if side["errors"].exists() else None
    summary.label_counts = {n: {k: c.get(k, 0) for k in ("1", "0", "-1", "")} for n, c in counts.items()}
    meta = {
        **provenance,
        "input": {
            "path": str(input_path),
            "format": in_fmt,
            "bytes": input_size(input_path),
            "id_column": opts.id_column,
            "text_columns": list(opts.text_columns),
            "duplicates": opts.duplicates,
            "max_chars": opts.max_chars,
        },
        "output": {"path": str(out), "format": fmt, "columns": ["study_uid", *names]},
        "counts": {
            "rows": summary.n_rows,
            "labeled": summary.n_labeled,
            "errors": summary.n_errors,
            "skipped": summary.n_skipped,
            "error_reasons": summary.error_reasons,
            "labels": summary.label_counts,
        },
        "timing": {"seconds": round(summary.seconds, 3), "reports_per_second": round(summary.reports_per_second, 1)},
        "command": command or " ".join(sys.argv),
    }
    write_json(side["meta"], meta)
    log.info("labeled %d reports, %d errors, %.1f reports/s", summary.n_labeled, summary.n_errors,
             summary.reports_per_second)
    return summary


def _row_values(result: ReportResult, observations: list[str]) -> list[str]:
    by_obs = {lab.observation: lab.status for lab in result.labels}
    out = []
    for o in observations:
        st = by_obs.get(o)
        v = status_to_chexpert(st) if st is not None else None
        out.append("" if v is None else str(v))
    return out
