"""Patient-level train / validation / test splits, stratified on the labels.

The unit of splitting is the **patient**: all images and studies of a patient land in one split,
so no patient is seen in training and evaluated in test. Patients are stratified with the
iterative stratification of Sechidis, Tsoumakas & Vlahavas (*On the stratification of
multi-label data*, ECML PKDD 2011), which keeps every label's prevalence close to its overall
value in each split, rare labels first — better than random or label-powerset splitting for
multi-label data. A patient's label vector says, per observation, whether any of their studies is
positive (``1``); extra stratification keys (e.g. a topic id) add one column per value.

:func:`iterative_stratification` is the numeric core (a plain ``(N, L)`` matrix in, a fold per
row out), deterministic for a given ``random_state``; :func:`split_manifest` applies it to a
manifest and :func:`split_report` measures the result (patients, studies and images per split,
label prevalence per split).
"""

from __future__ import annotations

import datetime as _dt
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._version import __version__
from .errors import ConfigError, DataError
from .export import sidecar_paths, write_json
from .manifest import SPLITS, Manifest, read_manifest, write_manifest
from .vocab import CHEXPERT_POSITIVE, CHEXPERT_UNCERTAIN

__all__ = [
    "parse_ratios",
    "iterative_stratification",
    "assign_splits",
    "split_report",
    "SplitSummary",
    "split_manifest",
    "split_report_path",
]

MISSING_PATIENT_POLICIES = ("error", "study")


def parse_ratios(text: str | Sequence[float]) -> tuple[float, float, float]:
    """Train/validation/test proportions from ``"80:10:10"`` (or 3 numbers), normalised to sum 1.

    >>> parse_ratios("70:15:15")
    (0.7, 0.15, 0.15)
    >>> parse_ratios("8:1:1")
    (0.8, 0.1, 0.1)
    """
    if isinstance(text, str):
        parts = [p.strip() for p in text.replace("/", ":").split(":")]
        try:
            numbers = [float(p) for p in parts]
        except ValueError:
            raise ConfigError(f"ratios must look like 80:10:10, got {text!r}") from None
    else:
        numbers = [float(x) for x in text]
    if len(numbers) != 3:
        raise ConfigError(f"give three ratios (train:validation:test), got {len(numbers)}")
    if any(x < 0 or not np.isfinite(x) for x in numbers) or sum(numbers) <= 0:
        raise ConfigError("ratios must be non-negative and not all zero")
    total = sum(numbers)
    return tuple(round(x / total, 12) for x in numbers)  # type: ignore[return-value]


