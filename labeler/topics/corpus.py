"""File-level topic functions under ``labeler topics``: corpora in, model / tables / JSON out.

Each function is quiet (no printing) and returns data; the CLI prints summaries.

* :func:`fit_topics` — read a corpus, fit a :class:`~labeler.topics.model.TopicModel`, save it
  with ``fit.meta.json`` and an HTML page (coherence curve, top-word bars).
* :func:`assign_topics` — per-report topic mixture, off-domain score and flag, keyed by
  ``study_uid`` (CSV or Parquet), streamed in chunks, with ``.meta.json`` / ``.errors.jsonl``.
* :func:`show_topics` — top terms, prevalence, coherence, and (given labels) the label–topic lift.
* :func:`drift_topics` — compare two corpora's topic mixtures.

Inputs are read with :func:`labeler.ingest.read_reports` (same options as ``labeler label``);
rows that cannot be read are counted and written to an errors file, never silently dropped.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import logging
import math
import os
import platform
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..errors import ConfigError, DataError
from ..export import ErrorWriter, sidecar_paths, write_json
from ..ingest import IngestOptions, detect_format, read_reports
from ..records import Report, RowError
from .model import InvalidParameterError, TopicModel, _is_model_dir
from .stats import DriftResult, LiftTable, label_topic_lift, topic_drift

__all__ = [
    "CorpusTexts",
    "read_corpus",
    "FitSummary",
    "fit_topics",
    "AssignSummary",
    "assign_topics",
    "ASSIGN_FORMATS",
    "read_label_table",
    "read_assignments",
    "TopicsOverview",
    "show_topics",
    "DriftReport",
    "drift_topics",
]

log = logging.getLogger(__name__)

ASSIGN_FORMATS = ("csv", "parquet")
_ASSIGN_EXT = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
ProgressFn = Callable[[str, int, int], None]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _ingest_dict(path: str | Path, opts: IngestOptions) -> dict[str, Any]:
    return {"path": str(path), "format": detect_format(path, opts.format), "id_column": opts.id_column,
            "text_columns": list(opts.text_columns), "duplicates": opts.duplicates, "max_chars": opts.max_chars}


# ------------------------------------------------------------------------------------ reading


@dataclass
class CorpusTexts:
    """The readable reports of an input, and the rows that were not."""

    study_uids: list[str]
    texts: list[str]
    errors: list[RowError]
    n_rows: int

    @property
    def n_fatal(self) -> int:
        """Rows that yielded no report (not counting rows skipped on purpose)."""
        return sum(1 for e in self.errors if e.fatal)

    def error_reasons(self) -> dict[str, int]:
        """Counts per error reason."""
        return dict(sorted(Counter(e.reason for e in self.errors).items()))


def read_corpus(path: str | Path, ingest: IngestOptions | None = None) -> CorpusTexts:
    """All readable reports of ``path`` (ids and texts, in input order) plus the row errors.

    Raises
    ------
    DataError
        When the input cannot be read at all or holds no readable report.
    """
    opts = ingest or IngestOptions()
    uids: list[str] = []
    texts: list[str] = []
    errors: list[RowError] = []
    n_rows = 0
    for item in read_reports(path, opts):
        if isinstance(item, RowError):
            errors.append(item)
            n_rows += 1
            continue
        n_rows += len(item.rows) or 1
        uids.append(item.study_uid)
        texts.append(item.text)
    if not texts:
        reasons = ", ".join(f"{k}: {v}" for k, v in Counter(e.reason for e in errors).items()) or "empty input"
        raise DataError(f"{Path(path).name}: no readable reports ({reasons})")
    return CorpusTexts(uids, texts, errors, n_rows)


def _write_errors(path: Path, errors: Sequence[RowError]) -> Path | None:
    if path.exists():
        path.unlink()
    if not errors:
        return None
    writer = ErrorWriter(path)
    for e in errors:
        writer.write(e)
    writer.close()
    return path


# ------------------------------------------------------------------------------------ fit


@dataclass
class FitSummary:
    """What ``labeler topics fit`` did (also written to ``<model>/fit.meta.json``)."""

    input: str
    output: str
    n_rows: int
    n_reports: int
    n_errors: int
    error_reasons: dict[str, int]
    n_excluded_offdomain: int
    chosen_k: int
    coherence: str
    curve: list[dict[str, Any]]
    prevalence: list[float]
    topic_coherence: list[float]
    top_terms: list[list[str]]
    offdomain_threshold: float
    seconds: float
    meta_file: str
    html_file: str | None
    errors_file: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return asdict(self)


def fit_topics(
    input_path: str | Path,
    output_dir: str | Path,
    *,
    model: TopicModel | None = None,
    ingest: IngestOptions | None = None,
    overwrite: bool = False,
    html: bool = True,
    on_progress: ProgressFn | None = None,
    command: str | None = None,
) -> FitSummary:
    """Fit a topic model on the reports of ``input_path`` and save it to ``output_dir``.

    Parameters
    ----------
    input_path : str or Path
        CSV/TSV/JSONL/Parquet file or folder of ``.txt`` files.
    output_dir : str or Path
        Model directory (``manifest.json``, ``dictionary.txt``, ``phrases.json``, ``lda.npz``,
        ``fit.meta.json``, ``report.html``, and ``fit.errors.jsonl`` when rows failed).
    model : TopicModel, default=None
        Hyper-parameters (default: ``TopicModel()``).
    ingest : IngestOptions, default=None
    overwrite : bool, default=False
    html : bool, default=True
        Write ``report.html`` (needs matplotlib).
    on_progress : callable(stage, done, total), default=None
    command : str, default=None
        The command line, recorded in ``fit.meta.json``.

    Returns
    -------
    FitSummary
    """
    model = model if model is not None else TopicModel()
    opts = ingest or IngestOptions()
    out = Path(output_dir)
    if out.exists() and not overwrite:
        raise ConfigError(f"output exists: {out} (pass --overwrite to replace)", code="output_exists")
    if out.exists() and not _is_model_dir(out):
        raise ConfigError(f"{out} exists and is not a topic model directory; not replacing it",
                          code="output_exists")
    model.validate_params()
    start = time.perf_counter()
    corpus = read_corpus(input_path, opts)
    model.fit(corpus.texts, on_progress=on_progress)
    model.save(out, overwrite=overwrite)
    errors_file = _write_errors(out / "fit.errors.jsonl", corpus.errors)
    html_file = None
    if html:
        from .report import topics_html

        html_file = out / "report.html"
        html_file.write_text(topics_html(model, title=f"Topics of {Path(input_path).name}"), encoding="utf-8")
    seconds = time.perf_counter() - start
    summary = FitSummary(
        input=str(input_path), output=str(out), n_rows=corpus.n_rows, n_reports=len(corpus.texts),
        n_errors=corpus.n_fatal, error_reasons=corpus.error_reasons(),
        n_excluded_offdomain=len(model.excluded_indices_), chosen_k=model.n_topics_,
        coherence=model.coherence, curve=[{k: v for k, v in c.items() if k != "per_topic"} for c in model.coherence_curve_],
        prevalence=[round(float(x), 4) for x in model.prevalence_],
        topic_coherence=[round(float(x), 4) for x in model.topic_coherence_],
        top_terms=[[t for t, _ in terms] for terms in model.top_terms(10)],
        offdomain_threshold=round(model.offdomain_threshold_, 4), seconds=round(seconds, 3),
        meta_file=str(out / "fit.meta.json"), html_file=str(html_file) if html_file else None,
        errors_file=str(errors_file) if errors_file else None,
    )
    write_json(out / "fit.meta.json", {
        "engine_version": __version__,
        "created_at": _now(),
        "python": platform.python_version(),
        "model": model.info(),
        "input": _ingest_dict(input_path, opts),
        "counts": {"rows": corpus.n_rows, "reports": len(corpus.texts), "errors": corpus.n_fatal,
                   "skipped": len(corpus.errors) - corpus.n_fatal, "error_reasons": corpus.error_reasons(),
                   "excluded_offdomain": len(model.excluded_indices_)},
        "excluded_offdomain_study_uids": [corpus.study_uids[i] for i in model.excluded_indices_],
        "timing": {"seconds": round(seconds, 3), "fit_seconds": model.training_["seconds"]},
        "command": command or " ".join(sys.argv),
    })
    log.info("topics: fitted k=%d on %d reports in %.1f s", model.n_topics_, len(corpus.texts), seconds)
    return summary


# ------------------------------------------------------------------------------------ assign


@dataclass
class AssignSummary:
    """What ``labeler topics assign`` did (also in ``<out>.meta.json``)."""

    input: str
    output: str
    output_format: str
    n_rows: int = 0
    n_assigned: int = 0
    n_errors: int = 0
    n_skipped: int = 0
    n_flagged: int = 0
    n_empty: int = 0
    error_reasons: dict[str, int] = field(default_factory=dict)
    dominant_counts: dict[int, int] = field(default_factory=dict)
    threshold: float = float("nan")
    threshold_source: str = ""
    seconds: float = 0.0
    meta_file: str = ""
    errors_file: str | None = None

    @property
    def flagged_rate(self) -> float:
        """Share of assigned reports flagged off-domain."""
        return self.n_flagged / self.n_assigned if self.n_assigned else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        d = asdict(self)
        d["flagged_rate"] = round(self.flagged_rate, 6)
        d["dominant_counts"] = {str(k): v for k, v in sorted(self.dominant_counts.items())}
        return d


def _assign_format(path: Path, declared: str | None) -> str:
    if declared:
        if declared not in ASSIGN_FORMATS:
            raise ConfigError(f"unknown output format {declared!r} (choose from {', '.join(ASSIGN_FORMATS)})")
        return declared
    fmt = _ASSIGN_EXT.get(path.suffix.lower())
    if fmt is None:
        raise ConfigError(f"cannot tell the output format of {path.name!r} (.csv or .parquet); pass --format")
    return fmt


def assignment_columns(k: int) -> list[str]:
    """Column names of an assignment file for ``k`` topics."""
    return ["study_uid", *[f"topic_{j}" for j in range(k)], "dominant_topic", "dominant_weight", "n_tokens",
            "oov_rate", "offdomain_score", "offdomain"]


class _AssignWriter:
    def __init__(self, path: Path, fmt: str, k: int, metadata: dict[str, Any]) -> None:
        self.fmt, self.k, self.path = fmt, k, path
        self.columns = assignment_columns(k)
        if fmt == "csv":
            self._fh = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed in close()
            self._csv = csv.writer(self._fh, lineterminator="\n")
            self._csv.writerow(self.columns)
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            self._pa = pa
            fields = [pa.field("study_uid", pa.string())]
            fields += [pa.field(f"topic_{j}", pa.float32()) for j in range(k)]
            fields += [pa.field("dominant_topic", pa.int16()), pa.field("dominant_weight", pa.float32()),
                       pa.field("n_tokens", pa.int32()), pa.field("oov_rate", pa.float32()),
                       pa.field("offdomain_score", pa.float32()), pa.field("offdomain", pa.bool_())]
            self._schema = pa.schema(fields, metadata={b"labeler_topics": json.dumps(metadata).encode()})
            self._writer = pq.ParquetWriter(path, self._schema)

    def write(self, uids: list[str], a: Any) -> None:
        oov = a.oov_rate
        if self.fmt == "csv":
            rows = []
            for i, uid in enumerate(uids):
                rows.append([uid, *(_fmt(x) for x in a.theta[i]), int(a.dominant[i]), _fmt(a.theta[i].max()),
                             int(a.n_tokens[i]), _fmt(oov[i]), _fmt(a.score[i]), "1" if a.flag[i] else "0"])
            self._csv.writerows(rows)
            return
        cols: dict[str, Any] = {"study_uid": uids}
        for j in range(self.k):
            cols[f"topic_{j}"] = a.theta[:, j].astype(np.float32)
        cols["dominant_topic"] = a.dominant.astype(np.int16)
        cols["dominant_weight"] = a.theta.max(axis=1).astype(np.float32) if len(uids) else np.zeros(0, np.float32)
        cols["n_tokens"] = a.n_tokens.astype(np.int32)
        cols["oov_rate"] = self._pa.array(oov.astype(np.float32), from_pandas=True)
        cols["offdomain_score"] = self._pa.array(a.score.astype(np.float32), from_pandas=True)
        cols["offdomain"] = a.flag.astype(bool)
        self._writer.write_table(self._pa.Table.from_pydict(cols, schema=self._schema))

    def close(self) -> None:
        if self.fmt == "csv":
            self._fh.close()
        else:
            self._writer.close()


def _fmt(x: float) -> str:
    return "" if not math.isfinite(float(x)) else f"{float(x):.6g}"


def assign_topics(
    input_path: str | Path,
    model_dir: str | Path,
    output_path: str | Path,
    *,
    ingest: IngestOptions | None = None,
    output_format: str | None = None,
    overwrite: bool = False,
    threshold: float | None = None,
    offdomain_topics: Sequence[int] = (),
    chunk_size: int = 1024,
    on_progress: Callable[[int], None] | None = None,
    command: str | None = None,
) -> AssignSummary:
    """Write each report's topic mixture, dominant topic and off-domain score / flag.

    Parameters
    ----------
    input_path : str or Path
    model_dir : str or Path
        A model saved by ``labeler topics fit`` / :meth:`TopicModel.save`.
    output_path : str or Path
        ``.csv`` or ``.parquet``: one row per report, columns ``study_uid, topic_0..topic_{K-1},
        dominant_topic, dominant_weight, n_tokens, oov_rate, offdomain_score, offdomain``.
    ingest : IngestOptions, default=None
    output_format : {"csv", "parquet"}, default=None
        ``None`` decides from the extension.
    overwrite : bool, default=False
    threshold : float, default=None
        Off-domain threshold (default: the model's, the ``offdomain_quantile`` of its training
        scores).
    offdomain_topics : sequence of int, default=()
        Topics judged off-domain: reports dominated by them are flagged too.
    chunk_size : int, default=1024
    on_progress : callable(n_assigned), default=None
    command : str, default=None

    Returns
    -------
    AssignSummary
    """
    opts = ingest or IngestOptions()
    out = Path(output_path)
    fmt = _assign_format(out, output_format)
    side = sidecar_paths(out)
    existing = [p for p in (out, side["meta"], side["errors"]) if p.exists()]
    if existing and not overwrite:
        raise ConfigError(f"output exists: {', '.join(map(str, existing))} (pass --overwrite to replace)",
                          code="output_exists")
    if chunk_size < 1:
        raise InvalidParameterError("chunk_size must be >= 1")
    if not Path(input_path).exists():
        raise DataError(f"input not found: {input_path}")
    model = TopicModel.load(model_dir)
    thr = model.offdomain_threshold_ if threshold is None else float(threshold)
    model.assign([], threshold=thr, offdomain_topics=offdomain_topics)  # validates arguments early
    source = ("user (--threshold)" if threshold is not None else
              f"model: {model.offdomain_quantile} quantile of its training corpus's scores")
    in_fmt = detect_format(input_path, opts.format)
    if out.parent and not out.parent.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
    if side["errors"].exists():
        side["errors"].unlink()
    provenance = {"engine_version": __version__, "created_at": _now(), "model": model.info(),
                  "model_dir": str(model_dir)}
    summary = AssignSummary(str(input_path), str(out), fmt, threshold=thr, threshold_source=source,
                            meta_file=str(side["meta"]))
    partial = out.with_name(out.name + ".partial")
    writer = _AssignWriter(partial, fmt, model.n_topics_, provenance)
    errors = ErrorWriter(side["errors"])
    dominant: Counter[int] = Counter()
    start = time.perf_counter()
    ok = False
    try:
        batch: list[Report] = []

        def flush() -> None:
            if not batch:
                return
            a = model.assign(batch, threshold=thr, offdomain_topics=offdomain_topics)
            writer.write([r.study_uid for r in batch], a)
            summary.n_assigned += len(batch)
            summary.n_flagged += int(a.flag.sum())
            summary.n_empty += int((a.n_tokens == 0).sum())
            dominant.update(int(x) for x in a.dominant)
            batch.clear()
            if on_progress is not None:
                on_progress(summary.n_assigned)

        for item in read_reports(input_path, opts):
            if isinstance(item, RowError):
                summary.n_rows += 1
                errors.write(item)
                continue
            summary.n_rows += len(item.rows) or 1
            batch.append(item)
            if len(batch) >= chunk_size:
                flush()
        flush()
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
    summary.dominant_counts = dict(sorted(dominant.items()))
    write_json(side["meta"], {
        **provenance,
        "python": platform.python_version(),
        "input": {**_ingest_dict(input_path, opts), "format": in_fmt},
        "output": {"path": str(out), "format": fmt, "columns": assignment_columns(model.n_topics_)},
        "offdomain": {"threshold": thr, "threshold_source": source, "offdomain_topics": list(offdomain_topics),
                      "score": "mean surprisal under the model, nats per token (higher = stranger)"},
        "topic_names": model.topic_names(3),
        "counts": {"rows": summary.n_rows, "assigned": summary.n_assigned, "errors": summary.n_errors,
                   "skipped": summary.n_skipped, "flagged": summary.n_flagged, "no_tokens": summary.n_empty,
                   "error_reasons": summary.error_reasons,
                   "dominant_topic": {str(k): v for k, v in summary.dominant_counts.items()}},
        "timing": {"seconds": round(summary.seconds, 3)},
        "command": command or " ".join(sys.argv),
    })
    return summary


def read_assignments(path: str | Path) -> tuple[list[str], np.ndarray]:
    """``(study_uids, theta (N, K))`` from a file written by :func:`assign_topics`."""
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise DataError(f"assignments file not found: {p}")
    try:
        df = pd.read_parquet(p) if p.suffix.lower() in (".parquet", ".pq") else pd.read_csv(
            p, dtype={"study_uid": str}, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {p.name}: {exc}") from None
    cols = [c for c in df.columns if isinstance(c, str) and c.startswith("topic_") and c[6:].isdigit()]
    cols.sort(key=lambda c: int(c[6:]))
    if "study_uid" not in df.columns or not cols:
        raise DataError(f"{p.name} is not a topic assignments file (needs study_uid and topic_0.. columns)")
    theta = df[cols].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(theta)):
        raise DataError(f"{p.name}: topic columns hold non-numeric values")
    return [str(u) for u in df["study_uid"]], theta


# ------------------------------------------------------------------------------------ labels

_NON_LABEL_COLUMNS = frozenset({"evidence", "rows", "provenance", "derived_by", "text"})


def read_label_table(
    path: str | Path,
    *,
    id_column: str = "study_uid",
    columns: Sequence[str] | None = None,
    uncertain_as_positive: bool = False,
) -> tuple[list[str], list[str], np.ndarray]:
    """Binary labels keyed by id from a labels file (``labeler label`` output or any 0/1 table).

    CheXpert-coded values: ``1`` → 1, ``0`` and blank (not mentioned) → 0, ``-1`` (uncertain)
    → 1 with ``uncertain_as_positive`` else 0. JSONL lines may hold the values in a ``labels``
    object (``labeler label --format jsonl``).

    Returns
    -------
    (study_uids, label_names, Y)
        ``Y`` has shape (N, L), values 0.0 / 1.0.
    """
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise DataError(f"labels file not found: {p}")
    suffix = p.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            df = pd.read_parquet(p)
        elif suffix in (".jsonl", ".ndjson"):
            rows = []
            with p.open(encoding="utf-8") as fh:
                for line in fh:
                    if line.strip():
                        obj = json.loads(line)
                        flat = {k: v for k, v in obj.items() if k != "labels"}
                        if isinstance(obj.get("labels"), dict):
                            flat.update(obj["labels"])
                        rows.append(flat)
            df = pd.DataFrame(rows)
        else:
            df = pd.read_csv(p, dtype=str, keep_default_na=False, sep="\t" if suffix in (".tsv", ".tab") else ",")
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read labels file {p.name}: {exc}") from None
    if id_column not in df.columns:
        raise DataError(f"{p.name}: no {id_column!r} column (use --labels-id-column)")
    if columns:
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise DataError(f"{p.name}: label column(s) {missing} not found")
        names = list(columns)
    else:
        names = [c for c in df.columns if c != id_column and c not in _NON_LABEL_COLUMNS]
    unc = 1.0 if uncertain_as_positive else 0.0
    mapping = {"1": 1.0, "1.0": 1.0, "0": 0.0, "0.0": 0.0, "-1": unc, "-1.0": unc, "": 0.0, "nan": 0.0,
               "none": 0.0, "true": 1.0, "false": 0.0}
    cols, kept = [], []
    for name in names:
        vals = ["" if _missing(v) else str(v).strip().lower() for v in df[name].tolist()]
        bad = {v for v in vals if v not in mapping}
        if bad:
            if columns:
                raise DataError(f"{p.name}: column {name!r} holds non-label values (e.g. {sorted(bad)[:3]})")
            continue  # not a label column (auto-detection)
        cols.append([mapping[v] for v in vals])
        kept.append(name)
    if not kept:
        raise DataError(f"{p.name}: no label columns (values 1 / 0 / -1 / blank) found")
    uids = [str(u) for u in df[id_column].tolist()]
    if len(set(uids)) != len(uids):
        raise DataError(f"{p.name}: duplicate ids in {id_column!r}")
    return uids, kept, np.asarray(cols, dtype=np.float64).T


def _missing(value: Any) -> bool:
    import pandas as pd

    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):  # lists / dicts (e.g. JSON fields) are not missing values
        return False


# ------------------------------------------------------------------------------------ show


@dataclass
class TopicsOverview:
    """What ``labeler topics show`` reports."""

    model_dir: str
    model: dict[str, Any]
    topics: list[dict[str, Any]]
    coherence_curve: list[dict[str, Any]]
    lift: LiftTable | None = None
    lift_source: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        out: dict[str, Any] = {"model_dir": self.model_dir, "model": self.model, "topics": self.topics,
                               "coherence_curve": self.coherence_curve}
        if self.lift is not None:
            out["lift"] = {**self.lift.to_dict(), "source": self.lift_source}
        return out


def show_topics(
    model_dir: str | Path,
    *,
    n_words: int = 10,
    labels: str | Path | None = None,
    label_columns: Sequence[str] | None = None,
    labels_id_column: str = "study_uid",
    uncertain_as_positive: bool = False,
    assignments: str | Path | None = None,
    corpus: str | Path | None = None,
    ingest: IngestOptions | None = None,
    n_bootstrap: int = 1000,
    random_state: int = 0,
) -> tuple[TopicModel, TopicsOverview]:
    """Describe a model's topics and, given labels, which topics carry which labels.

    The label–topic table needs each labeled report's topic mixture: from ``assignments`` (a
    file of :func:`assign_topics`) or by transforming ``corpus``. Reports are matched on
    ``study_uid``; unmatched ones are counted and left out.
    """
    model = TopicModel.load(model_dir)
    terms = model.top_terms(n_words)
    coh = model.topic_coherence_
    topics = [{"topic": k, "name": "·".join(t for t, _ in terms[k][:3]),
               "prevalence": round(float(model.prevalence_[k]), 4),
               "coherence": round(float(coh[k]), 4) if k < len(coh) else None,
               "top_terms": [{"term": t, "p": round(p, 5)} for t, p in terms[k]]} for k in range(model.n_topics_)]
    overview = TopicsOverview(str(model_dir), model.info(),
                              topics, [{k: v for k, v in c.items() if k != "per_topic"}
                                       for c in model.coherence_curve_])
    if labels is None:
        if assignments is not None or corpus is not None:
            raise ConfigError("--assignments / --corpus are used with --labels")
        return model, overview
    if (assignments is None) == (corpus is None):
        raise ConfigError("with --labels, give exactly one of --assignments (a topics assign output) or --corpus")
    uids_l, names, y = read_label_table(labels, id_column=labels_id_column, columns=label_columns,
                                        uncertain_as_positive=uncertain_as_positive)
    if assignments is not None:
        uids_t, theta = read_assignments(assignments)
        if theta.shape[1] != model.n_topics_:
            raise DataError(f"{Path(assignments).name} has {theta.shape[1]} topics, the model {model.n_topics_}")
        source: dict[str, Any] = {"assignments": str(assignments)}
    else:
        texts = read_corpus(corpus, ingest)  # type: ignore[arg-type]
        uids_t, theta = texts.study_uids, model.transform(texts.texts)
        source = {"corpus": str(corpus)}
    index = {u: i for i, u in enumerate(uids_t)}
    rows_l = [i for i, u in enumerate(uids_l) if u in index]
    if not rows_l:
        raise DataError("no study_uid of the labels file matches a report with topics")
    rows_t = [index[uids_l[i]] for i in rows_l]
    lift = label_topic_lift(theta[rows_t], y[rows_l], names, n_bootstrap=n_bootstrap, random_state=random_state)
    overview.lift = lift
    overview.lift_source = {**source, "labels": str(labels), "n_labeled": len(uids_l), "n_matched": len(rows_l),
                            "uncertain_as_positive": uncertain_as_positive}
    return model, overview


# ------------------------------------------------------------------------------------ drift


@dataclass
class DriftReport:
    """What ``labeler topics drift`` reports: the statistics plus names and provenance."""

    a: str
    b: str
    result: DriftResult
    topic_names: list[str]
    model: dict[str, Any]
    n_errors_a: int = 0
    n_errors_b: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (topic names added to every topic row)."""
        res = self.result.to_dict()
        for row in res["topics"]:
            row["name"] = self.topic_names[row["topic"]]
        return {"engine_version": __version__, "created_at": _now(), "a": self.a, "b": self.b,
                "model": self.model, "errors": {"a": self.n_errors_a, "b": self.n_errors_b}, **res}


def drift_topics(
    a_path: str | Path,
    b_path: str | Path,
    model_dir: str | Path,
    *,
    ingest_a: IngestOptions | None = None,
    ingest_b: IngestOptions | None = None,
    n_baseline: int = 200,
    n_permutations: int = 1000,
    n_bootstrap: int = 1000,
    min_shift: float = 0.01,
    random_state: int = 0,
) -> DriftReport:
    """Compare the topic mixtures of corpora A (reference) and B under one model.

    See :func:`labeler.topics.stats.topic_drift` for the statistics; ``ingest_b`` defaults to
    ``ingest_a``.
    """
    model = TopicModel.load(model_dir)
    ca = read_corpus(a_path, ingest_a)
    cb = read_corpus(b_path, ingest_b or ingest_a)
    result = topic_drift(model.transform(ca.texts), model.transform(cb.texts), n_baseline=n_baseline,
                         n_permutations=n_permutations, n_bootstrap=n_bootstrap, min_shift=min_shift,
                         random_state=random_state)
    return DriftReport(str(a_path), str(b_path), result, model.topic_names(3), model.info(), ca.n_fatal, cb.n_fatal)
