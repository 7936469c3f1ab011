"""labeler.link: labels joined to images by study UID, accession or a mapping CSV; nothing dropped silently."""

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pydicom")

from labeler.deid import hash_patient_id  # noqa: E402
from labeler.dicom_index import index_dicom  # noqa: E402
from labeler.errors import ConfigError, DataError  # noqa: E402
from labeler.label_table import read_label_table  # noqa: E402
from labeler.link import link, normalise_view  # noqa: E402
from labeler.manifest import read_manifest  # noqa: E402

CHEXPERT14 = ["No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Lesion", "Lung Opacity", "Edema",
              "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other",
              "Fracture", "Support Devices"]


@pytest.fixture()
def index(dicom_tree, tmp_path):
    out = tmp_path / "index.parquet"
    index_dicom(dicom_tree["root"], out)
    return out


def read_list(path):
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_link_by_study_uid_rows_and_labels(dicom_tree, labels_for_tree, index, tmp_path):
    labels, uids = labels_for_tree
    out = tmp_path / "manifest.parquet"
    summary = link(labels, index, out)
    man = read_manifest(out)
    frame = man.frame
    assert man.observations == CHEXPERT14
    assert len(frame) == 7  # 8 images, minus study 6 (no report)
    assert set(frame["path"]) == {p for p, f in dicom_tree["images"].items() if f["study"] != 6}
    for _, row in frame.iterrows():
        cells = uids[row["study_uid"]]
        for obs in CHEXPERT14:
            expected = cells.get(obs, "")
            assert ("" if pd.isna(row[obs]) else str(int(row[obs]))) == expected
    facts = dicom_tree["images"]
    assert all(frame["patient_id"] == [facts[p]["patient_id"] for p in frame["path"]])
    assert (frame["report_id"] == frame["study_uid"]).all()
    assert (summary.n_reports, summary.n_reports_linked, summary.n_reports_unlinked) == (6, 5, 1)
    assert (summary.n_images, summary.n_images_linked, summary.n_images_unlinked) == (8, 7, 1)
    assert (summary.n_studies, summary.n_patients) == (5, 3)


def test_link_lists_unlinked_reports_and_images(dicom_tree, labels_for_tree, index, tmp_path):
    labels, _ = labels_for_tree
    out = tmp_path / "manifest.parquet"
    summary = link(labels, index, out)
    reports = read_list(tmp_path / "manifest.parquet.unlinked_reports.csv")
    assert reports.to_dict("records") == [{"report_id": "1.2.826.0.1.3680043.8.498.999", "reason": "no_images"}]
    images = read_list(tmp_path / "manifest.parquet.unlinked_images.csv")
    assert images.to_dict("records") == [
        {"path": "P004/S6/SE1/IM0008.dcm", "key": dicom_tree["studies"][6], "reason": "no_report"}]
    assert summary.report_reasons == {"no_images": 1} and summary.image_reasons == {"no_report": 1}


def test_link_meta_has_counts_and_provenance(labels_for_tree, index, tmp_path):
    labels, _ = labels_for_tree
    out = tmp_path / "manifest.parquet"
    link(labels, index, out)
    meta = json.loads((tmp_path / "manifest.parquet.meta.json").read_text())
    assert meta["counts"]["n_images_linked"] == 7
    assert meta["manifest"]["join"] == "study"
    assert meta["manifest"]["observations"] == CHEXPERT14
    assert meta["manifest"]["index"]["root"].endswith("dicom")


def test_link_view_filter_counts_excluded_images(dicom_tree, labels_for_tree, index, tmp_path):
    labels, _ = labels_for_tree
    out = tmp_path / "manifest.parquet"
    summary = link(labels, index, out, views=["frontal"])
    frame = read_manifest(out).frame
    assert set(frame["view"]) == {"frontal"}
    assert len(frame) == 5  # IM0002 is lateral, IM0007 (CT) has no view, IM0008 has no report
    assert summary.image_reasons == {"excluded_view": 2, "no_report": 1}
    reports = read_list(tmp_path / "manifest.parquet.unlinked_reports.csv")
    study5 = dicom_tree["studies"][5]
    assert dict(zip(reports["report_id"], reports["reason"], strict=True))[study5] == "no_images_after_filter"


def test_link_modality_filter(labels_for_tree, index, tmp_path):
    labels, _ = labels_for_tree
    out = tmp_path / "manifest.parquet"
    summary = link(labels, index, out, modalities=["DX", "cr"])
    assert set(read_manifest(out).frame["modality"]) == {"DX", "CR"}
    assert summary.image_reasons == {"excluded_modality": 1, "no_report": 1}