def iterative_stratification(Y: np.ndarray, ratios: Sequence[float], *, random_state: int | None = 0) -> np.ndarray:
    """Assign each row of a binary label matrix to a fold, keeping label proportions (Sechidis et al. 2011).

    Parameters
    ----------
    Y : ndarray of shape (N, L)
        Binary (0/1 or bool) label matrix, one row per sample (here: per patient).
    ratios : sequence of float, length K
        Desired fold proportions (normalised to sum 1; a zero ratio gets no sample).
    random_state : int or None, default=0
        Seeds tie-breaking; the same seed and input give the same folds.

    Returns
    -------
    ndarray of shape (N,), int
        The fold (0..K-1) of each row.

    Notes
    -----
    The algorithm takes the label with the fewest not-yet-assigned samples, and gives each of
    its samples to the fold that most lacks that label (ties: the fold that most lacks samples,
    then at random), updating the desired counts; samples without labels go to the folds that
    most lack samples. One change to the published algorithm: a fold that already holds its
    share of samples takes no more while another fold has room, so the fold sizes follow
    ``ratios`` even when many labels are rare (with the original, every label seen once sends its
    sample to the largest fold).

    Examples
    --------
    >>> import numpy as np
    >>> Y = np.array([[1, 0]] * 10 + [[0, 1]] * 10 + [[0, 0]] * 80)
    >>> folds = iterative_stratification(Y, [0.8, 0.1, 0.1], random_state=0)
    >>> np.bincount(folds).tolist(), [int(Y[folds == k, 0].sum()) for k in range(3)]
    ([80, 10, 10], [8, 1, 1])
    """
    Y = np.asarray(Y)
    if Y.ndim != 2:
        raise ValueError(f"Y must be 2-D (N, L), got shape {Y.shape}")
    Y = Y.astype(bool)
    r = np.asarray(ratios, dtype=np.float64)
    if r.ndim != 1 or len(r) < 2 or np.any(r < 0) or r.sum() <= 0:
        raise ValueError("ratios must be at least two non-negative numbers, not all zero")
    r = r / r.sum()
    n, n_labels = Y.shape
    rng = np.random.default_rng(random_state)
    closed = r == 0  # folds that must stay empty
    want = n * r  # desired samples per fold
    want_label = np.outer(r, Y.sum(axis=0)).astype(np.float64)  # (K, L) desired positives per fold
    folds = np.full(n, -1, dtype=np.int64)
    remaining = np.ones(n, dtype=bool)
    order = rng.permutation(n)  # random but seeded order within each label

    def best_fold(scores: list[np.ndarray]) -> int:
        cand = np.flatnonzero(~closed)
        room = cand[want[cand] > 0]  # folds that are full take no more while others have room
        if len(room):
            cand = room
        for s in scores:
            vals = s[cand]
            cand = cand[vals == vals.max()]
            if len(cand) == 1:
                return int(cand[0])
        return int(rng.choice(cand))

    label_left = Y.sum(axis=0).astype(np.int64)
    while True:
        active = np.flatnonzero(label_left > 0)
        if len(active) == 0:
            break
        fewest = label_left[active].min()
        ties = active[label_left[active] == fewest]
        label = int(ties[0] if len(ties) == 1 else rng.choice(ties))
        rows = order[remaining[order] & Y[order, label]]
        for i in rows:
            f = best_fold([want_label[:, label], want])
            folds[i] = f
            remaining[i] = False
            labs = Y[i]
            want_label[f, labs] -= 1
            want[f] -= 1
            label_left[labs] -= 1
    for i in order[remaining[order]]:  # samples without any label
        f = best_fold([want])
        folds[i] = f
        want[f] -= 1
    return folds


def _patient_keys(frame: pd.DataFrame, patient_column: str, missing_patient: str) -> tuple[pd.Series, int]:
    if patient_column not in frame.columns:
        raise DataError(f"the manifest has no {patient_column!r} column; pass --patient-column", code="missing_column")
    pid = frame[patient_column].map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v))
                                    or str(v) == "" else str(v))
    missing = pid.isna()
    n_missing = int(missing.sum())
    if n_missing:
        if missing_patient == "error":
            raise DataError(f"{n_missing} manifest row(s) have no {patient_column}; pass --missing-patient study to "
                            "treat each such study as its own patient (leaks if a patient has several studies)",
                            code="missing_patient_id")
        study = frame["study_uid"] if "study_uid" in frame.columns else frame["report_id"]
        pid = pid.where(~missing, "study:" + study.astype(str))
    return pid, n_missing


def assign_splits(
    manifest: Manifest,
    *,
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
    random_state: int | None = 0,
    patient_column: str = "patient_id",
    stratify_on: Sequence[str] = (),
    missing_patient: str = "error",
) -> tuple[pd.Series, dict[str, Any]]:
    """The split of every manifest row, decided per patient.

    Parameters
    ----------
    manifest : Manifest
    ratios : sequence of 3 floats, default=(0.8, 0.1, 0.1)
        Train / validation / test proportions of patients.
    random_state : int or None, default=0
    patient_column : str, default="patient_id"
    stratify_on : sequence of str, default=()
        Extra manifest columns to stratify on (each value becomes one more label column), e.g. a
        topic id.
    missing_patient : {"error", "study"}, default="error"
        Rows without a patient id: refuse, or treat each study as its own patient.

    Returns
    -------
    (Series, dict)
        The split name of each row (``train`` / ``validation`` / ``test``), and facts for the report
        (patients, rows without patient id).
    """
    if missing_patient not in MISSING_PATIENT_POLICIES:
        raise ConfigError(f"missing_patient must be one of {', '.join(MISSING_PATIENT_POLICIES)}")
    ratios = parse_ratios(ratios)
    frame = manifest.frame
    missing_cols = [c for c in stratify_on if c not in frame.columns]
    if missing_cols:
        raise DataError(f"the manifest has no column(s) {', '.join(map(repr, missing_cols))} to stratify on "
                        "(carry them with labeler link --carry-column)", code="missing_column")
    pid, n_missing = _patient_keys(frame, patient_column, missing_patient)
    codes, patients = pd.factorize(pid, sort=True)  # sorted: independent of row order
    blocks = [(manifest.values() == CHEXPERT_POSITIVE).astype(np.int8)]
    for col in stratify_on:
        values = frame[col].astype(str).fillna("")
        blocks.append(pd.get_dummies(values).to_numpy(dtype=np.int8))
    row_labels = np.hstack(blocks) if blocks else np.zeros((len(frame), 0), dtype=np.int8)
    Y = np.zeros((len(patients), row_labels.shape[1]), dtype=np.int8)
    np.maximum.at(Y, codes, row_labels)
    folds = iterative_stratification(Y, ratios, random_state=random_state)
    names = np.array(SPLITS)[folds[codes]]
    return pd.Series(names, index=frame.index, name="split"), {
        "n_patients": int(len(patients)), "n_rows_without_patient_id": n_missing,
    }


