"""Link report labels (keyed by study) to images: the manifest an image pipeline trains on.

:func:`link` joins a labels file to an image table, three ways:

``study`` (default)
    labels key = the index's StudyInstanceUID (reports labeled with ``--id-column`` holding the
    study UID).
``accession``
    labels key = the index's AccessionNumber (reports that carry accessions, not UIDs). One
    accession may cover several DICOM studies; all their images are linked.
``mapping``
    the image table is a user-given CSV mapping a study key to image files, e.g. IU/Open-i's
    ``projections.csv`` (``uid``, ``filename``, ``projection``). Without a patient column, each
    study counts as its own patient (IU has no patient ids): say so when you report splits.

Nothing is dropped silently. ``<out>.unlinked_reports.csv`` lists every labels row that got no
image (``no_images``: no image has its key; ``no_images_after_filter``: its images were all
excluded by ``views`` / ``modalities``); ``<out>.unlinked_images.csv`` every image that is not in
the manifest (``no_report``, ``excluded_view``, ``excluded_modality``, ``duplicate_sop``: the same
SOPInstanceUID at a second path). ``<out>.meta.json`` holds the counts and the provenance of both
inputs. Report text and names never reach the manifest: labels files carrying such columns are
refused (see :mod:`labeler.deid`), and only key, label, confidence and named carried columns are
copied.
"""

from __future__ import annotations

import datetime as _dt
import logging
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._version import __version__
from .deid import check_no_free_text, check_no_phi_columns, resolve_salt
from .deid import hash_patient_ids as _hash_ids
from .dicom_index import read_index
from .errors import ConfigError, DataError
from .export import sidecar_paths, write_json
from .label_table import CONF_SUFFIX, read_label_table
from .manifest import MANIFEST_COLUMNS, Manifest, write_manifest

__all__ = ["JOIN_MODES", "VIEWS", "LinkSummary", "link", "normalise_view", "unlinked_paths"]

log = logging.getLogger(__name__)

JOIN_MODES = ("study", "accession", "mapping")
#: normalised view names (the ``view`` column)
VIEWS = ("frontal", "lateral", "other", "unknown")
_FRONTAL = {"AP", "PA", "FRONTAL", "PA/AP", "AP/PA"}
_LATERAL = {"LL", "RL", "LAT", "LATERAL", "LLAT", "RLAT", "L", "R"}
_MAPPING_PATH = ("path", "filename", "file", "image", "image_path")
_MAPPING_VIEW = ("projection", "view", "view_position", "ViewPosition")
_MAPPING_KEY = ("study_uid", "uid", "StudyInstanceUID", "accession", "report_id")


