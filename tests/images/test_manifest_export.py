"""labeler.manifest: uncertainty policies, CheXpert CSV / MONAI / Parquet exporters, the torch Dataset."""

import csv
import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from labeler.errors import ConfigError, DataError
from labeler.manifest import (
    Manifest,
    apply_uncertainty_policy,
    export_manifest,
    read_manifest,
    write_manifest,
)

NAN = np.nan
# one row per label value: 1, 0, -1, blank
VALUES = np.array([[1.0], [0.0], [-1.0], [NAN]])
CONF = np.array([[0.9], [0.8], [0.7], [0.6]])


@pytest.mark.parametrize("policy, targets, mask", [
    ("ignore", [1, 0, 0, 0], [1, 1, 0, 1]),
    ("zeros", [1, 0, 0, 0], [1, 1, 1, 1]),
    ("ones", [1, 0, 1, 0], [1, 1, 1, 1]),
])
def test_policy_u_ignore_zeros_ones(policy, targets, mask):
    t, m = apply_uncertainty_policy(VALUES, uncertainty=policy)
    assert t[:, 0].tolist() == targets
    assert m[:, 0].tolist() == mask
    assert t.dtype == np.float32 and m.dtype == np.uint8


def test_policy_blank_ignore_masks_blank():
    t, m = apply_uncertainty_policy(VALUES, uncertainty="zeros", blank="ignore")
    assert m[:, 0].tolist() == [1, 1, 1, 0]
    assert t[3, 0] == 0.0


def test_policy_soft_from_confidence():
    t, m = apply_uncertainty_policy(VALUES, CONF, uncertainty="soft")
    assert np.allclose(t[:, 0], [0.9, 0.2, 0.5, 0.4])  # c, 1-c, soft_uncertain, blank as negative: 1-c
    assert m[:, 0].tolist() == [1, 1, 1, 1]


def test_policy_soft_uncertain_masked_and_custom_value():
    t, m = apply_uncertainty_policy(VALUES, CONF, uncertainty="soft", soft_uncertain=None)
    assert m[:, 0].tolist() == [1, 1, 0, 1]
    t, _ = apply_uncertainty_policy(VALUES, CONF, uncertainty="soft", soft_uncertain=0.7)
    assert np.isclose(t[2, 0], 0.7)


def test_policy_soft_missing_confidence_falls_back_to_hard_label():
    conf = np.array([[NAN], [NAN], [NAN], [NAN]])
    t, m = apply_uncertainty_policy(VALUES, conf, uncertainty="soft")
    assert t[:, 0].tolist() == [1.0, 0.0, 0.5, 0.0]


def test_policy_soft_needs_confidences():
    with pytest.raises(ConfigError, match="__conf"):
        apply_uncertainty_policy(VALUES, None, uncertainty="soft")


def test_policy_per_observation_overrides():
    values = np.array([[-1.0, -1.0], [1.0, 0.0]])
    t, m = apply_uncertainty_policy(values, uncertainty="zeros", per_observation=["ones", None])
    assert t.tolist() == [[1.0, 0.0], [1.0, 0.0]]
    assert m.tolist() == [[1, 1], [1, 1]]


@pytest.mark.parametrize("kwargs", [{"uncertainty": "maybe"}, {"blank": "ones"}, {"soft_uncertain": 2.0}])
def test_policy_rejects_bad_options(kwargs):
    with pytest.raises(ConfigError):
        apply_uncertainty_policy(VALUES, CONF, **kwargs)


def test_policy_rejects_bad_label_values():
    with pytest.raises(DataError):
        apply_uncertainty_policy(np.array([[2.0]]))


def small_manifest(with_conf=False, with_split=True):
    frame = pd.DataFrame({
        "path": ["p1/a.dcm", "p1/b.dcm", "p2/c.dcm", "p3/d.dcm"],
        "report_id": ["s1", "s1", "s2", "s3"],
        "study_uid": ["s1", "s1", "s2", "s3"],
        "patient_id": ["P1", "P1", "P2", "P3"],
        "view": ["frontal", "lateral", "frontal", "frontal"],
        "view_position": ["PA", "LL", "AP", "PA"],
        "Cardiomegaly": [1, 1, -1, None],
        "Edema": [0, 0, None, 1],
    })
    if with_conf:
        frame["Cardiomegaly__conf"] = [0.9, 0.9, 0.6, NAN]
        frame["Edema__conf"] = [0.8, 0.8, NAN, 0.95]
    if with_split:
        frame.insert(1, "split", ["train", "train", "validation", "test"])
    return Manifest(frame, ["Cardiomegaly", "Edema"], {"image_root": "/data/dicom"})


@pytest.fixture()
def manifest_file(tmp_path):
    path = tmp_path / "manifest.parquet"
    write_manifest(small_manifest(), path)
    return path