def split_report(manifest: Manifest, split: pd.Series | None = None, *,
                 patient_column: str = "patient_id") -> dict[str, Any]:
    """Counts and label prevalence per split.

    Prevalence is measured over studies (``report_id``): the fraction of studies whose label is
    positive, and (``uncertain``) uncertain. ``max_abs_deviation`` is, per observation, the largest
    difference between a split's positive prevalence and the overall one. ``patients_in_several_splits``
    is 0 by construction and checked here.
    """
    frame = manifest.frame
    split = split if split is not None else frame["split"]
    key = "report_id" if "report_id" in frame.columns else "study_uid"
    values = manifest.values()
    studies = pd.DataFrame({"key": frame[key].astype(str), "split": split.to_numpy()})
    first = ~studies["key"].duplicated().to_numpy()
    sv = values[first]
    ss = studies["split"].to_numpy()[first]
    overall_pos = (sv == CHEXPERT_POSITIVE).mean(axis=0) if len(sv) else np.zeros(values.shape[1])
    out: dict[str, Any] = {"splits": {}, "overall": {}}
    pid = frame[patient_column].astype(str) if patient_column in frame.columns else frame[key].astype(str)
    per_patient = pd.DataFrame({"p": pid.to_numpy(), "s": split.to_numpy()}).drop_duplicates()
    out["patients_in_several_splits"] = int(per_patient["p"].duplicated().sum())
    n_patients_total = per_patient["p"].nunique()
    for name in (*SPLITS,):
        rows = split.to_numpy() == name
        st = ss == name
        pos = (sv[st] == CHEXPERT_POSITIVE).mean(axis=0) if st.any() else np.full(values.shape[1], np.nan)
        unc = (sv[st] == CHEXPERT_UNCERTAIN).mean(axis=0) if st.any() else np.full(values.shape[1], np.nan)
        n_pat = int(per_patient.loc[per_patient["s"] == name, "p"].nunique())
        out["splits"][name] = {
            "patients": n_pat,
            "patient_fraction": round(n_pat / n_patients_total, 4) if n_patients_total else 0.0,
            "studies": int(st.sum()),
            "images": int(rows.sum()),
            "positive": {o: (None if np.isnan(x) else round(float(x), 4)) for o, x in zip(manifest.observations, pos, strict=True)},
            "uncertain": {o: (None if np.isnan(x) else round(float(x), 4)) for o, x in zip(manifest.observations, unc, strict=True)},
            "positive_studies": {o: int((sv[st][:, j] == CHEXPERT_POSITIVE).sum())
                                 for j, o in enumerate(manifest.observations)},
        }
    out["overall"] = {
        "patients": int(n_patients_total), "studies": int(first.sum()), "images": int(len(frame)),
        "positive": {o: round(float(x), 4) for o, x in zip(manifest.observations, overall_pos, strict=True)},
    }
    dev = {}
    for j, o in enumerate(manifest.observations):
        diffs = [abs(out["splits"][s]["positive"][o] - overall_pos[j]) for s in SPLITS
                 if out["splits"][s]["positive"][o] is not None]
        dev[o] = round(float(max(diffs)), 4) if diffs else None
    out["max_abs_deviation"] = dev
    return out


