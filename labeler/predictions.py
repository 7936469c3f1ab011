"""Predictions to evaluate: a labels file (the engine's output contract, or another tool's
CheXpert-style CSV), or a labeler run on a gold set's texts.

Both become :class:`Predictions`: statuses ``(M, F)`` keyed by study UID, plus, where known,
the evidence behind each label (rule ids and character offsets, never text) and provenance.
The evaluator aligns them to the gold by id (:func:`labeler.evaluate.align`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._util import file_sha256
from ._version import __version__
from .errors import ConfigError, DataError
from .gold import GoldSet, _check_ids, _decode_columns, normalize_name, read_table, table_columns
from .vocab import AssertionStatus, chexpert_to_status

__all__ = [
    "EvidenceRef",
    "Predictions",
    "load_predictions",
    "predict",
    "labeler_column_names",
    "prediction_columns",
    "file_sha256",
]

log = logging.getLogger(__name__)

#: progress callback: (reports done, reports in all)
ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class EvidenceRef:
    """Why a predicted label has its value (offsets into the text the labeler saw; no text).

    ``rule_id`` is the mention rule, ``modifier_rule_id`` the ConText rule that decided the
    status (``None``: no modifier, the default status), ``derived_by`` the aggregation rule of a
    derived label (``No Finding``) or an implied one.
    """

    rule_id: str | None = None
    modifier_rule_id: str | None = None
    modifier_category: str | None = None
    derived_by: str | None = None
    section: str | None = None
    sentence_start: int | None = None
    sentence_end: int | None = None
    mention_start: int | None = None
    mention_end: int | None = None

    @classmethod
    def from_json(cls, ev: Mapping[str, Any] | None, derived_by: str | None = None) -> EvidenceRef:
        """From the evidence object of the JSONL/Parquet output contract."""
        if not ev:
            return cls(derived_by=derived_by)
        sentence = ev.get("sentence") or [None, None]
        mention = ev.get("mention") or [None, None]
        modifier = ev.get("modifier") or {}
        return cls(ev.get("rule_id"), modifier.get("rule_id"), modifier.get("category"), derived_by,
                   ev.get("section"), _int(sentence[0]), _int(sentence[1]), _int(mention[0]), _int(mention[1]))


def _int(x: Any) -> int | None:
    try:
        return None if x is None else int(x)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Predictions:
    """Predicted statuses of ``M`` reports for ``F`` observations.

    Attributes
    ----------
    name : str
        How reports and tables call this labeler.
    study_uids : tuple of str, shape (M,)
    observations : tuple of str, shape (F,)
        Column names (matched to gold observations with :func:`labeler.gold.normalize_name`).
    values : ndarray of AssertionStatus, shape (M, F)
    evidence : mapping of (row, column) to EvidenceRef
        The deciding evidence of labels that have some.
    provenance : dict
        Labeler identity, versions and hashes, as recorded by the producer.
    source : str
        The file read, or ``"labeler run"``.
    notes : tuple of str
        Counts of what was ignored or assumed.
    failed : tuple of str
        Ids whose labeling failed (scored as all blank).
    sha256 : str or None
        Digest of the labels file (``None`` for labeler runs).
    """

    name: str
    study_uids: tuple[str, ...]
    observations: tuple[str, ...]
    values: np.ndarray
    evidence: Mapping[tuple[int, int], EvidenceRef] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    notes: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    sha256: str | None = None

    def __post_init__(self) -> None:
        if self.values.shape != (len(self.study_uids), len(self.observations)):
            raise ValueError(f"values has shape {self.values.shape}, expected "
                             f"{(len(self.study_uids), len(self.observations))}")
        if len(set(self.study_uids)) != len(self.study_uids):
            raise ValueError("study_uids must be unique")


# ---------------------------------------------------------------------------------------------
# files


_IGNORED_COLUMNS = {"evidence", "derived_by", "rows", "provenance", "labels"}


def load_predictions(
    path: str | Path,
    *,
    name: str | None = None,
    id_column: str = "study_uid",
    observations: Sequence[str] | None = None,
    rename: Mapping[str, str] | None = None,
) -> Predictions:
    """Read a labels file: CSV/TSV/Parquet (id column + observation columns of ``1 / 0 / -1 /
    blank``) or the engine's JSONL (``study_uid``, ``labels``, ``evidence``, ``provenance``).

    Parameters
    ----------
    path : str or Path
    name : str, default=None
        Display name (default: the file name).
    id_column : str, default="study_uid"
    observations : sequence of str, default=None
        Read only these observations (matched with :func:`~labeler.gold.normalize_name` after
        ``rename``); other columns are ignored and counted in ``notes``. ``None`` reads every
        column except the id, ``evidence`` and ``<Name>__<suffix>`` extra columns.
    rename : mapping of str to str, default=None
        File column -> observation name.

    Raises
    ------
    DataError
        Missing file or id column, unknown values (with counts), empty or duplicated ids, bad JSON.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"predictions file not found: {p}")
    if p.suffix.lower() in (".jsonl", ".ndjson") and _is_engine_jsonl(p):
        return _load_engine_jsonl(p, name or p.name, observations, rename)
    df = read_table(p)
    if id_column not in df.columns:
        raise DataError(f"{p.name}: no id column {id_column!r}; columns are {list(df.columns)[:20]} "
                        "(choose one with --pred-id-column)")
    rename = dict(rename or {})
    candidates = [c for c in df.columns if c != id_column and c not in _IGNORED_COLUMNS and "__" not in c]
    pairs, ignored = _match_columns(candidates, observations, rename)
    if not pairs:
        raise DataError(f"{p.name}: none of the observations {list(observations or [])[:20]} is a column "
                        f"(columns: {list(df.columns)[:20]})")
    ids = [str(u).strip() for u in df[id_column].tolist()]
    _check_ids(ids, p.name, id_column)
    values = _decode_columns(df, pairs, p.name, chexpert_to_status, "1, 0, -1 or empty")
    evidence: dict[tuple[int, int], EvidenceRef] = {}
    if "evidence" in df.columns:  # the engine's Parquet output
        col_index = {n: j for j, (_, n) in enumerate(pairs)}
        file_index = {c: col_index[n] for c, n in pairs}
        for i, blob in enumerate(df["evidence"].tolist()):
            evidence.update(_parse_evidence(blob, i, file_index, {}, p.name))
    notes = [f"columns not scored: {ignored}"] if ignored else []
    return Predictions(name or p.name, tuple(ids), tuple(n for _, n in pairs), values, evidence,
                       _file_provenance(p), str(p), tuple(notes), sha256=file_sha256(p))


