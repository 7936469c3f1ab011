"""Image-training manifests: reading/writing, uncertainty policies, exporters, a PyTorch dataset.

A *manifest* is a table with one row per image: ``path``, ``report_id`` (the labels key),
``study_uid``, ``patient_id``, image metadata (``modality``, ``view`` ...), one column per
observation holding the report's CheXpert label (``1`` / ``0`` / ``-1`` / null), optional
``<Observation>__conf`` confidence columns, optional carried columns, and, after
``labeler split``, a ``split`` column (``train`` / ``validation`` / ``test``). It is written as
Parquet (or CSV) with its description (observations, image root, how patient ids were made) in
the file's metadata and in ``<manifest>.meta.json``.

Uncertainty policies (Irvin et al., *CheXpert*, AAAI 2019), applied at export, per observation:

========  ==============  ==============  ==============  ==================================
label     ``ignore``      ``zeros``       ``ones``        ``soft``
========  ==============  ==============  ==============  ==================================
1         1               1               1               c   (c missing: 1)
0         0               0               0               1 - c   (c missing: 0)
-1        masked          0               1               ``soft_uncertain`` (default 0.5;
                                                          ``None``: masked)
blank     blank policy    blank policy    blank policy    blank policy, 1 - c when c is given
========  ==============  ==============  ==============  ==================================

``c`` is the ``<Observation>__conf`` value: the probability that the emitted label is right, as
estimated by the noise stage; ``soft`` needs those columns. ``ignore`` is the paper's U-Ignore,
``zeros`` U-Zeros, ``ones`` U-Ones. The *blank policy* decides what "not mentioned" means:
``zeros`` (default, as in the CheXpert paper: a finding a report does not mention is taken as
absent) or ``ignore`` (masked). A masked cell has mask 0 and target 0: multiply the per-label loss
by the mask.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._version import __version__
from .deid import check_no_phi_columns, resolve_salt
from .deid import hash_patient_ids as _hash_ids
from .errors import ConfigError, DataError
from .export import sidecar_paths, write_json
from .label_table import CONF_SUFFIX, encode_label_column
from .vocab import CHEXPERT_NEGATIVE, CHEXPERT_POSITIVE, CHEXPERT_UNCERTAIN

__all__ = [
    "UNCERTAINTY_POLICIES",
    "BLANK_POLICIES",
    "EXPORT_FORMATS",
    "SPLITS",
    "MANIFEST_COLUMNS",
    "Manifest",
    "read_manifest",
    "write_manifest",
    "apply_uncertainty_policy",
    "ExportSummary",
    "export_manifest",
    "hash_patient_ids_series",
]
# ManifestDataset (torch.utils.data.Dataset) is built on first access, so torch is imported only then;
# it is left out of __all__ so that a star import does not need torch.

UNCERTAINTY_POLICIES = ("ignore", "zeros", "ones", "soft")
BLANK_POLICIES = ("zeros", "ignore")
EXPORT_FORMATS = ("chexpert", "monai", "parquet")
#: split names, in order (``split`` column values and export file stems)
SPLITS = ("train", "validation", "test")
#: MONAI datalist keys of the splits
MONAI_KEYS = {"train": "training", "validation": "validation", "test": "test", "all": "training"}
#: the non-label columns of a manifest, in order (only those present are written)
MANIFEST_COLUMNS = ("path", "report_id", "study_uid", "patient_id", "series_uid", "sop_uid", "accession",
                    "modality", "view", "view_position", "projection", "body_part", "laterality", "study_date")
_META_KEY = b"labeler_manifest"


# --------------------------------------------------------------------------------------------
# manifest I/O


@dataclass
class Manifest:
    """A manifest table and its description.

    Attributes
    ----------
    frame : DataFrame
        One row per image (see the module docstring for the columns).
    observations : list of str
        The observation columns, in order.
    info : dict
        ``image_root``, ``patient_ids_hashed``, ``patient_id_source``, ``join``, labels provenance,
        split parameters ...
    """

    frame: pd.DataFrame
    observations: list[str]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def has_conf(self) -> bool:
        return any(o + CONF_SUFFIX in self.frame.columns for o in self.observations)

    def values(self) -> np.ndarray:
        """The labels as floats, shape (N, F): 1 / 0 / -1 / NaN (blank)."""
        return np.column_stack([
            pd.to_numeric(self.frame[o], errors="coerce").to_numpy(dtype=np.float64) for o in self.observations
        ]) if self.observations else np.zeros((len(self.frame), 0))

    def conf(self) -> np.ndarray | None:
        """Confidence of each label, shape (N, F) (NaN where absent), or None without ``__conf`` columns."""
        if not self.has_conf:
            return None
        cols = []
        for o in self.observations:
            c = self.frame.get(o + CONF_SUFFIX)
            cols.append(np.full(len(self.frame), np.nan) if c is None
                        else pd.to_numeric(c, errors="coerce").to_numpy(dtype=np.float64))
        return np.column_stack(cols)


def write_manifest(manifest: Manifest, path: str | Path) -> None:
    """Write ``manifest`` to ``path`` (``.parquet`` or ``.csv``), atomically, refusing PHI columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = Path(path)
    check_no_phi_columns(manifest.frame.columns, where=f"the manifest for {p.name}")
    info = {**manifest.info, "observations": list(manifest.observations)}
    tmp = p.with_name(p.name + ".tmp")
    frame = manifest.frame.copy()
    for obs in manifest.observations:
        frame[obs] = pd.array(pd.to_numeric(frame[obs], errors="coerce"), dtype="Float64").astype("Int8")
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq"):
        table = pa.Table.from_pandas(frame, preserve_index=False)
        meta = dict(table.schema.metadata or {})
        meta[_META_KEY] = json.dumps(info, default=str).encode()
        pq.write_table(table.replace_schema_metadata(meta), tmp)
    elif suffix == ".csv":
        frame.to_csv(tmp, index=False)
    else:
        raise ConfigError(f"a manifest is written as .parquet or .csv, not {p.name!r}")
    os.replace(tmp, p)