def normalise_view(value: Any) -> str:
    """``frontal`` / ``lateral`` / ``other`` / ``unknown`` from a DICOM ViewPosition or a projection name.

    Frontal: AP, PA (and ``Frontal``); lateral: LL, RL, LAT, LATERAL (and ``Lateral``); any other
    value (decubitus, oblique ...) is ``other``; empty is ``unknown``. Only the first word counts
    (``"PA ERECT"`` is frontal).

    >>> [normalise_view(v) for v in ("PA", "ap supine", "Lateral", "LLD", None)]
    ['frontal', 'frontal', 'lateral', 'other', 'unknown']
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "unknown"
    words = str(value).strip().upper().split()
    if not words:
        return "unknown"
    if words[0] in _FRONTAL:
        return "frontal"
    if words[0] in _LATERAL:
        return "lateral"
    return "other"


@dataclass
class LinkSummary:
    """What :func:`link` did (also in ``<out>.meta.json``)."""

    labels: str
    images: str
    output: str
    on: str
    n_reports: int = 0
    n_reports_linked: int = 0
    n_reports_unlinked: int = 0
    report_reasons: dict[str, int] = field(default_factory=dict)
    n_images: int = 0
    n_images_linked: int = 0
    n_images_unlinked: int = 0
    image_reasons: dict[str, int] = field(default_factory=dict)
    n_studies: int = 0
    n_patients: int = 0
    n_images_without_patient_id: int = 0
    views: dict[str, int] = field(default_factory=dict)
    unlinked_reports_file: str | None = None
    unlinked_images_file: str | None = None
    meta_file: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def unlinked_paths(output: str | Path) -> dict[str, Path]:
    """The lists written beside a manifest: ``<out>.unlinked_reports.csv``, ``<out>.unlinked_images.csv``."""
    out = Path(output)
    return {"reports": out.with_name(out.name + ".unlinked_reports.csv"),
            "images": out.with_name(out.name + ".unlinked_images.csv")}


def _pick(columns: Sequence[str], given: str | None, candidates: Sequence[str], what: str, where: str,
          required: bool = True) -> str | None:
    if given is not None:
        if given not in columns:
            raise DataError(f"{where} has no {what} column {given!r}", code="missing_column")
        return given
    for c in candidates:
        if c in columns:
            return c
    if required:
        raise DataError(f"{where}: cannot find its {what} column (tried {', '.join(candidates)}); name it with "
                        f"--mapping-{what.split()[0]}", code="missing_column")
    return None


def _read_mapping(path: Path, *, key: str | None, path_column: str | None, view_column: str | None,
                  patient_column: str | None) -> tuple[pd.DataFrame, str]:
    if not path.exists():
        raise DataError(f"mapping file not found: {path}")
    sep = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, sep=sep)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read mapping {path.name}: {type(exc).__name__}") from None
    check_no_phi_columns(raw.columns, where=path.name)
    cols = list(raw.columns)
    k = _pick(cols, key, _MAPPING_KEY, "key", path.name)
    pcol = _pick(cols, path_column, _MAPPING_PATH, "path", path.name)
    vcol = _pick(cols, view_column, _MAPPING_VIEW, "view", path.name, required=False)
    pat = _pick(cols, patient_column, ("patient_id", "PatientID"), "patient", path.name, required=False)
    frame = pd.DataFrame({"path": raw[pcol], "study_uid": raw[k]})
    empty = (frame["path"].str.strip() == "") | (frame["study_uid"].str.strip() == "")
    if empty.any():
        row = int(np.flatnonzero(empty.to_numpy())[0]) + 1
        raise DataError(f"{path.name}: row {row} has an empty key or path", code="missing_id")
    if vcol is not None:
        frame["projection"] = raw[vcol].replace("", None)
        frame["view"] = raw[vcol].map(normalise_view)
    else:
        frame["view"] = "unknown"
    if pat is not None:
        frame["patient_id"] = raw[pat].replace("", None)
        source = pat
    else:
        frame["patient_id"] = raw[k]
        source = "study (no patient column: each study is its own patient)"
    frame = frame.astype(object).where(frame.notna(), None)
    return frame, source


def link(
    labels: str | Path,
    images: str | Path,
    output: str | Path,
    *,
    on: str = "study",
    labels_key: str = "study_uid",
    carry: Sequence[str] = (),
    observations: Sequence[str] | None = None,
    views: Sequence[str] | None = None,
    modalities: Sequence[str] | None = None,
    mapping_key: str | None = None,
    mapping_path: str | None = None,
    mapping_view: str | None = None,
    mapping_patient: str | None = None,
    image_root: str | None = None,
    keep_duplicate_sops: bool = False,
    hash_patient_ids: bool = False,
    salt: str | None = None,
    overwrite: bool = False,
    command: str | None = None,
) -> LinkSummary:
    """Join the labels of ``labels`` to the images of ``images`` and write a manifest to ``output``.

    Parameters
    ----------
    labels : str or Path
        A labels file (CSV/TSV/JSONL/Parquet, as ``labeler label`` writes it).
    images : str or Path
        An index from :func:`labeler.dicom_index.index_dicom` (``on`` = study or accession), or a
        mapping CSV (``on="mapping"``).
    output : str or Path
        The manifest (``.parquet`` or ``.csv``), one row per linked image.
    on : {"study", "accession", "mapping"}, default="study"
    labels_key : str, default="study_uid"
        The labels column holding the key.
    carry : sequence of str, default=()
        Labels columns to copy into the manifest (e.g. a topic id for stratified splits).
    observations : sequence of str, default=None
        Observation columns of the labels (default: all label columns).
    views : sequence of {"frontal", "lateral", "other", "unknown"}, default=None
        Keep only images of these views (``None``: all).
    modalities : sequence of str, default=None
        Keep only images of these DICOM modalities, e.g. ``("CR", "DX")`` (``None``: all).
    mapping_key, mapping_path, mapping_view, mapping_patient : str, default=None
        Mapping columns (defaults: found among ``study_uid``/``uid``/..., ``path``/``filename``/...,
        ``projection``/``view``/..., ``patient_id``).
    image_root : str, default=None
        The folder image paths are relative to (default: the index's root; none for a mapping).
    keep_duplicate_sops : bool, default=False
        Keep every copy of a SOPInstanceUID found at several paths (default: the first path only).
    hash_patient_ids : bool, default=False
        Store HMAC-SHA256 hashes of patient ids (salt: ``salt`` or ``$LABELER_PATIENT_ID_SALT``).
    overwrite : bool, default=False
    command : str, default=None

    Returns
    -------
    LinkSummary
    """
    if on not in JOIN_MODES:
        raise ConfigError(f"unknown join {on!r} (choose from {', '.join(JOIN_MODES)})")
    bad_views = [v for v in views or () if v not in VIEWS]
    if bad_views:
        raise ConfigError(f"unknown view(s) {bad_views} (choose from {', '.join(VIEWS)})")
    out = Path(output)
    side = sidecar_paths(out)
    lists = unlinked_paths(out)
    existing = [p for p in (out, side["meta"], *lists.values()) if p.exists()]
    if existing and not overwrite:
        raise ConfigError(f"output exists: {', '.join(map(str, existing))} (pass --overwrite to replace)",
                          code="output_exists")
    salt_value = resolve_salt(salt) if hash_patient_ids else None

    table = read_label_table(labels, key=labels_key, carry=carry, observations=observations)
    if on == "mapping":
        imgs, patient_source = _read_mapping(Path(images), key=mapping_key, path_column=mapping_path,
                                             view_column=mapping_view, patient_column=mapping_patient)
        index_meta: dict[str, Any] = {"mapping": str(images)}
        root = image_root
        image_key = "study_uid"
    else:
        imgs, index_meta = read_index(images)
        check_no_phi_columns(imgs.columns, where=Path(images).name)
        imgs = imgs.copy()
        imgs["view"] = imgs["view_position"].map(normalise_view)
        patient_source = "PatientID"
        root = image_root if image_root is not None else index_meta.get("root")
        image_key = "study_uid" if on == "study" else "accession"
    summary = LinkSummary(str(labels), str(images), str(out), on, meta_file=str(side["meta"]))
    summary.n_reports = len(table.keys)
    summary.n_images = len(imgs)

    # images that cannot be linked, whatever the labels say
    reason = pd.Series([None] * len(imgs), dtype=object)
    if not keep_duplicate_sops and "sop_uid" in imgs.columns:
        sop = imgs["sop_uid"]
        dup = sop.notna() & sop.duplicated(keep="first")
        reason[dup.to_numpy()] = "duplicate_sop"
    if modalities:
        wanted = {m.upper() for m in modalities}
        mod = imgs["modality"].map(lambda v: str(v).upper() if v is not None else "")
        reason[(reason.isna() & ~mod.isin(wanted)).to_numpy()] = "excluded_modality"
    if views:
        reason[(reason.isna() & ~imgs["view"].isin(set(views))).to_numpy()] = "excluded_view"
    keys = imgs[image_key].map(lambda v: "" if v is None else str(v))
    label_keys = set(table.keys)
    has_report = keys.isin(label_keys).to_numpy()
    reason[(reason.isna().to_numpy() & ~has_report)] = "no_report"
    linked = reason.isna().to_numpy()

    # reports without images
    linked_keys = set(keys[linked])
    all_keys = set(keys)
    report_reason = ["" if k in linked_keys else ("no_images_after_filter" if k in all_keys else "no_images")
                     for k in table.keys]

    # the manifest
    lab = table.frame().rename(columns={"key": "report_id"})
    img = imgs.loc[linked].copy()
    img["report_id"] = keys[linked].to_numpy()
    clash = [c for c in lab.columns if c in img.columns and c != "report_id"]
    if clash:
        raise DataError(f"labels column(s) {', '.join(map(repr, clash))} clash with image columns; rename them",
                        code="column_clash")
    merged = img.merge(lab, on="report_id", how="inner", sort=False, validate="many_to_one")
    order = {k: i for i, k in enumerate(table.keys)}
    merged["_order"] = merged["report_id"].map(order)
    merged = merged.sort_values(["_order", "path"], kind="stable").drop(columns="_order").reset_index(drop=True)
    summary.n_images_without_patient_id = int(merged["patient_id"].isna().sum())
    if salt_value is not None:
        merged["patient_id"] = _hash_ids(merged["patient_id"], salt_value)
    obs = list(table.observations)
    conf_cols = [o + CONF_SUFFIX for o in obs if table.conf is not None]
    front = [c for c in MANIFEST_COLUMNS if c in merged.columns]
    merged = merged[front + obs + conf_cols + list(carry)]
    check_no_free_text(merged, list(carry), where="the manifest")
    info = {
        "engine_version": __version__,
        "join": on,
        "labels_key": labels_key,
        "image_root": root,
        "patient_id_source": patient_source,
        "patient_ids_hashed": salt_value is not None,
        "views": list(views) if views else None,
        "modalities": list(modalities) if modalities else None,
        "carried": list(carry),
        "labels": {"path": str(labels), **table.provenance},
        "index": {"path": str(images), **index_meta},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    write_manifest(Manifest(merged, obs, info), out)

    # the lists of what was not linked
    for p in lists.values():
        if p.exists():
            p.unlink()
    unlinked_reports = pd.DataFrame({"report_id": list(table.keys), "reason": report_reason})
    unlinked_reports = unlinked_reports[unlinked_reports["reason"] != ""]
    if len(unlinked_reports):
        unlinked_reports.to_csv(lists["reports"], index=False)
        summary.unlinked_reports_file = str(lists["reports"])
    unlinked_images = pd.DataFrame({"path": imgs["path"], "key": keys, "reason": reason}).loc[~linked]
    if len(unlinked_images):
        unlinked_images.to_csv(lists["images"], index=False)
        summary.unlinked_images_file = str(lists["images"])

    summary.n_reports_linked = summary.n_reports - len(unlinked_reports)
    summary.n_reports_unlinked = len(unlinked_reports)
    summary.report_reasons = dict(sorted(Counter(unlinked_reports["reason"]).items()))
    summary.n_images_linked = len(merged)
    summary.n_images_unlinked = int((~linked).sum())
    summary.image_reasons = dict(sorted(Counter(reason[~linked]).items()))
    summary.n_studies = int(merged["study_uid"].nunique())
    summary.n_patients = int(merged["patient_id"].nunique())
    summary.views = {str(k): int(v) for k, v in merged["view"].value_counts().sort_index().items()}
    meta = {
        "engine_version": __version__,
        "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "manifest": {**info, "observations": obs},
        "output": {"path": str(out), "columns": list(merged.columns)},
        "counts": {k: v for k, v in summary.to_dict().items() if k.startswith("n_") or k.endswith("reasons")
                   or k == "views"},
        "command": command or " ".join(sys.argv),
    }
    write_json(side["meta"], meta)
    log.info("linked %d of %d reports to %d images", summary.n_reports_linked, summary.n_reports,
             summary.n_images_linked)
    return summary