def prediction_columns(path: str | Path, *, id_column: str = "study_uid") -> list[str]:
    """The observation columns a labels file holds (header only; engine JSONL: the first line's labels)."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"predictions file not found: {p}")
    if p.suffix.lower() in (".jsonl", ".ndjson") and _is_engine_jsonl(p):
        with p.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.strip():
                    return list(json.loads(line)["labels"])
    return [c for c in table_columns(p) if c != id_column and c not in _IGNORED_COLUMNS and "__" not in c]


def _match_columns(candidates: Sequence[str], observations: Sequence[str] | None, rename: Mapping[str, str]
                   ) -> tuple[list[tuple[str, str]], list[str]]:
    """``(file column, observation name)`` pairs, and the candidate columns left out."""
    named = [(c, rename.get(c, c)) for c in candidates]
    if observations is None:
        return named, []
    wanted = {normalize_name(o): o for o in observations}
    pairs, ignored = [], []
    for col, n in named:
        key = normalize_name(n)
        if key in wanted:
            pairs.append((col, wanted.pop(key)))
        else:
            ignored.append(col)
    return pairs, ignored


def _is_engine_jsonl(path: Path) -> bool:
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.strip():
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    return False
                return isinstance(obj, dict) and isinstance(obj.get("labels"), dict)
    return False


def _parse_evidence(blob: Any, row: int, index: Mapping[str, int], derived: Mapping[str, str], source: str
                    ) -> dict[tuple[int, int], EvidenceRef]:
    if isinstance(blob, str):
        if not blob.strip():
            return {}
        try:
            blob = json.loads(blob)
        except json.JSONDecodeError:
            raise DataError(f"{source}: row {row + 1}: evidence is not valid JSON") from None
    out: dict[tuple[int, int], EvidenceRef] = {}
    if not isinstance(blob, dict):
        return out
    for col, j in index.items():
        evs = blob.get(col) or []
        first = evs[0] if isinstance(evs, list) and evs and isinstance(evs[0], dict) else None
        if first is not None or col in derived:
            out[(row, j)] = EvidenceRef.from_json(first, derived.get(col))
    return out


def _load_engine_jsonl(path: Path, name: str, observations: Sequence[str] | None,
                       rename: Mapping[str, str] | None) -> Predictions:
    rows: list[dict[str, Any]] = []
    bad: list[int] = []
    with path.open(encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                bad.append(lineno)
                continue
            if not isinstance(obj, dict) or not isinstance(obj.get("labels"), dict) or "study_uid" not in obj:
                bad.append(lineno)
                continue
            rows.append(obj)
    if bad:
        raise DataError(f"{path.name}: {len(bad)} line(s) are not objects with study_uid and labels "
                        f"(lines {bad[:5]})")
    if not rows:
        raise DataError(f"{path.name}: no predictions")
    columns = list(dict.fromkeys(k for r in rows for k in r["labels"]))
    pairs, ignored = _match_columns(columns, observations, dict(rename or {}))
    if not pairs:
        raise DataError(f"{path.name}: none of the observations {list(observations or [])[:20]} is labeled "
                        f"(labels: {columns[:20]})")
    ids = [str(r["study_uid"]).strip() for r in rows]
    _check_ids(ids, path.name, "study_uid")
    values = np.empty((len(rows), len(pairs)), dtype=object)
    bad_cells: dict[str, int] = {}
    evidence: dict[tuple[int, int], EvidenceRef] = {}
    index = {col: j for j, (col, _) in enumerate(pairs)}
    for i, r in enumerate(rows):
        labels = r["labels"]
        for j, (col, _) in enumerate(pairs):
            try:
                values[i, j] = chexpert_to_status(labels.get(col))
            except ValueError:
                values[i, j] = AssertionStatus.NOT_MENTIONED
                bad_cells[col] = bad_cells.get(col, 0) + 1
        derived = r.get("derived_by") or {}
        evidence.update(_parse_evidence(r.get("evidence") or {}, i, index,
                                        {k: str(v) for k, v in derived.items()} if isinstance(derived, dict) else {},
                                        path.name))
    if bad_cells:
        shown = "; ".join(f"{c!r}: {n} value(s)" for c, n in bad_cells.items())
        raise DataError(f"{path.name}: unknown label values (expected 1, 0, -1 or null) in {shown}")
    provenance = rows[0].get("provenance") if isinstance(rows[0].get("provenance"), dict) else _file_provenance(path)
    notes = [f"labels not scored: {ignored}"] if ignored else []
    return Predictions(name, tuple(ids), tuple(n for _, n in pairs), values, evidence, provenance or {}, str(path),
                       tuple(notes), sha256=file_sha256(path))


def _file_provenance(path: Path) -> dict[str, Any]:
    """Provenance of a labels file: its ``.meta.json`` sidecar, or the Parquet key-value metadata."""
    meta = path.with_name(path.name + ".meta.json")
    if meta.is_file():
        try:
            data = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            log.warning("%s: unreadable meta file, provenance unknown", meta.name)
            return {}
        return {k: data[k] for k in ("engine_version", "labeler", "created_at", "command") if k in data}
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            import pyarrow.parquet as pq

            md = pq.read_schema(path).metadata or {}
            if b"labeler" in md:
                return dict(json.loads(md[b"labeler"]))
        except Exception:  # noqa: BLE001 - provenance is best effort
            return {}
    return {}


# ---------------------------------------------------------------------------------------------
# labeler runs


def labeler_column_names(labeler: Any) -> dict[str, str]:
    """``{observation id: column name}`` of a labeler (display names where it has a ruleset)."""
    ids = list(labeler.observations)
    ruleset = getattr(labeler, "ruleset", None)
    names = {}
    for o in ids:
        try:
            names[o] = ruleset.display_name(o) if ruleset is not None else o
        except KeyError:
            names[o] = o
    return names


def _assertion_engine(labeler: Any) -> Any:
    for stage in getattr(labeler, "stages", ()) or ():
        if hasattr(stage, "assert_targets"):
            return stage
    raise ConfigError(f"labeler {getattr(labeler, 'name', labeler)!r} has no assertion stage: sentence-level "
                      "assertion gold (NegEx) scores assertion rules only")


def _provenance(labeler: Any) -> dict[str, Any]:
    info = labeler.info()
    return {"engine_version": __version__, "labeler": info.to_dict() if hasattr(info, "to_dict") else dict(info)}


def predict(labeler: Any, gold: GoldSet, *, name: str | None = None, on_progress: ProgressFn | None = None
            ) -> Predictions:
    """Run ``labeler`` on the gold set's texts; one prediction per gold row.

    Report-level gold: each text is labeled as a report and the labeler's observations are
    matched to gold columns by id or display name (:func:`~labeler.gold.normalize_name`).
    Sentence-level gold (``gold.targets``, NegEx): the target phrase is found in its sentence
    (:func:`labeler.evaluate.find_target`) and asserted by the labeler's assertion stage; a
    phrase that is not found is predicted blank (counted in ``notes``).
    """
    if gold.texts is None:
        raise ConfigError(f"gold {gold.name!r} carries no report texts: give --text-column, or evaluate a "
                          "predictions file (--pred) instead of a labeler")
    if gold.targets is not None:
        return _predict_targets(labeler, gold, name, on_progress)
    from .records import Report

    names = labeler_column_names(labeler)
    by_key: dict[str, str] = {}
    for oid, disp in names.items():
        by_key.setdefault(normalize_name(disp), oid)
        by_key.setdefault(normalize_name(oid), oid)
    cols = [(j, by_key[normalize_name(o)]) for j, o in enumerate(gold.observations) if normalize_name(o) in by_key]
    observations = tuple(gold.observations[j] for j, _ in cols)
    n = len(gold.study_uids)
    values = np.full((n, len(cols)), AssertionStatus.NOT_MENTIONED, dtype=object)
    evidence: dict[tuple[int, int], EvidenceRef] = {}
    failed: list[str] = []
    reports = (Report(u, t) for u, t in zip(gold.study_uids, gold.texts, strict=True))
    done = 0
    for i, res in enumerate(labeler.label(reports)):
        if res.errors:
            failed.append(res.study_uid)
        by_obs = {lab.observation: lab for lab in res.labels}
        for k, (_, oid) in enumerate(cols):
            lab = by_obs.get(oid)
            if lab is None:
                continue
            values[i, k] = lab.status
            if lab.evidence or lab.rule_id:
                ev = lab.evidence[0] if lab.evidence else None
                evidence[(i, k)] = EvidenceRef(
                    ev.rule_id if ev else None,
                    ev.modifier.rule_id if ev and ev.modifier else None,
                    ev.modifier.category if ev and ev.modifier else None,
                    lab.rule_id,
                    ev.section if ev else None,
                    ev.sentence_start if ev else None,
                    ev.sentence_end if ev else None,
                    ev.mention_start if ev else None,
                    ev.mention_end if ev else None,
                )
        done = i + 1
        if on_progress is not None and (done % 64 == 0 or done == n):
            on_progress(done, n)
    if done != n:
        raise DataError(f"labeler {getattr(labeler, 'name', '?')!r} returned {done} results for {n} reports")
    notes = [f"labeling failed for {len(failed)} report(s), scored as blank"] if failed else []
    return Predictions(name or str(getattr(labeler, "name", "labeler")), gold.study_uids, observations, values,
                       evidence, _provenance(labeler), "labeler run", tuple(notes), tuple(failed))


def _predict_targets(labeler: Any, gold: GoldSet, name: str | None, on_progress: ProgressFn | None) -> Predictions:
    from .evaluate import find_target

    engine = _assertion_engine(labeler)
    texts, targets = gold.texts or (), gold.targets or ()
    n = len(gold.study_uids)
    values = np.full((n, 1), AssertionStatus.NOT_MENTIONED, dtype=object)
    evidence: dict[tuple[int, int], EvidenceRef] = {}
    n_missing = 0
    for i, (sentence, target) in enumerate(zip(texts, targets, strict=True)):
        span = find_target(sentence, target)
        if span is None:
            n_missing += 1
        else:
            (ta,) = engine.assert_targets(sentence, [(span[0], span[1], "target")])
            values[i, 0] = ta.status
            mod = ta.modifier
            evidence[(i, 0)] = EvidenceRef(None, mod.rule_id if mod else None, mod.category if mod else None, None,
                                           None, 0, len(sentence), span[0], span[1])
        if on_progress is not None and ((i + 1) % 64 == 0 or i + 1 == n):
            on_progress(i + 1, n)
    notes = [f"target phrase not found in its sentence for {n_missing} row(s), predicted blank"] if n_missing else []
    return Predictions(name or str(getattr(labeler, "name", "labeler")), gold.study_uids, gold.observations, values,
                       evidence, _provenance(labeler), "labeler run (assertion stage on target phrases)", tuple(notes))