def test_link_by_accession(dicom_tree, index, write_csv, tmp_path):
    rows = [["study_uid", *CHEXPERT14], ["ACC0003", *(["1"] + [""] * 13)], ["ACC9999", *([""] * 14)]]
    labels = write_csv(rows, name="by_accession.csv")
    out = tmp_path / "manifest.parquet"
    summary = link(labels, index, out, on="accession")
    frame = read_manifest(out).frame
    assert sorted(frame["path"]) == ["P002/S3/SE1/IM0004.dcm", "P002/S3/SE1/IM0005.dcm"]
    assert set(frame["report_id"]) == {"ACC0003"}
    assert set(frame["study_uid"]) == {dicom_tree["studies"][3]}
    assert summary.n_reports_unlinked == 1 and summary.n_images_unlinked == 6


def test_link_duplicate_sop_kept_once_and_listed(dicom_tree, labels_for_tree, tmp_path):
    root = dicom_tree["root"]
    copy = root / "zz_copy" / "IM0001_copy.dcm"
    copy.parent.mkdir()
    copy.write_bytes((root / "P001/S1/SE1/IM0001.dcm").read_bytes())
    index = tmp_path / "index.parquet"
    index_dicom(root, index)
    labels, _ = labels_for_tree
    out = tmp_path / "manifest.parquet"
    summary = link(labels, index, out)
    assert "zz_copy/IM0001_copy.dcm" not in set(read_manifest(out).frame["path"])
    assert summary.image_reasons == {"duplicate_sop": 1, "no_report": 1}
    again = link(labels, index, tmp_path / "all.parquet", keep_duplicate_sops=True)
    assert again.n_images_linked == 8


def test_link_mapping_csv_each_study_its_own_patient(write_csv, tmp_path):
    mapping = write_csv([["uid", "filename", "projection"], ["10", "10_a.png", "Frontal"], ["10", "10_b.png", "Lateral"],
                         ["11", "11_a.png", "Frontal"], ["12", "12_a.png", "Frontal"]], name="projections.csv")
    labels = write_csv([["uid", "Cardiomegaly", "Edema"], ["10", "1", ""], ["11", "-1", "0"], ["13", "0", "0"]],
                       name="labels.csv")
    out = tmp_path / "manifest.parquet"
    summary = link(labels, mapping, out, on="mapping", labels_key="uid", views=["frontal"], image_root="/data/iu")
    man = read_manifest(out)
    frame = man.frame
    assert frame["path"].tolist() == ["10_a.png", "11_a.png"]
    assert frame["patient_id"].tolist() == ["10", "11"]
    assert frame["projection"].tolist() == ["Frontal", "Frontal"]
    assert man.info["image_root"] == "/data/iu"
    assert man.info["patient_id_source"].startswith("study")
    assert summary.report_reasons == {"no_images": 1}
    assert summary.image_reasons == {"excluded_view": 1, "no_report": 1}


def test_link_ids_kept_verbatim(write_csv, tmp_path):
    mapping = write_csv([["uid", "filename"], ["007", "a.png"], ["7", "b.png"]], name="map.csv")
    labels = write_csv([["study_uid", "Edema"], ["007", "1"], ["7", "0"]], name="labels.csv")
    out = tmp_path / "m.parquet"
    link(labels, mapping, out, on="mapping")
    frame = read_manifest(out).frame
    assert dict(zip(frame["report_id"], frame["Edema"].astype(int), strict=True)) == {"007": 1, "7": 0}


def test_link_hash_patient_ids(labels_for_tree, index, tmp_path, monkeypatch):
    labels, _ = labels_for_tree
    out = tmp_path / "manifest.parquet"
    link(labels, index, out, hash_patient_ids=True, salt="pepper-and-salt")
    man = read_manifest(out)
    assert set(man.frame["patient_id"]) == {hash_patient_id(p, "pepper-and-salt") for p in ("P001", "P002", "P003")}
    assert man.info["patient_ids_hashed"] is True
    assert all(len(p) == 64 and set(p) <= set("0123456789abcdef") for p in man.frame["patient_id"])
    monkeypatch.setenv("LABELER_PATIENT_ID_SALT", "pepper-and-salt")
    link(labels, index, tmp_path / "env.parquet", hash_patient_ids=True)
    assert read_manifest(tmp_path / "env.parquet").frame["patient_id"].tolist() == man.frame["patient_id"].tolist()


def test_link_hash_patient_ids_needs_a_salt(labels_for_tree, index, tmp_path, monkeypatch):
    monkeypatch.delenv("LABELER_PATIENT_ID_SALT", raising=False)
    labels, _ = labels_for_tree
    with pytest.raises(ConfigError, match="salt"):
        link(labels, index, tmp_path / "m.parquet", hash_patient_ids=True)


