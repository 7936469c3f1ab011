"""The only conftest: shared fixtures, the ``--slow`` option and the shared-corpora skip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LABELER_SHARED", ROOT.parent / "shared")) / "corpora"
SAMPLE = ROOT / "corpora" / "sample" / "reports.csv"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true", default=False, help="also run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_slow = pytest.mark.skip(reason="slow: run with --slow")
    skip_corpora = pytest.mark.skip(reason=f"shared corpora not found at {SHARED}")
    for item in items:
        if "slow" in item.keywords and not config.getoption("--slow"):
            item.add_marker(skip_slow)
        if "corpora" in item.keywords and not SHARED.is_dir():
            item.add_marker(skip_corpora)


@pytest.fixture(scope="session")
def rule_labeler():
    """The default rule labeler, built once (spaCy/medspaCy import and rule compilation take seconds)."""
    from labeler import RuleLabeler

    lab = RuleLabeler()
    lab.stages  # noqa: B018 - build now
    return lab


@pytest.fixture(scope="session")
def ruleset(rule_labeler):
    return rule_labeler.ruleset


@pytest.fixture()
def label_text(rule_labeler):
    """Label one text; returns {observation id: status value}."""
    from labeler import Report

    def run(text: str) -> dict[str, str]:
        res = rule_labeler.label_one(Report("t", text))
        assert not res.errors
        return {k: v.value for k, v in res.statuses().items()}

    return run


@pytest.fixture(scope="session")
def shared_corpora() -> Path:
    return SHARED


@pytest.fixture(scope="session")
def sample_csv() -> Path:
    return SAMPLE


@pytest.fixture()
def write_csv(tmp_path):
    """Write rows (list of lists, header first) to a CSV file and return its path."""
    import csv

    def write(rows, name: str = "in.csv", delimiter: str = ",") -> Path:
        path = tmp_path / name
        with path.open("w", encoding="utf-8", newline="") as fh:
            csv.writer(fh, delimiter=delimiter, lineterminator="\n").writerows(rows)
        return path

    return write


# --------------------------------------------------------------------------------------------
# Image pipeline (tests/images): a small DICOM tree written with pydicom.

#: (patient id, study number, series number, instance number, modality, view position, file name)
DICOM_TREE_LAYOUT = (
    ("P001", 1, 1, 1, "DX", "PA", "IM0001.dcm"),
    ("P001", 1, 2, 1, "DX", "LL", "IM0002.dcm"),
    ("P001", 2, 1, 1, "CR", "AP", "IM0003"),  # DICOM files need no extension
    ("P002", 3, 1, 1, "DX", "PA", "IM0004.dcm"),
    ("P002", 3, 1, 2, "DX", "PA", "IM0005.dcm"),
    ("P003", 4, 1, 1, "DX", "PA", "IM0006.dcm"),
    ("P003", 5, 1, 1, "CT", None, "IM0007.dcm"),
    ("P004", 6, 1, 1, "DX", "PA", "IM0008.dcm"),
)


def dicom_uid(*parts: object) -> str:
    """A deterministic DICOM UID under pydicom's test root, from ``parts``."""
    from pydicom.uid import generate_uid

    return generate_uid(entropy_srcs=[str(p) for p in parts])


def write_dicom(path, *, patient_id: str, study_uid: str, series_uid: str, sop_uid: str, modality: str,
                view_position: str | None, accession: str, study_date: str = "20240102") -> None:
    """Write a small, valid DICOM image (8x8 pixels) with pydicom."""
    import numpy as np
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    sop_class = "1.2.840.10008.5.1.4.1.1.1.1" if modality == "DX" else (
        "1.2.840.10008.5.1.4.1.1.1" if modality == "CR" else "1.2.840.10008.5.1.4.1.1.2")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, sop_uid
    ds.PatientID, ds.PatientName = patient_id, f"Test^{patient_id}"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
    ds.AccessionNumber, ds.StudyDate, ds.Modality = accession, study_date, modality
    ds.BodyPartExamined = "CHEST"
    if view_position is not None:
        ds.ViewPosition = view_position
    ds.Rows = ds.Columns = 8
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit, ds.PixelRepresentation = 15, 0
    ds.PixelData = np.arange(64, dtype=np.uint16).reshape(8, 8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


@pytest.fixture()
def dicom_tree(tmp_path):
    """A DICOM tree: 4 patients, 6 studies, 8 images, plus one truncated .dcm and one non-DICOM file.

    Returns a dict: ``root``, ``images`` (relative path -> facts), ``studies`` (study number ->
    StudyInstanceUID), ``accessions`` (study number -> AccessionNumber), ``bad`` (relative path ->
    expected error reason).
    """
    pytest.importorskip("pydicom")
    root = tmp_path / "dicom"
    images, studies, accessions = {}, {}, {}
    for patient, study, series, instance, modality, view, name in DICOM_TREE_LAYOUT:
        study_uid = studies.setdefault(study, dicom_uid("study", study))
        accessions[study] = f"ACC{study:04d}"
        series_uid = dicom_uid("series", study, series)
        sop_uid = dicom_uid("sop", study, series, instance)
        rel = f"{patient}/S{study}/SE{series}/{name}"
        write_dicom(root / rel, patient_id=patient, study_uid=study_uid, series_uid=series_uid, sop_uid=sop_uid,
                    modality=modality, view_position=view, accession=accessions[study])
        images[rel] = {"patient_id": patient, "study": study, "study_uid": study_uid, "series_uid": series_uid,
                       "sop_uid": sop_uid, "modality": modality, "view_position": view}
    good = (root / "P004/S6/SE1/IM0008.dcm").read_bytes()
    (root / "P004/S6/SE1/IM0009_truncated.dcm").write_bytes(good[: len(good) - 40])
    (root / "P004/notes.txt").write_text("not an image\n", encoding="utf-8")
    bad = {"P004/S6/SE1/IM0009_truncated.dcm": "truncated", "P004/notes.txt": "not_dicom"}
    return {"root": root, "images": images, "studies": studies, "accessions": accessions, "bad": bad}


CHEXPERT14 = ("No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Lesion", "Lung Opacity", "Edema",
              "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other",
              "Fracture", "Support Devices")


@pytest.fixture()
def labels_for_tree(dicom_tree, write_csv):
    """A labels CSV (the engine's contract) for studies 1-5 of ``dicom_tree`` plus one study without images.

    Study 6 has images but no report. Returns (path, {study_uid: {observation: cell}}).
    """
    cells = {
        1: {"Cardiomegaly": "1", "Edema": "-1", "Pleural Effusion": "0"},
        2: {"No Finding": "1"},
        3: {"Cardiomegaly": "0", "Atelectasis": "1", "Edema": "1"},
        4: {"Pneumothorax": "1", "Support Devices": "1"},
        5: {"Lung Lesion": "-1"},
    }
    uids = {dicom_tree["studies"][s]: c for s, c in cells.items()}
    uids["1.2.826.0.1.3680043.8.498.999"] = {"Fracture": "1"}  # a report whose images are not in the tree
    rows = [["study_uid", *CHEXPERT14]]
    for uid, c in uids.items():
        rows.append([uid, *(c.get(o, "") for o in CHEXPERT14)])
    return write_csv(rows, name="labels.csv"), uids