def test_manifest_round_trip_keeps_observations_and_info(manifest_file):
    man = read_manifest(manifest_file)
    assert man.observations == ["Cardiomegaly", "Edema"]
    assert man.info["image_root"] == "/data/dicom"
    assert np.array_equal(man.values(), np.array([[1, 0], [1, 0], [-1, NAN], [NAN, 1]]), equal_nan=True)


def test_manifest_writer_refuses_text_columns(tmp_path):
    man = small_manifest()
    man.frame["impression"] = "x"
    with pytest.raises(DataError, match="impression"):
        write_manifest(man, tmp_path / "m.parquet")


def test_export_chexpert_csv(manifest_file, tmp_path):
    out = tmp_path / "export"
    summary = export_manifest(manifest_file, out, formats=["chexpert"], uncertainty="ignore")
    assert summary.rows_per_split == {"train": 2, "validation": 1, "test": 1}
    with open(out / "train.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["Path", "study_uid", "patient_id", "Frontal/Lateral", "AP/PA", "Cardiomegaly", "Edema"]
    assert [r["Path"] for r in rows] == ["/data/dicom/p1/a.dcm", "/data/dicom/p1/b.dcm"]
    assert [(r["Frontal/Lateral"], r["AP/PA"]) for r in rows] == [("Frontal", "PA"), ("Lateral", "LL")]
    assert (rows[0]["Cardiomegaly"], rows[0]["Edema"]) == ("1.0", "0.0")
    with open(out / "validation.csv", newline="") as fh:
        val = list(csv.DictReader(fh))
    assert (val[0]["Cardiomegaly"], val[0]["Edema"]) == ("", "0.0")  # U-Ignore masks -1; blank -> 0


def test_export_relative_paths_and_image_root(manifest_file, tmp_path):
    export_manifest(manifest_file, tmp_path / "rel", formats=["chexpert"], relative_paths=True)
    export_manifest(manifest_file, tmp_path / "moved", formats=["chexpert"], image_root="/mnt/x")
    rel = pd.read_csv(tmp_path / "rel" / "test.csv")
    moved = pd.read_csv(tmp_path / "moved" / "test.csv")
    assert rel["Path"].tolist() == ["p3/d.dcm"]
    assert moved["Path"].tolist() == ["/mnt/x/p3/d.dcm"]


def test_export_monai_datalist(manifest_file, tmp_path):
    export_manifest(manifest_file, tmp_path / "e", formats=["monai"], uncertainty="ones", blank="ignore")
    data = json.loads((tmp_path / "e" / "datalist.json").read_text())
    assert set(data) == {"training", "validation", "test", "labels"}
    assert data["labels"] == ["Cardiomegaly", "Edema"]
    assert [d["image"] for d in data["training"]] == ["/data/dicom/p1/a.dcm", "/data/dicom/p1/b.dcm"]
    assert data["validation"][0]["label"] == [1.0, 0.0]
    assert data["validation"][0]["mask"] == [1, 0]
    assert data["test"][0] == {"image": "/data/dicom/p3/d.dcm", "label": [0.0, 1.0], "mask": [0, 1],
                               "study_uid": "s3", "patient_id": "P3"}


def test_export_monai_loads_with_monai_if_installed(manifest_file, tmp_path):
    monai_data = pytest.importorskip("monai.data")
    export_manifest(manifest_file, tmp_path / "e", formats=["monai"], relative_paths=True)
    items = monai_data.load_decathlon_datalist(str(tmp_path / "e" / "datalist.json"), is_segmentation=False,
                                               data_list_key="training", base_dir="/data/dicom")
    assert items[0]["image"] == "/data/dicom/p1/a.dcm"


def test_export_parquet_per_split(manifest_file, tmp_path):
    export_manifest(manifest_file, tmp_path / "e", formats=["parquet"], uncertainty="zeros")
    table = pq.read_table(tmp_path / "e" / "validation.parquet")
    assert table.column_names == ["image", "study_uid", "patient_id", "split", "frontal_lateral", "ap_pa", "label",
                                  "mask"]
    row = table.to_pylist()[0]
    assert row["label"] == [0.0, 0.0] and row["mask"] == [1, 1]
    assert row["split"] == "validation"
    frame = pd.read_parquet(tmp_path / "e" / "train.parquet")
    assert len(frame) == 2


def test_export_parquet_loads_with_datasets_if_installed(manifest_file, tmp_path):
    datasets = pytest.importorskip("datasets")
    export_manifest(manifest_file, tmp_path / "e", formats=["parquet"])
    files = {s: str(tmp_path / "e" / f"{s}.parquet") for s in ("train", "validation", "test")}
    ds = datasets.load_dataset("parquet", data_files=files, cache_dir=str(tmp_path / "hf"))
    assert ds["train"].num_rows == 2 and ds["train"][0]["label"] == [1.0, 0.0]


def test_export_meta_records_label_order_and_policy(manifest_file, tmp_path):
    export_manifest(manifest_file, tmp_path / "e", formats=["chexpert", "parquet"], uncertainty="zeros",
                    per_observation={"Edema": "ones"})
    meta = json.loads((tmp_path / "e" / "export.meta.json").read_text())
    assert meta["labels"] == ["Cardiomegaly", "Edema"]
    assert meta["policy"] == {"uncertainty": "zeros", "blank": "zeros", "soft_uncertain": 0.5,
                              "per_observation": {"Edema": "ones"}}
    assert meta["files"] == ["train.csv", "train.parquet", "validation.csv", "validation.parquet", "test.csv",
                             "test.parquet"]


def test_export_without_split_column_writes_all(tmp_path):
    path = tmp_path / "m.parquet"
    write_manifest(small_manifest(with_split=False), path)
    summary = export_manifest(path, tmp_path / "e", formats=["chexpert", "monai"])
    assert summary.rows_per_split == {"all": 4}
    assert len(pd.read_csv(tmp_path / "e" / "all.csv")) == 4
    assert list(json.loads((tmp_path / "e" / "datalist.json").read_text())) == ["training", "labels"]


def test_export_soft_policy_with_conf_columns(tmp_path):
    path = tmp_path / "m.parquet"
    write_manifest(small_manifest(with_conf=True), path)
    export_manifest(path, tmp_path / "e", formats=["monai"], uncertainty="soft")
    data = json.loads((tmp_path / "e" / "datalist.json").read_text())
    assert np.allclose(data["training"][0]["label"], [0.9, 0.2])
    assert np.allclose(data["validation"][0]["label"], [0.5, 0.0])  # -1 -> 0.5; blank without conf -> 0
    assert np.allclose(data["test"][0]["label"], [0.0, 0.95])


def test_export_soft_policy_without_conf_is_a_clear_error(manifest_file, tmp_path):
    with pytest.raises(ConfigError, match="__conf"):
        export_manifest(manifest_file, tmp_path / "e", uncertainty="soft")


def test_export_hash_patient_ids(manifest_file, tmp_path):
    from labeler.deid import hash_patient_id

    export_manifest(manifest_file, tmp_path / "e", formats=["chexpert"], hash_patient_ids=True, salt="a-long-salt")
    ids = pd.read_csv(tmp_path / "e" / "train.csv", dtype=str)["patient_id"].tolist()
    assert ids == [hash_patient_id("P1", "a-long-salt")] * 2
    meta = json.loads((tmp_path / "e" / "export.meta.json").read_text())
    assert meta["patient_ids_hashed"] is True
    assert "a-long-salt" not in json.dumps(meta)


def test_export_refuses_to_overwrite(manifest_file, tmp_path):
    export_manifest(manifest_file, tmp_path / "e", formats=["chexpert"])
    with pytest.raises(ConfigError, match="--overwrite"):
        export_manifest(manifest_file, tmp_path / "e", formats=["chexpert"])


def test_export_unknown_format(manifest_file, tmp_path):
    with pytest.raises(ConfigError, match="format"):
        export_manifest(manifest_file, tmp_path / "e", formats=["hdf5"])


def test_export_per_observation_unknown_name(manifest_file, tmp_path):
    with pytest.raises(ConfigError, match="Oedema"):
        export_manifest(manifest_file, tmp_path / "e", per_observation={"Oedema": "ones"})


def test_torch_dataset_yields_path_target_mask(manifest_file):
    torch = pytest.importorskip("torch")
    from labeler.manifest import ManifestDataset

    ds = ManifestDataset(manifest_file, split="validation", uncertainty="ignore", blank="ignore")
    assert isinstance(ds, torch.utils.data.Dataset)
    assert len(ds) == 1
    path, target, mask = ds[0]
    assert path == "/data/dicom/p2/c.dcm"
    assert target.dtype == torch.float32 and target.tolist() == [0.0, 0.0]
    assert mask.tolist() == [0.0, 0.0]
    assert ds.observations == ["Cardiomegaly", "Edema"]


def test_torch_dataset_loader_transform_and_dataloader(manifest_file):
    torch = pytest.importorskip("torch")
    from labeler.manifest import ManifestDataset

    ds = ManifestDataset(manifest_file, split="train", uncertainty="zeros", loader=lambda p: p.upper(),
                         transform=lambda s: s + "!")
    assert ds[0][0] == "/DATA/DICOM/P1/A.DCM!"
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=2)))
    images, targets, masks = batch
    assert list(images) == ["/DATA/DICOM/P1/A.DCM!", "/DATA/DICOM/P1/B.DCM!"]
    assert targets.shape == (2, 2) and masks.shape == (2, 2)


def test_torch_dataset_unknown_split(manifest_file):
    pytest.importorskip("torch")
    from labeler.manifest import ManifestDataset

    with pytest.raises(ConfigError, match="split"):
        ManifestDataset(manifest_file, split="dev")


def test_manifest_module_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, labeler.manifest, labeler.link, labeler.splits; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