@pytest.mark.parametrize("column", ["text", "findings", "IMPRESSION", "PatientName", "patient_name", "Report Text"])
def test_link_refuses_labels_with_text_or_names(index, write_csv, tmp_path, column):
    labels = write_csv([["study_uid", "Edema", column], ["1.2.3", "1", "x"]], name="labels.csv")
    with pytest.raises(DataError, match="report text or identifying"):
        link(labels, index, tmp_path / "m.parquet")
    assert not (tmp_path / "m.parquet").exists()


def test_link_carried_column_copied(dicom_tree, index, write_csv, tmp_path):
    uid = dicom_tree["studies"][3]
    labels = write_csv([["study_uid", "Edema", "topic"], [uid, "1", "4"]], name="labels.csv")
    out = tmp_path / "m.parquet"
    link(labels, index, out, carry=["topic"])
    frame = read_manifest(out).frame
    assert frame["topic"].tolist() == ["4", "4"]


def test_link_refuses_free_text_in_a_carried_column(dicom_tree, index, write_csv, tmp_path):
    uid = dicom_tree["studies"][3]
    prose = "the heart is normal in size and the lungs are clear without focal consolidation"
    labels = write_csv([["study_uid", "Edema", "notes_col"], [uid, "1", prose]], name="labels.csv")
    with pytest.raises(DataError, match="free text"):
        link(labels, index, tmp_path / "m.parquet", carry=["notes_col"])


def test_link_unknown_column_is_an_error_not_a_label(index, write_csv, tmp_path):
    labels = write_csv([["study_uid", "Edema", "Sex"], ["1.2.3", "1", "F"]], name="labels.csv")
    with pytest.raises(DataError, match="'Sex', row 1: not a label value"):
        link(labels, index, tmp_path / "m.parquet")


def test_link_refuses_to_overwrite(labels_for_tree, index, tmp_path):
    labels, _ = labels_for_tree
    out = tmp_path / "m.parquet"
    link(labels, index, out)
    with pytest.raises(ConfigError, match="--overwrite"):
        link(labels, index, out)


def test_link_jsonl_and_parquet_labels_from_labeler_label(sample_csv, tmp_path, write_csv, rule_labeler):
    from labeler.batch import label_corpus

    mapping_rows = [["study_uid", "path"]]
    for i, uid in enumerate(pd.read_csv(sample_csv, dtype=str)["study_uid"][:5]):
        mapping_rows.append([uid, f"img{i}.png"])
    mapping = write_csv(mapping_rows, name="map.csv")
    frames = {}
    for ext in ("csv", "jsonl", "parquet"):
        labels = tmp_path / f"labels.{ext}"
        label_corpus(sample_csv, labels, rule_labeler)
        out = tmp_path / f"m_{ext}.parquet"
        link(labels, mapping, out, on="mapping")
        frames[ext] = read_manifest(out).frame
    assert len(frames["csv"]) == 5
    pd.testing.assert_frame_equal(frames["csv"], frames["jsonl"])
    pd.testing.assert_frame_equal(frames["csv"], frames["parquet"])


def test_read_label_table_conf_columns(write_csv):
    path = write_csv([["study_uid", "Edema", "Edema__conf", "Edema__rule"], ["a", "1", "0.9", "x"], ["b", "", ""]],
                     name="labels.csv")
    table = read_label_table(path)
    assert table.observations == ("Edema",)
    assert np.allclose(table.conf[:, 0], [0.9, np.nan], equal_nan=True)


@pytest.mark.parametrize("value", ["1.5", "abc"])
def test_read_label_table_bad_conf(write_csv, value):
    path = write_csv([["study_uid", "Edema", "Edema__conf"], ["a", "1", value]], name="labels.csv")
    with pytest.raises(DataError, match="Edema__conf"):
        read_label_table(path)


def test_read_label_table_duplicate_ids(write_csv):
    path = write_csv([["study_uid", "Edema"], ["a", "1"], ["a", "0"]], name="labels.csv")
    with pytest.raises(DataError, match="duplicate"):
        read_label_table(path)


@pytest.mark.parametrize("value, view", [("PA", "frontal"), ("AP", "frontal"), ("LL", "lateral"), ("LATERAL", "lateral"),
                                         ("Frontal", "frontal"), ("Lateral", "lateral"), ("RLD", "other"),
                                         ("", "unknown"), (None, "unknown")])
def test_normalise_view(value, view):
    assert normalise_view(value) == view
