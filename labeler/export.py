"""Writers for labels (CSV / JSONL / Parquet), the errors file and the ``.meta.json`` sidecar.

The output contract other tools depend on:

* **CSV**: first column ``study_uid``, then one column per exported observation, named as the
  ruleset names them (for the default ruleset: the 14 CheXpert names in CheXpert's order),
  holding ``1``, ``0``, ``-1`` or empty. Nothing else unless asked (``extra_columns``).
* **JSONL**: one object per report: ``study_uid``, ``labels`` (the same numbers, ``null`` for
  blank), ``evidence`` (per observation: status, rule id, section, sentence / mention / modifier
  character offsets — never text), ``derived_by``, ``rows``, ``provenance``.
* **Parquet**: ``study_uid``, the observation columns as nullable int8, ``evidence`` (JSON
  text); the provenance sits in the file's key-value metadata.

This module is the only place where statuses become CheXpert numbers.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, Protocol

from .errors import ConfigError
from .records import ReportResult, RowError
from .vocab import status_to_chexpert

__all__ = [
    "OUTPUT_FORMATS",
    "LabelWriter",
    "open_writer",
    "ErrorWriter",
    "sidecar_paths",
    "write_json",
    "result_to_row",
    "result_to_json",
    "output_format_for",
    "render_results",
    "PROBABILITY_SUFFIXES",
    "probability_columns",
]

OUTPUT_FORMATS = ("csv", "jsonl", "parquet")
_EXT = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}

#: extra per-observation columns a labeler may add: (suffix, function(result, observation) -> value)
ExtraColumn = tuple[str, Callable[[ReportResult, str], Any]]


#: probability columns of probabilistic labelers: ``<Name>__<suffix>`` holds P(status)
PROBABILITY_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("p_pos", "present"), ("p_neg", "absent"), ("p_unc", "uncertain"), ("p_none", "not_mentioned"),
)


def _probability(status: str) -> Callable[[ReportResult, str], float | None]:
    def value(result: ReportResult, observation: str) -> float | None:
        for lab in result.labels:
            if lab.observation == observation:
                if lab.probabilities is None:  # a rule label: its status is certain
                    return 1.0 if lab.status.value == status else 0.0
                return lab.probabilities.get(status, 0.0)
        return None

    return value


def probability_columns() -> list[ExtraColumn]:
    """Extra columns ``<Name>__p_pos``, ``__p_neg``, ``__p_unc``, ``__p_none`` from ``Label.probabilities``."""
    return [(suffix, _probability(status)) for suffix, status in PROBABILITY_SUFFIXES]


def output_format_for(path: str | Path, declared: str | None) -> str:
    """The output format: the declared one, else from the extension."""
    if declared:
        if declared not in OUTPUT_FORMATS:
            raise ConfigError(f"unknown output format {declared!r} (choose from {', '.join(OUTPUT_FORMATS)})")
        return declared
    fmt = _EXT.get(Path(path).suffix.lower())
    if fmt is None:
        raise ConfigError(f"cannot tell the output format of {Path(path).name!r}; pass --format")
    return fmt


def sidecar_paths(output: str | Path) -> dict[str, Path]:
    """The files written beside an output: ``<out>.meta.json`` and ``<out>.errors.jsonl``."""
    out = Path(output)
    return {"meta": out.with_name(out.name + ".meta.json"), "errors": out.with_name(out.name + ".errors.jsonl")}


def _cell(value: int | None) -> str:
    return "" if value is None else str(value)


def result_to_row(result: ReportResult, observations: Sequence[str]) -> list[int | None]:
    """CheXpert numbers of ``observations`` for one result (``None`` = blank)."""
    by_obs = {lab.observation: lab for lab in result.labels}
    return [status_to_chexpert(by_obs[o].status) if o in by_obs else None for o in observations]


def result_to_json(result: ReportResult, observations: Sequence[str], names: Sequence[str],
                   extra: Sequence[ExtraColumn] = ()) -> dict[str, Any]:
    """The JSONL object of one result (offsets and rule ids only, never report text)."""
    by_obs = {lab.observation: lab for lab in result.labels}
    labels: dict[str, int | None] = {}
    evidence: dict[str, list[dict[str, Any]]] = {}
    derived: dict[str, str] = {}
    for obs, name in zip(observations, names):
        lab = by_obs.get(obs)
        labels[name] = status_to_chexpert(lab.status) if lab else None
        if lab is None:
            continue
        if lab.evidence:
            evidence[name] = [ev.to_dict() for ev in lab.evidence]
        if lab.rule_id:
            derived[name] = lab.rule_id
    out: dict[str, Any] = {"study_uid": result.study_uid, "labels": labels, "evidence": evidence}
    if derived:
        out["derived_by"] = derived
    for suffix, fn in extra:
        out[suffix] = {name: fn(result, obs) for obs, name in zip(observations, names)}
    out["rows"] = list(result.rows)
    out["provenance"] = result.provenance.to_dict()
    return out


class LabelWriter(Protocol):
    """Streams results to an output file."""

    def write(self, results: Sequence[ReportResult]) -> None: ...

    def close(self) -> None: ...


def _text_sink(target: Path | IO[bytes], **kwargs: Any) -> IO[str]:
    """A text stream on a path (opened here) or on a binary stream (left open at close)."""
    if isinstance(target, Path):
        return open(target, "w", encoding="utf-8", **kwargs)  # noqa: SIM115
    return _Detaching(target, encoding="utf-8", **kwargs)


class _Detaching(io.TextIOWrapper):
    """A text wrapper whose ``close`` flushes and leaves the binary stream open."""

    def close(self) -> None:
        if not self.closed:
            self.flush()
            self.detach()


class _CsvWriter:
    def __init__(self, path: Path | IO[bytes], observations: Sequence[str], names: Sequence[str],
                 extra: Sequence[ExtraColumn]) -> None:
        import csv

        self._fh: IO[str] = _text_sink(path, newline="")
        self._csv = csv.writer(self._fh, lineterminator="\n")
        self._obs = list(observations)
        self._extra = list(extra)
        header = ["study_uid", *names]
        for suffix, _ in self._extra:
            header += [f"{n}__{suffix}" for n in names]
        self._csv.writerow(header)

    def write(self, results: Sequence[ReportResult]) -> None:
        rows = []
        for res in results:
            row = [res.study_uid, *(_cell(v) for v in result_to_row(res, self._obs))]
            for _, fn in self._extra:
                row += ["" if (v := fn(res, o)) is None else v for o in self._obs]
            rows.append(row)
        self._csv.writerows(rows)

    def close(self) -> None:
        self._fh.close()


class _JsonlWriter:
    def __init__(self, path: Path | IO[bytes], observations: Sequence[str], names: Sequence[str],
                 extra: Sequence[ExtraColumn]) -> None:
        self._fh: IO[str] = _text_sink(path, newline="\n")
        self._obs, self._names, self._extra = list(observations), list(names), list(extra)

    def write(self, results: Sequence[ReportResult]) -> None:
        self._fh.writelines(
            json.dumps(result_to_json(r, self._obs, self._names, self._extra), ensure_ascii=False) + "\n"
            for r in results
        )

    def close(self) -> None:
        self._fh.close()


class _ParquetWriter:
    def __init__(self, path: Path | IO[bytes], observations: Sequence[str], names: Sequence[str],
                 extra: Sequence[ExtraColumn], metadata: dict[str, Any]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._pa = pa
        self._obs, self._names, self._extra = list(observations), list(names), list(extra)
        fields = [pa.field("study_uid", pa.string())]
        fields += [pa.field(n, pa.int8()) for n in names]
        for suffix, _ in self._extra:
            fields += [pa.field(f"{n}__{suffix}", pa.float64()) for n in names]
        fields += [pa.field("evidence", pa.string())]
        meta = {b"labeler": json.dumps(metadata).encode()}
        self._schema = pa.schema(fields, metadata=meta)
        self._target = None if isinstance(path, Path) else path
        self._sink = pa.BufferOutputStream() if self._target is not None else path
        self._writer = pq.ParquetWriter(self._sink, self._schema)

    def write(self, results: Sequence[ReportResult]) -> None:
        if not results:
            return
        cols: dict[str, list[Any]] = {"study_uid": [r.study_uid for r in results]}
        rows = [result_to_row(r, self._obs) for r in results]
        for j, n in enumerate(self._names):
            cols[n] = [row[j] for row in rows]
        for suffix, fn in self._extra:
            for o, n in zip(self._obs, self._names):
                cols[f"{n}__{suffix}"] = [fn(r, o) for r in results]
        cols["evidence"] = [
            json.dumps(result_to_json(r, self._obs, self._names)["evidence"]) for r in results
        ]
        self._writer.write_table(self._pa.Table.from_pydict(cols, schema=self._schema))

    def close(self) -> None:
        self._writer.close()
        if self._target is not None:
            self._target.write(self._sink.getvalue().to_pybytes())


def open_writer(
    path: str | Path | IO[bytes],
    fmt: str,
    observations: Sequence[str],
    names: Sequence[str],
    *,
    extra: Sequence[ExtraColumn] = (),
    metadata: dict[str, Any] | None = None,
) -> LabelWriter:
    """A writer for ``fmt`` at ``path`` (or into a binary stream, left open at ``close``).

    ``observations`` are ids, ``names`` their column names.
    """
    p = Path(path) if isinstance(path, (str, os.PathLike)) else path
    if fmt == "csv":
        return _CsvWriter(p, observations, names, extra)
    if fmt == "jsonl":
        return _JsonlWriter(p, observations, names, extra)
    if fmt == "parquet":
        return _ParquetWriter(p, observations, names, extra, metadata or {})
    raise ConfigError(f"unknown output format {fmt!r}")


def render_results(
    results: Sequence[ReportResult],
    fmt: str,
    observations: Sequence[str],
    names: Sequence[str],
    *,
    extra: Sequence[ExtraColumn] = (),
    metadata: dict[str, Any] | None = None,
) -> bytes:
    """The bytes a writer for ``fmt`` produces for ``results`` (a CSV part includes its header).

    Batch runs render each chunk this way (in worker processes) and commit it as a part file.
    """
    buf = io.BytesIO()
    writer = open_writer(buf, fmt, observations, names, extra=extra, metadata=metadata)
    writer.write(results)
    writer.close()
    return buf.getvalue()


class ErrorWriter:
    """``<out>.errors.jsonl``: one JSON object per input row that produced no output row.

    The file is created on the first error only.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fh: IO[str] | None = None
        self.n_fatal = 0
        self.n_skipped = 0
        self.reasons: dict[str, int] = {}

    def write(self, error: RowError) -> None:
        if self._fh is None:
            self._fh = open(self.path, "w", encoding="utf-8")  # noqa: SIM115
        self._fh.write(json.dumps(error.to_dict(), ensure_ascii=False) + "\n")
        if error.fatal:
            self.n_fatal += 1
        else:
            self.n_skipped += 1
        self.reasons[error.reason] = self.reasons.get(error.reason, 0) + 1

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


def write_json(path: str | Path, data: dict[str, Any]) -> None:
    """Write JSON atomically (temp file + rename)."""
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, ensure_ascii=False, default=str)
        fh.write("\n")
    os.replace(tmp, p)
