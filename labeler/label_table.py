"""Read a labels file (the engine's output contract) into arrays, keyed by study.

Accepted inputs, as ``labeler label`` writes them:

* CSV / TSV: a key column (``study_uid``) and one column per observation holding ``1``, ``0``,
  ``-1`` or empty (read as text: ids are kept verbatim, ``"007"`` stays ``"007"``);
* Parquet: the same columns (nullable integers), an ``evidence`` column is ignored;
* JSONL: one object per study with ``study_uid`` and a ``labels`` object.

Per-observation confidence columns ``<Observation>__conf`` (JSONL: a ``conf`` object), the
probability that the emitted label is right as estimated by the noise stage, are read when present.
Other ``<Observation>__<suffix>`` columns are ignored. Any other column must be named as carried
(``carry``) or it is an error, so a stray column is never mistaken for a label.

The labels here are CheXpert numbers held in a float array: ``1`` positive, ``0`` negative,
:data:`~labeler.vocab.CHEXPERT_UNCERTAIN` uncertain, ``NaN`` blank (not mentioned).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .deid import check_no_free_text, check_no_phi_columns
from .errors import ConfigError, DataError
from .export import sidecar_paths
from .vocab import (
    CHEXPERT_NEGATIVE,
    CHEXPERT_POSITIVE,
    CHEXPERT_UNCERTAIN,
    chexpert_to_status,
    status_to_chexpert,
)

__all__ = ["LabelTable", "read_label_table", "encode_label_column", "CONF_SUFFIX", "IGNORED_COLUMNS"]

#: suffix of the per-observation confidence columns written by the noise stage
CONF_SUFFIX = "__conf"
#: columns of labels files that are neither labels nor carried (JSON evidence offsets, provenance)
IGNORED_COLUMNS = frozenset({"evidence", "derived_by", "rows", "provenance"})
_FAST = {"1": CHEXPERT_POSITIVE, "1.0": CHEXPERT_POSITIVE, "0": CHEXPERT_NEGATIVE, "0.0": CHEXPERT_NEGATIVE,
         "-1": CHEXPERT_UNCERTAIN, "-1.0": CHEXPERT_UNCERTAIN, "": np.nan}
_CODES = frozenset({CHEXPERT_POSITIVE, CHEXPERT_NEGATIVE, CHEXPERT_UNCERTAIN})


@dataclass(frozen=True)
class LabelTable:
    """Labels of ``N`` studies for ``F`` observations.

    Attributes
    ----------
    keys : tuple of str, shape (N,)
        The key column's values, verbatim and unique (a study UID, an accession or a report id).
    observations : tuple of str, shape (F,)
        Observation column names, in file order (e.g. the 14 CheXpert names).
    values : ndarray of shape (N, F), float64
        ``1`` / ``0`` / ``-1`` (uncertain) / ``NaN`` (blank).
    conf : ndarray of shape (N, F) or None
        Probability that each emitted label is right (``NaN`` where not given); ``None`` when
        the file has no ``__conf`` columns.
    carried : DataFrame
        Extra columns copied through (``N`` rows, text).
    provenance : dict
        The labels file's ``.meta.json`` (engine, labeler, ruleset), when it exists.
    source : str
    """

    keys: tuple[str, ...]
    observations: tuple[str, ...]
    values: np.ndarray
    conf: np.ndarray | None = None
    carried: pd.DataFrame = field(default_factory=pd.DataFrame)
    provenance: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        n, f = len(self.keys), len(self.observations)
        if self.values.shape != (n, f):
            raise ValueError(f"values has shape {self.values.shape}, expected {(n, f)}")
        if self.conf is not None and self.conf.shape != (n, f):
            raise ValueError(f"conf has shape {self.conf.shape}, expected {(n, f)}")

    def frame(self) -> pd.DataFrame:
        """The labels as a DataFrame: key column ``key``, observations as nullable Int8, conf, carried."""
        data: dict[str, Any] = {"key": list(self.keys)}
        for j, obs in enumerate(self.observations):
            data[obs] = pd.array(self.values[:, j], dtype="Float64").astype("Int8")
        if self.conf is not None:
            for j, obs in enumerate(self.observations):
                data[obs + CONF_SUFFIX] = self.conf[:, j]
        out = pd.DataFrame(data)
        for col in self.carried.columns:
            out[col] = self.carried[col].to_numpy()
        return out


def encode_label_column(values: Sequence[Any], *, column: str, where: str) -> np.ndarray:
    """CheXpert cells (``1``, ``"0.0"``, ``-1``, ``""``, ``None``, ``NaN``) to a float array (blank = NaN).

    Raises :class:`~labeler.errors.DataError` naming the column and row of the first bad cell.

    >>> encode_label_column(["1", "", "-1.0", "0"], column="Edema", where="x.csv").tolist()
    [1.0, nan, -1.0, 0.0]
    """
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        key = v.strip() if isinstance(v, str) else v
        if isinstance(key, str) and key in _FAST:
            out[i] = _FAST[key]
            continue
        if isinstance(key, (int, float, np.integer, np.floating)) and not isinstance(key, bool) and key in _CODES:
            out[i] = float(key)
            continue
        try:
            code = status_to_chexpert(chexpert_to_status(v))
        except ValueError:
            raise DataError(
                f"{where}: column {column!r}, row {i + 1}: not a label value (expected 1, 0, -1 or empty); "
                "if it is not an observation, name it with --carry-column or leave it out",
                code="bad_label_value",
            ) from None
        out[i] = np.nan if code is None else code
    return out


def _encode_conf(values: pd.Series, *, column: str, where: str) -> np.ndarray:
    numbers = pd.to_numeric(values.replace("", np.nan), errors="coerce")
    bad = numbers.isna() & values.notna() & (values.astype(str).str.strip() != "")
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0]) + 1
        raise DataError(f"{where}: column {column!r}, row {row}: not a number", code="bad_confidence")
    arr = numbers.to_numpy(dtype=np.float64)
    if np.any((arr < 0) | (arr > 1)):
        row = int(np.flatnonzero((arr < 0) | (arr > 1))[0]) + 1
        raise DataError(f"{where}: column {column!r}, row {row}: confidence outside [0, 1]", code="bad_confidence")
    return arr


def _read_frame(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".tab"):
        return pd.read_csv(path, dtype=str, keep_default_na=False, sep="," if suffix == ".csv" else "\t")
    if suffix in (".parquet", ".pq"):
        frame = pd.read_parquet(path)
        return frame.astype(object).where(frame.notna(), None)
    if suffix in (".jsonl", ".ndjson"):
        records = []
        with open(path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    raise DataError(f"{path.name}: line {lineno} is not JSON") from None
                if not isinstance(obj, dict):
                    raise DataError(f"{path.name}: line {lineno} is not a JSON object")
                rec = {k: v for k, v in obj.items() if k not in ("labels", "conf")}
                labels = obj.get("labels")
                if isinstance(labels, dict):
                    rec.update(labels)
                conf = obj.get("conf")
                if isinstance(conf, dict):
                    rec.update({k + CONF_SUFFIX: v for k, v in conf.items()})
                records.append(rec)
        return pd.DataFrame.from_records(records)
    raise ConfigError(f"cannot tell the format of {path.name!r} (use .csv, .tsv, .jsonl or .parquet)")


def read_label_table(
    path: str | Path,
    *,
    key: str = "study_uid",
    carry: Sequence[str] = (),
    observations: Sequence[str] | None = None,
) -> LabelTable:
    """Read a labels file into a :class:`LabelTable`.

    Parameters
    ----------
    path : str or Path
        CSV, TSV, JSONL or Parquet labels (as written by ``labeler label``).
    key : str, default="study_uid"
        The column holding the study key (ids are kept verbatim as text).
    carry : sequence of str, default=()
        Extra columns to copy through (e.g. a topic id to stratify splits on). They must not be
        report text or names.
    observations : sequence of str, default=None
        The observation columns; ``None`` takes every other column (then each must hold only
        label values).

    Returns
    -------
    LabelTable

    Raises
    ------
    DataError
        Missing file or key, empty or duplicate keys, a non-label value in an observation column,
        report text or name columns in the file.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"labels file not found: {path}")
    try:
        frame = _read_frame(p)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read labels file {p.name}: {type(exc).__name__}") from None
    check_no_phi_columns(frame.columns, where=p.name)
    if key not in frame.columns:
        raise DataError(f"{p.name} has no key column {key!r} (columns: {', '.join(map(str, frame.columns[:8]))}...)",
                        code="missing_column")
    keys = frame[key].map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
    if (keys == "").any():
        row = int(np.flatnonzero((keys == "").to_numpy())[0]) + 1
        raise DataError(f"{p.name}: row {row} has an empty {key!r}", code="missing_id")
    dup = keys[keys.duplicated()]
    if len(dup):
        raise DataError(f"{p.name}: {len(dup)} duplicate {key!r} value(s), e.g. {dup.iloc[0]!r}; "
                        "a labels file has one row per study", code="duplicate_id")
    missing_carry = [c for c in carry if c not in frame.columns]
    if missing_carry:
        raise DataError(f"{p.name} has no column(s) {', '.join(map(repr, missing_carry))} to carry",
                        code="missing_column")
    if observations is None:
        skip = {key, *carry, *IGNORED_COLUMNS}
        obs = [c for c in frame.columns if c not in skip and "__" not in str(c)]
    else:
        absent = [c for c in observations if c not in frame.columns]
        if absent:
            raise DataError(f"{p.name} has no observation column(s) {', '.join(map(repr, absent))}",
                            code="missing_column")
        obs = list(observations)
    if not obs:
        raise DataError(f"{p.name} has no observation columns", code="missing_column")
    values = np.column_stack([encode_label_column(frame[c].tolist(), column=c, where=p.name) for c in obs])
    conf = None
    if any(o + CONF_SUFFIX in frame.columns for o in obs):
        conf = np.full(values.shape, np.nan)
        for j, o in enumerate(obs):
            if o + CONF_SUFFIX in frame.columns:
                conf[:, j] = _encode_conf(frame[o + CONF_SUFFIX], column=o + CONF_SUFFIX, where=p.name)
    carried = frame[list(carry)].astype(object).where(frame[list(carry)].notna(), None).reset_index(drop=True)
    check_no_free_text(carried, list(carry), where=p.name)
    meta_path = sidecar_paths(p)["meta"]
    provenance: dict[str, Any] = {}
    if meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            provenance = {k: meta[k] for k in ("engine_version", "labeler", "created_at") if k in meta}
        except (OSError, ValueError):
            provenance = {}
    return LabelTable(tuple(keys.tolist()), tuple(map(str, obs)), values, conf, carried, provenance, str(p))