def split_report_path(output: str | Path) -> Path:
    """``<out>.split_report.json``."""
    out = Path(output)
    return out.with_name(out.name + ".split_report.json")


@dataclass
class SplitSummary:
    """What :func:`split_manifest` did."""

    manifest: str
    output: str
    ratios: tuple[float, float, float]
    random_state: int | None
    report: dict[str, Any] = field(default_factory=dict)
    report_file: str = ""
    meta_file: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def split_manifest(
    manifest_path: str | Path,
    output: str | Path,
    *,
    ratios: Sequence[float] | str = (0.8, 0.1, 0.1),
    random_state: int | None = 0,
    patient_column: str = "patient_id",
    stratify_on: Sequence[str] = (),
    missing_patient: str = "error",
    overwrite: bool = False,
    command: str | None = None,
) -> SplitSummary:
    """Add a patient-level, label-stratified ``split`` column to a manifest and write it to ``output``.

    Writes ``output`` (the manifest with ``split``), ``<output>.split_report.json`` (see
    :func:`split_report`) and ``<output>.meta.json``. An existing ``split`` column is replaced.

    Parameters
    ----------
    manifest_path : str or Path
    output : str or Path
        ``.parquet`` or ``.csv``; may equal ``manifest_path`` with ``overwrite=True``.
    ratios : str or sequence of 3 floats, default=(0.8, 0.1, 0.1)
        ``"70:15:15"`` or numbers (normalised to sum 1), in patients.
    random_state : int or None, default=0
    patient_column : str, default="patient_id"
    stratify_on : sequence of str, default=()
    missing_patient : {"error", "study"}, default="error"
    overwrite : bool, default=False
    command : str, default=None

    Returns
    -------
    SplitSummary
    """
    out = Path(output)
    side = sidecar_paths(out)
    report_file = split_report_path(out)
    existing = [p for p in (out, side["meta"], report_file) if p.exists()]
    if existing and not overwrite:
        raise ConfigError(f"output exists: {', '.join(map(str, existing))} (pass --overwrite to replace)",
                          code="output_exists")
    ratios_t = parse_ratios(ratios)
    man = read_manifest(manifest_path)
    if man.frame.empty:
        raise DataError(f"{Path(manifest_path).name} has no rows to split")
    split, facts = assign_splits(man, ratios=ratios_t, random_state=random_state, patient_column=patient_column,
                                 stratify_on=stratify_on, missing_patient=missing_patient)
    report = split_report(man, split, patient_column=patient_column)
    if report["patients_in_several_splits"]:  # pragma: no cover - impossible by construction
        raise RuntimeError("a patient crossed splits")
    report["n_rows_without_patient_id"] = facts["n_rows_without_patient_id"]
    frame = man.frame.drop(columns=[c for c in ("split",) if c in man.frame.columns])
    frame.insert(frame.columns.get_loc("path") + 1, "split", split.to_numpy())
    params = {"ratios": list(ratios_t), "random_state": random_state, "patient_column": patient_column,
              "stratify_on": list(stratify_on), "missing_patient": missing_patient,
              "method": "iterative stratification (Sechidis et al. 2011) over patients"}
    info = {**man.info, "split": params}
    out.parent.mkdir(parents=True, exist_ok=True)
    write_manifest(Manifest(frame, man.observations, info), out)
    write_json(report_file, {"engine_version": __version__, **params, **report})
    meta = {
        "engine_version": __version__,
        "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "manifest": {**info, "observations": man.observations},
        "input": str(manifest_path),
        "output": {"path": str(out), "columns": list(frame.columns)},
        "counts": {s: {k: report["splits"][s][k] for k in ("patients", "studies", "images")} for s in SPLITS},
        "command": command or " ".join(sys.argv),
    }
    write_json(side["meta"], meta)
    return SplitSummary(str(manifest_path), str(out), ratios_t, random_state, report, str(report_file),
                        str(side["meta"]))