def read_manifest(path: str | Path) -> Manifest:
    """Read a manifest written by ``labeler link`` / ``labeler split`` (Parquet or CSV).

    The observations come from the file's metadata (Parquet) or its ``.meta.json`` (CSV).
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"manifest not found: {path}")
    info: dict[str, Any] = {}
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            table = pq.read_table(p)
            raw = (table.schema.metadata or {}).get(_META_KEY)
            if raw:
                info = json.loads(raw)
            frame = table.to_pandas()
        else:
            frame = pd.read_csv(p, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read manifest {p.name}: {type(exc).__name__}") from None
    if not info:
        meta = sidecar_paths(p)["meta"]
        if meta.exists():
            info = json.loads(meta.read_text(encoding="utf-8")).get("manifest", {})
    if "observations" not in info:
        raise DataError(f"{p.name} is not a manifest written by labeler link (no observation list in its "
                        "metadata or .meta.json)", code="not_a_manifest")
    check_no_phi_columns(frame.columns, where=p.name)
    missing = [c for c in ("path", *info["observations"]) if c not in frame.columns]
    if missing:
        raise DataError(f"{p.name} lacks column(s) {', '.join(map(repr, missing))}", code="missing_column")
    for obs in info["observations"]:
        if frame[obs].dtype == object:  # CSV: validate the text cells
            frame[obs] = encode_label_column(frame[obs].tolist(), column=obs, where=p.name)
    observations = list(info.pop("observations"))
    return Manifest(frame.reset_index(drop=True), observations, info)


# --------------------------------------------------------------------------------------------
# uncertainty policies


def _check_policy(policy: str, allowed: Sequence[str], what: str) -> None:
    if policy not in allowed:
        raise ConfigError(f"unknown {what} policy {policy!r} (choose from {', '.join(allowed)})", code="bad_policy")


def apply_uncertainty_policy(
    values: np.ndarray,
    conf: np.ndarray | None = None,
    *,
    uncertainty: str = "ignore",
    blank: str = "zeros",
    soft_uncertain: float | None = 0.5,
    per_observation: Sequence[str | None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Training targets and a loss mask from CheXpert labels (see the table in the module docstring).

    Parameters
    ----------
    values : ndarray of shape (N, F)
        ``1`` / ``0`` / ``-1`` / ``NaN`` (blank).
    conf : ndarray of shape (N, F), default=None
        Probability that each label is right (``NaN`` = unknown); needed by ``soft``.
    uncertainty : {"ignore", "zeros", "ones", "soft"}, default="ignore"
        U-Ignore, U-Zeros, U-Ones, or soft targets from the confidences.
    blank : {"zeros", "ignore"}, default="zeros"
        Not mentioned = negative, or masked.
    soft_uncertain : float or None, default=0.5
        The ``soft`` target of an uncertain label; ``None`` masks uncertain labels.
    per_observation : sequence of (str or None), length F, default=None
        A policy per observation overriding ``uncertainty`` (``None`` keeps it), e.g. U-Ones for
        Atelectasis and Edema and U-Zeros elsewhere, as the CheXpert paper found best.

    Returns
    -------
    targets : ndarray of shape (N, F), float32
    mask : ndarray of shape (N, F), uint8
        1 where the target counts, 0 where it must be ignored.

    Examples
    --------
    >>> import numpy as np
    >>> v = np.array([[1.0, 0.0, -1.0, np.nan]])
    >>> t, m = apply_uncertainty_policy(v, uncertainty="ones")
    >>> t.tolist(), m.tolist()
    ([[1.0, 0.0, 1.0, 0.0]], [[1, 1, 1, 1]])
    >>> t, m = apply_uncertainty_policy(v, uncertainty="ignore", blank="ignore")
    >>> m.tolist()
    [[1, 1, 0, 0]]
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"values must be 2-D (N, F), got shape {values.shape}")
    n, f = values.shape
    _check_policy(blank, BLANK_POLICIES, "blank")
    policies = [uncertainty] * f
    if per_observation is not None:
        if len(per_observation) != f:
            raise ValueError(f"per_observation has {len(per_observation)} entries, expected {f}")
        policies = [p if p is not None else uncertainty for p in per_observation]
    for p in set(policies):
        _check_policy(p, UNCERTAINTY_POLICIES, "uncertainty")
    if soft_uncertain is not None and not 0.0 <= soft_uncertain <= 1.0:
        raise ConfigError("soft_uncertain must lie in [0, 1]")
    if conf is not None:
        conf = np.asarray(conf, dtype=np.float64)
        if conf.shape != values.shape:
            raise ValueError(f"conf has shape {conf.shape}, expected {values.shape}")
    if "soft" in policies and conf is None:
        raise ConfigError("the soft policy needs per-label confidences (<Observation>__conf columns, from the noise "
                          "stage); this manifest has none", code="missing_confidence")
    known = np.isnan(values) | np.isin(values, (CHEXPERT_POSITIVE, CHEXPERT_NEGATIVE, CHEXPERT_UNCERTAIN))
    if not known.all():
        raise DataError("label values must be 1, 0, -1 or blank", code="bad_label_value")

    pos = values == CHEXPERT_POSITIVE
    neg = values == CHEXPERT_NEGATIVE
    unc = values == CHEXPERT_UNCERTAIN
    blk = np.isnan(values)
    targets = np.zeros((n, f), dtype=np.float64)
    mask = np.ones((n, f), dtype=np.uint8)
    targets[pos] = 1.0
    if blank == "ignore":
        mask[blk] = 0
    for j, policy in enumerate(policies):
        col_unc = unc[:, j]
        if policy == "ignore":
            mask[col_unc, j] = 0
        elif policy == "ones":
            targets[col_unc, j] = 1.0
        elif policy == "soft":
            c = conf[:, j]  # type: ignore[index]
            has = ~np.isnan(c)
            targets[pos[:, j] & has, j] = c[pos[:, j] & has]
            targets[neg[:, j] & has, j] = 1.0 - c[neg[:, j] & has]
            if blank == "zeros":
                targets[blk[:, j] & has, j] = 1.0 - c[blk[:, j] & has]
            if soft_uncertain is None:
                mask[col_unc, j] = 0
            else:
                targets[col_unc, j] = soft_uncertain
    targets[mask == 0] = 0.0
    return targets.astype(np.float32), mask


# --------------------------------------------------------------------------------------------
# exporters


@dataclass
class ExportSummary:
    """What an export wrote."""

    manifest: str
    output_dir: str
    formats: list[str]
    files: list[str] = field(default_factory=list)
    rows_per_split: dict[str, int] = field(default_factory=dict)
    n_masked: int = 0
    n_targets: int = 0
    meta_file: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _policy_per_observation(observations: Sequence[str], overrides: Mapping[str, str] | None) -> list[str | None]:
    overrides = dict(overrides or {})
    unknown = [k for k in overrides if k not in observations]
    if unknown:
        raise ConfigError(f"unknown observation(s) in per-observation policies: {', '.join(map(repr, unknown))}")
    return [overrides.get(o) for o in observations]


def _image_paths(frame: pd.DataFrame, root: str | None, relative: bool) -> list[str]:
    paths = frame["path"].astype(str).tolist()
    if relative or not root:
        return paths
    return [p if os.path.isabs(p) else os.path.join(root, p) for p in paths]


def _view_columns(frame: pd.DataFrame) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if "view" in frame.columns:
        out["Frontal/Lateral"] = [v.capitalize() if isinstance(v, str) and v in ("frontal", "lateral") else ""
                                  for v in frame["view"]]
    if "view_position" in frame.columns:
        out["AP/PA"] = ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
                        for v in frame["view_position"]]
    return out


def _fmt(x: float) -> str:
    return f"{x:.6g}" if x not in (0.0, 1.0) else f"{x:.1f}"


def export_manifest(
    manifest_path: str | Path,
    output_dir: str | Path,
    *,
    formats: Sequence[str] = EXPORT_FORMATS,
    uncertainty: str = "ignore",
    blank: str = "zeros",
    soft_uncertain: float | None = 0.5,
    per_observation: Mapping[str, str] | None = None,
    image_root: str | None = None,
    relative_paths: bool = False,
    hash_patient_ids: bool = False,
    salt: str | None = None,
    overwrite: bool = False,
    command: str | None = None,
) -> ExportSummary:
    """Write a manifest as training files, one per split, with an uncertainty policy applied.

    Parameters
    ----------
    manifest_path : str or Path
        From ``labeler link`` (one split: ``all``) or ``labeler split``.
    output_dir : str or Path
        Receives, per split ``s`` (``train``, ``validation``, ``test``; ``all`` without splits):
        ``chexpert``: ``s.csv`` with ``Path``, ``study_uid``, ``patient_id``, ``Frontal/Lateral``,
        ``AP/PA`` and one column per observation holding the target (masked cells empty);
        ``monai``: ``datalist.json`` (``{"training": [{"image", "label", "mask", ...}], "validation":
        [...], "test": [...], "labels": [...]}``, for ``monai.data.load_decathlon_datalist``);
        ``parquet``: ``s.parquet`` with ``image``, ``study_uid``, ``patient_id``, ``split``, view
        columns, ``label`` (list of float32) and ``mask`` (list of uint8), loadable with
        ``datasets.load_dataset("parquet", data_files={"train": ".../train.parquet", ...})``.
        Plus ``export.meta.json`` (observations in label order, policies, counts, provenance).
    formats : sequence of {"chexpert", "monai", "parquet"}, default=all three
    uncertainty, blank, soft_uncertain, per_observation
        See :func:`apply_uncertainty_policy` (``per_observation`` maps observation names to policies).
    image_root : str, default=None
        Prefix joined to relative image paths; default the manifest's ``image_root``.
    relative_paths : bool, default=False
        Write paths as they are in the manifest (relative to the image root).
    hash_patient_ids : bool, default=False
        Replace patient ids by HMAC-SHA256 with ``salt`` (or ``$LABELER_PATIENT_ID_SALT``).
    overwrite : bool, default=False
    command : str, default=None

    Returns
    -------
    ExportSummary
    """
    formats = list(dict.fromkeys(formats))
    bad = [f for f in formats if f not in EXPORT_FORMATS]
    if bad or not formats:
        raise ConfigError(f"unknown export format(s) {bad} (choose from {', '.join(EXPORT_FORMATS)})")
    man = read_manifest(manifest_path)
    policies = _policy_per_observation(man.observations, per_observation)
    targets, mask = apply_uncertainty_policy(man.values(), man.conf(), uncertainty=uncertainty, blank=blank,
                                             soft_uncertain=soft_uncertain, per_observation=policies)
    frame = man.frame
    patient = frame["patient_id"] if "patient_id" in frame.columns else pd.Series([None] * len(frame))
    hashed = bool(man.info.get("patient_ids_hashed"))
    if hash_patient_ids and not hashed:
        patient = hash_patient_ids_series(patient, salt)
        hashed = True
    root = image_root if image_root is not None else man.info.get("image_root")
    paths = _image_paths(frame, root, relative_paths)
    splits = frame["split"].astype(str).to_numpy() if "split" in frame.columns else np.array(["all"] * len(frame))
    order = [s for s in (*SPLITS, "all") if s in set(splits)]
    unknown = sorted(set(splits) - set(SPLITS) - {"all"})
    if unknown:
        raise DataError(f"unknown split name(s) {unknown} in the manifest (expected {', '.join(SPLITS)})")

    out = Path(output_dir)
    planned = []
    for s in order:
        if "chexpert" in formats:
            planned.append(out / f"{s}.csv")
        if "parquet" in formats:
            planned.append(out / f"{s}.parquet")
    if "monai" in formats:
        planned.append(out / "datalist.json")
    meta_path = out / "export.meta.json"
    planned.append(meta_path)
    existing = [p for p in planned if p.exists()]
    if existing and not overwrite:
        raise ConfigError(f"output exists: {', '.join(map(str, existing))} (pass --overwrite to replace)",
                          code="output_exists")
    out.mkdir(parents=True, exist_ok=True)

    def text(col: str) -> list[str]:
        if col not in frame.columns:
            return [""] * len(frame)
        return ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in frame[col]]

    study, pid = text("study_uid"), ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
                                     for v in patient]
    views = _view_columns(frame)
    summary = ExportSummary(str(manifest_path), str(out), formats, meta_file=str(meta_path))
    datalist: dict[str, Any] = {}
    for s in order:
        idx = np.flatnonzero(splits == s)
        summary.rows_per_split[s] = int(len(idx))
        if "chexpert" in formats:
            rows = {"Path": [paths[i] for i in idx], "study_uid": [study[i] for i in idx],
                    "patient_id": [pid[i] for i in idx]}
            for name, col in views.items():
                rows[name] = [col[i] for i in idx]
            for j, obs in enumerate(man.observations):
                rows[obs] = [_fmt(float(targets[i, j])) if mask[i, j] else "" for i in idx]
            path = out / f"{s}.csv"
            pd.DataFrame(rows).to_csv(path.with_name(path.name + ".tmp"), index=False)
            os.replace(path.with_name(path.name + ".tmp"), path)
            summary.files.append(str(path))
        if "parquet" in formats:
            import pyarrow as pa
            import pyarrow.parquet as pq

            cols: dict[str, Any] = {
                "image": pa.array([paths[i] for i in idx], pa.string()),
                "study_uid": pa.array([study[i] for i in idx], pa.string()),
                "patient_id": pa.array([pid[i] for i in idx], pa.string()),
                "split": pa.array([s] * len(idx), pa.string()),
            }
            for name, col in views.items():
                cols[name.replace("/", "_").lower()] = pa.array([col[i] for i in idx], pa.string())
            cols["label"] = pa.array(targets[idx].tolist(), pa.list_(pa.float32()))
            cols["mask"] = pa.array(mask[idx].tolist(), pa.list_(pa.uint8()))
            table = pa.table(cols)
            meta = {b"labeler_export": json.dumps({"labels": man.observations, "uncertainty": uncertainty,
                                                    "blank": blank}).encode()}
            path = out / f"{s}.parquet"
            pq.write_table(table.replace_schema_metadata(meta), path.with_name(path.name + ".tmp"))
            os.replace(path.with_name(path.name + ".tmp"), path)
            summary.files.append(str(path))
        if "monai" in formats:
            datalist[MONAI_KEYS[s]] = [
                {"image": paths[i], "label": [float(x) for x in targets[i]], "mask": [int(x) for x in mask[i]],
                 "study_uid": study[i], "patient_id": pid[i]}
                for i in idx
            ]
    if "monai" in formats:
        datalist["labels"] = list(man.observations)
        write_json(out / "datalist.json", datalist)
        summary.files.append(str(out / "datalist.json"))
    summary.n_masked = int((mask == 0).sum())
    summary.n_targets = int(mask.size)
    meta_out = {
        "engine_version": __version__,
        "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "manifest": str(manifest_path),
        "labels": list(man.observations),
        "policy": {"uncertainty": uncertainty, "blank": blank, "soft_uncertain": soft_uncertain,
                   "per_observation": {o: p for o, p in zip(man.observations, policies, strict=True) if p is not None}},
        "image_root": None if relative_paths else root,
        "relative_paths": bool(relative_paths or not root),
        "patient_ids_hashed": hashed,
        "counts": {"rows_per_split": summary.rows_per_split, "masked": summary.n_masked,
                   "targets": summary.n_targets,
                   "positive_targets": {o: float(targets[:, j][mask[:, j] == 1].sum())
                                        for j, o in enumerate(man.observations)}},
        "source": {k: v for k, v in man.info.items() if k in ("labels", "index", "join", "split", "image_root",
                                                                  "patient_id_source")},
        "files": [Path(f).name for f in summary.files],
        "command": command or " ".join(sys.argv),
    }
    write_json(meta_path, meta_out)
    return summary


def hash_patient_ids_series(patient: pd.Series, salt: str | None) -> pd.Series:
    """Hash a patient-id column with the resolved salt (see :func:`labeler.deid.resolve_salt`)."""
    return _hash_ids(patient, resolve_salt(salt))


# --------------------------------------------------------------------------------------------
# PyTorch


def _make_dataset_class() -> type:
    try:
        import torch
        from torch.utils.data import Dataset
    except ImportError:
        raise ConfigError("ManifestDataset needs torch: pip install 'radlabeler[classifier]'",
                          code="missing_dependency") from None

    class ManifestDataset(Dataset):  # type: ignore[misc,type-arg]
        """A map-style ``torch.utils.data.Dataset`` over a manifest: ``(image, target, mask)`` per image.

        Images are not read here: ``image`` is the image path, or ``loader(path)`` when a
        ``loader`` is given (e.g. ``PIL.Image.open`` or a pydicom-based reader), then passed
        through ``transform``.

        Parameters
        ----------
        manifest : str, Path or Manifest
        split : str, default=None
            ``"train"``, ``"validation"`` or ``"test"``; ``None`` takes every row.
        uncertainty, blank, soft_uncertain, per_observation
            See :func:`labeler.manifest.apply_uncertainty_policy`.
        image_root : str, default=None
            Joined to relative paths (default: the manifest's ``image_root``).
        loader : callable(path) -> image, default=None
        transform : callable(image) -> image, default=None

        Attributes
        ----------
        observations : list of str
            Label names, in target order.
        paths : list of str
        targets : Tensor of shape (N, F), float32
        masks : Tensor of shape (N, F), float32
        """

        def __init__(self, manifest: str | Path | Manifest, split: str | None = None, *,
                     uncertainty: str = "ignore", blank: str = "zeros", soft_uncertain: float | None = 0.5,
                     per_observation: Mapping[str, str] | None = None, image_root: str | None = None,
                     loader: Callable[[str], Any] | None = None,
                     transform: Callable[[Any], Any] | None = None) -> None:
            man = manifest if isinstance(manifest, Manifest) else read_manifest(manifest)
            frame = man.frame
            keep = np.ones(len(frame), dtype=bool)
            if split is not None:
                if "split" not in frame.columns:
                    raise ConfigError("this manifest has no split column: run labeler split first, or pass "
                                      "split=None")
                if split not in SPLITS:
                    raise ConfigError(f"unknown split {split!r} (choose from {', '.join(SPLITS)})")
                keep = frame["split"].astype(str).to_numpy() == split
            policies = _policy_per_observation(man.observations, per_observation)
            conf = man.conf()
            targets, mask = apply_uncertainty_policy(
                man.values()[keep], None if conf is None else conf[keep], uncertainty=uncertainty, blank=blank,
                soft_uncertain=soft_uncertain, per_observation=policies)
            root = image_root if image_root is not None else man.info.get("image_root")
            self.observations = list(man.observations)
            self.paths = _image_paths(frame.loc[keep].reset_index(drop=True), root, relative=False)
            self.targets = torch.from_numpy(targets)
            self.masks = torch.from_numpy(mask.astype(np.float32))
            self.loader = loader
            self.transform = transform

        def __len__(self) -> int:
            return len(self.paths)

        def __getitem__(self, index: int) -> tuple[Any, Any, Any]:
            image: Any = self.paths[index]
            if self.loader is not None:
                image = self.loader(image)
            if self.transform is not None:
                image = self.transform(image)
            return image, self.targets[index], self.masks[index]

    ManifestDataset.__module__ = __name__
    return ManifestDataset


_DATASET_CLASS: type | None = None


def __getattr__(name: str) -> Any:
    """Build :class:`ManifestDataset` on first use (torch is imported only then)."""
    global _DATASET_CLASS
    if name == "ManifestDataset":
        if _DATASET_CLASS is None:
            _DATASET_CLASS = _make_dataset_class()
        return _DATASET_CLASS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
