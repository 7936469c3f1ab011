"""IU/Open-i: report ids linked to frontal images through the real projections.csv, then split.

The labels here are made up from the ids (not from report text): what is tested is the linkage
and the split over the real study -> image mapping. The rules labels of the real reports are linked
by evaluation/iu_images.py.
"""

import pandas as pd
import pytest

from labeler.link import link
from labeler.manifest import read_manifest
from labeler.splits import split_manifest

pytestmark = pytest.mark.corpora


@pytest.fixture(scope="module")
def iu(shared_corpora):
    reports = pd.read_csv(shared_corpora / "iu" / "reports.csv", dtype=str, keep_default_na=False, usecols=["uid"])
    projections = pd.read_csv(shared_corpora / "iu" / "projections.csv", dtype=str, keep_default_na=False)
    return reports["uid"].tolist(), projections, shared_corpora / "iu" / "projections.csv"


@pytest.fixture()
def iu_labels(iu, tmp_path):
    uids, _, _ = iu
    frame = pd.DataFrame({"study_uid": uids})
    n = frame["study_uid"].astype(int)
    frame["Cardiomegaly"] = (n % 7 == 0).map({True: "1", False: "0"})
    frame["Edema"] = (n % 11 == 0).map({True: "-1", False: ""})
    path = tmp_path / "iu_labels.csv"
    frame.to_csv(path, index=False)
    return path


def test_iu_link_frontal_manifest_counts(iu, iu_labels, tmp_path):
    uids, projections, mapping = iu
    out = tmp_path / "manifest.parquet"
    summary = link(iu_labels, mapping, out, on="mapping", views=["frontal"])
    frontal = projections[projections["projection"] == "Frontal"]
    frame = read_manifest(out).frame
    assert summary.n_reports == len(uids)
    assert summary.n_images_linked == len(frontal)
    assert set(frame["path"]) == set(frontal["filename"])
    assert summary.n_reports_unlinked == len(set(uids) - set(frontal["uid"]))
    assert summary.report_reasons == {"no_images_after_filter": summary.n_reports_unlinked}
    assert summary.image_reasons == {"excluded_view": int((projections["projection"] == "Lateral").sum())}
    assert (frame["patient_id"] == frame["study_uid"]).all()  # IU: each study is its own patient


def test_iu_split_no_patient_crosses_and_deterministic(iu, iu_labels, tmp_path):
    _, _, mapping = iu
    manifest = tmp_path / "manifest.parquet"
    link(iu_labels, mapping, manifest, on="mapping", views=["frontal"])
    a = split_manifest(manifest, tmp_path / "a.parquet", random_state=0)
    split_manifest(manifest, tmp_path / "b.parquet", random_state=0)
    fa = read_manifest(tmp_path / "a.parquet").frame
    fb = read_manifest(tmp_path / "b.parquet").frame
    assert fa["split"].tolist() == fb["split"].tolist()
    assert (fa.groupby("patient_id")["split"].nunique() == 1).all()
    assert a.report["patients_in_several_splits"] == 0
    fractions = fa.drop_duplicates("patient_id")["split"].value_counts(normalize=True)
    assert abs(fractions["train"] - 0.8) < 0.01 and abs(fractions["test"] - 0.1) < 0.01
    assert a.report["max_abs_deviation"]["Cardiomegaly"] < 0.01
