"""labeler.splits: patient-level, label-stratified, deterministic train/validation/test splits."""

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labeler.errors import ConfigError, DataError
from labeler.manifest import Manifest, read_manifest, write_manifest
from labeler.splits import assign_splits, iterative_stratification, parse_ratios, split_manifest

OBS = ["Cardiomegaly", "Edema", "Pneumothorax", "Fracture"]
PREVALENCE = [0.3, 0.15, 0.04, 0.02]


def synthetic_manifest(n_patients=600, seed=0, with_topic=False):
    """Patients with 1-4 studies, 1-2 images per study, labels drawn per study."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_patients):
        for s in range(rng.integers(1, 5)):
            labels = {o: (1 if rng.random() < q else (0 if rng.random() < 0.5 else np.nan))
                      for o, q in zip(OBS, PREVALENCE, strict=True)}
            if rng.random() < 0.05:
                labels["Edema"] = -1
            study = f"1.2.3.{p}.{s}"
            topic = str(rng.integers(0, 3))
            for i in range(rng.integers(1, 3)):
                rows.append({"path": f"p{p}/s{s}/i{i}.dcm", "report_id": study, "study_uid": study,
                             "patient_id": f"P{p:05d}", "view": "frontal", **labels,
                             **({"topic": topic} if with_topic else {})})
    return Manifest(pd.DataFrame(rows), list(OBS), {"image_root": "/data"})


def patient_splits(frame, split):
    return pd.DataFrame({"p": frame["patient_id"], "s": split}).drop_duplicates()


def test_split_no_patient_in_two_splits():
    man = synthetic_manifest()
    split, _ = assign_splits(man, random_state=3)
    per_patient = patient_splits(man.frame, split)
    assert per_patient["p"].is_unique
    assert set(split) == {"train", "validation", "test"}


def test_split_same_seed_identical_other_seed_differs():
    man = synthetic_manifest()
    a, _ = assign_splits(man, random_state=7)
    b, _ = assign_splits(man, random_state=7)
    c, _ = assign_splits(man, random_state=8)
    assert a.tolist() == b.tolist()
    assert a.tolist() != c.tolist()


def test_split_independent_of_row_order():
    man = synthetic_manifest()
    a, _ = assign_splits(man, random_state=1)
    shuffled = Manifest(man.frame.sample(frac=1.0, random_state=0), man.observations, man.info)
    b, _ = assign_splits(shuffled, random_state=1)
    assert a.to_dict() == b.to_dict()  # same split for every row (index-aligned)


@pytest.mark.parametrize("ratios", [(0.8, 0.1, 0.1), (0.7, 0.15, 0.15), (0.6, 0.2, 0.2)])
def test_split_ratios_respected_in_patients(ratios):
    man = synthetic_manifest()
    split, facts = assign_splits(man, ratios=ratios, random_state=0)
    per_patient = patient_splits(man.frame, split)
    fractions = per_patient["s"].value_counts(normalize=True)
    for name, r in zip(("train", "validation", "test"), ratios, strict=True):
        assert abs(fractions[name] - r) <= 0.01
    assert facts["n_patients"] == 600


def test_split_keeps_label_prevalence_better_than_random():
    man = synthetic_manifest(n_patients=1500, seed=2)
    split, _ = assign_splits(man, random_state=0)
    patients = man.frame["patient_id"]
    pos = man.frame[OBS].fillna(0).to_numpy() == 1
    per_patient = pd.DataFrame(pos, columns=OBS).groupby(patients.to_numpy()).max()
    s = patient_splits(man.frame, split).set_index("p")["s"].reindex(per_patient.index)
    overall = per_patient.mean()
    strat_dev = max((per_patient[s == name].mean() - overall).abs().max() for name in ("train", "validation", "test"))
    rng = np.random.default_rng(0)
    random_devs = []
    for _ in range(20):
        r = pd.Series(rng.choice(["train", "validation", "test"], size=len(per_patient), p=[0.8, 0.1, 0.1]),
                      index=per_patient.index)
        random_devs.append(max((per_patient[r == name].mean() - overall).abs().max()
                               for name in ("train", "validation", "test")))
    assert strat_dev < 0.005
    assert strat_dev < np.median(random_devs) / 3


def test_split_rare_label_reaches_every_split():
    Y = np.zeros((100, 2), dtype=int)
    Y[:10, 0] = 1  # 10 positives: 8 / 1 / 1 expected
    Y[10:40, 1] = 1
    folds = iterative_stratification(Y, [0.8, 0.1, 0.1], random_state=0)
    assert [int(Y[folds == k, 0].sum()) for k in range(3)] == [8, 1, 1]
    assert [int(Y[folds == k, 1].sum()) for k in range(3)] == [24, 3, 3]
    assert np.bincount(folds).tolist() == [80, 10, 10]


def test_split_zero_ratio_fold_stays_empty():
    Y = np.random.default_rng(0).random((50, 3)) < 0.3
    folds = iterative_stratification(Y, [0.9, 0.1, 0.0], random_state=0)
    assert set(folds.tolist()) == {0, 1}
    assert np.bincount(folds).tolist() == [45, 5]


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 60), n_labels=st.integers(0, 5), seed=st.integers(0, 2**16),
       density=st.floats(0.0, 1.0))
def test_iterative_stratification_property(n, n_labels, seed, density):
    Y = np.random.default_rng(seed).random((n, n_labels)) < density
    folds = iterative_stratification(Y, [0.8, 0.1, 0.1], random_state=seed)
    assert folds.shape == (n,)
    assert set(folds.tolist()) <= {0, 1, 2}
    assert np.array_equal(folds, iterative_stratification(Y, [0.8, 0.1, 0.1], random_state=seed))
    counts = np.bincount(folds, minlength=3)
    assert abs(counts[0] - 0.8 * n) <= max(2, 0.1 * n)


def test_split_stratify_on_topic_balances_topics():
    man = synthetic_manifest(n_patients=900, seed=4, with_topic=True)
    split, _ = assign_splits(man, random_state=0, stratify_on=["topic"])
    frame = man.frame.assign(split=split.to_numpy())
    share = frame.drop_duplicates("report_id").groupby("split")["topic"].value_counts(normalize=True).unstack()
    overall = frame.drop_duplicates("report_id")["topic"].value_counts(normalize=True)
    assert (share - overall).abs().max().max() < 0.05


def test_split_missing_patient_ids_refused_or_per_study():
    man = synthetic_manifest(n_patients=50)
    man.frame.loc[man.frame.index[:3], "patient_id"] = None
    with pytest.raises(DataError, match="--missing-patient study"):
        assign_splits(man)
    split, facts = assign_splits(man, missing_patient="study")
    assert facts["n_rows_without_patient_id"] == 3
    assert len(split) == len(man.frame)


def test_split_manifest_writes_split_column_and_report(tmp_path):
    src = tmp_path / "m.parquet"
    write_manifest(synthetic_manifest(), src)
    out = tmp_path / "s.parquet"
    summary = split_manifest(src, out, ratios="70:15:15", random_state=5)
    man = read_manifest(out)
    assert man.frame.columns[:2].tolist() == ["path", "split"]
    assert man.info["split"]["ratios"] == [0.7, 0.15, 0.15]
    report = json.loads((tmp_path / "s.parquet.split_report.json").read_text())
    assert report["patients_in_several_splits"] == 0
    assert sum(report["splits"][s]["patients"] for s in ("train", "validation", "test")) == 600
    assert sum(report["splits"][s]["images"] for s in ("train", "validation", "test")) == len(man.frame)
    assert set(report["splits"]["train"]["positive"]) == set(OBS)
    assert report["max_abs_deviation"]["Cardiomegaly"] < 0.05
    assert summary.report["overall"]["patients"] == 600


def test_split_manifest_same_seed_same_file(tmp_path):
    src = tmp_path / "m.parquet"
    write_manifest(synthetic_manifest(), src)
    split_manifest(src, tmp_path / "a.parquet", random_state=11)
    split_manifest(src, tmp_path / "b.parquet", random_state=11)
    a = read_manifest(tmp_path / "a.parquet").frame
    b = read_manifest(tmp_path / "b.parquet").frame
    pd.testing.assert_frame_equal(a, b)


def test_split_report_prevalence_exact_on_small_manifest():
    frame = pd.DataFrame({
        "path": ["a", "b", "c", "d"], "report_id": ["s1", "s1", "s2", "s3"], "study_uid": ["s1", "s1", "s2", "s3"],
        "patient_id": ["p1", "p1", "p2", "p3"], "Edema": [1, 1, 0, -1],
    })
    man = Manifest(frame, ["Edema"], {})
    from labeler.splits import split_report

    rep = split_report(man, pd.Series(["train", "train", "train", "test"]))
    assert rep["splits"]["train"]["positive"]["Edema"] == 0.5  # studies s1 (1), s2 (0)
    assert rep["splits"]["test"]["uncertain"]["Edema"] == 1.0
    assert rep["splits"]["validation"]["positive"]["Edema"] is None
    assert rep["overall"]["positive"]["Edema"] == round(1 / 3, 4)
    assert (rep["splits"]["train"]["studies"], rep["splits"]["train"]["images"]) == (2, 3)


@pytest.mark.parametrize("text", ["80:10", "a:b:c", "0:0:0", "-1:1:1"])
def test_parse_ratios_rejects(text):
    with pytest.raises(ConfigError):
        parse_ratios(text)
