"""The TF-IDF baseline labeler (baseline.tfidf): training, prediction, persistence."""

import json

import numpy as np
import pytest

from labeler import Report, make_labeler
from labeler.errors import ModelError
from labeler.labelers.baselines import TfidfLabeler
from labeler.vocab import STATUS_ORDER, AssertionStatus

TEMPLATES = [
    ("IMPRESSION: Small {side} pleural effusion.", "present"),
    ("IMPRESSION: No pleural effusion. Heart size normal.", "absent"),
    ("FINDINGS: Lungs are clear without pleural effusion.", "absent"),
    ("IMPRESSION: Possible {side} pleural effusion.", "uncertain"),
    ("IMPRESSION: Clear lungs. Normal heart size.", "not_mentioned"),
    ("FINDINGS: Moderate {side} effusion has increased.", "present"),
]


def corpus(n_each=6):
    out = []
    for k in range(n_each):
        side = ("left", "right", "bilateral")[k % 3]
        for t, (tmpl, _) in enumerate(TEMPLATES):
            out.append(Report(f"{t}-{k}", tmpl.format(side=side)))
    return out


@pytest.fixture(scope="module")
def fitted():
    return TfidfLabeler(min_df=1, seed=0).fit(corpus())


def status_of(proba, lab, obs):
    return STATUS_ORDER[int(proba[lab.observations.index(obs)].argmax())].value


def test_tfidf_registered_and_builds_by_name():
    lab = make_labeler("baseline.tfidf", seed=3)
    assert isinstance(lab, TfidfLabeler)
    assert lab.seed == 3 and not lab.is_fitted


@pytest.mark.parametrize("text,expected", [
    ("IMPRESSION: Small right pleural effusion.", "present"),
    ("IMPRESSION: No pleural effusion. Heart size normal.", "absent"),
    ("IMPRESSION: Possible left pleural effusion.", "uncertain"),
    ("IMPRESSION: Clear lungs.", "not_mentioned"),
])
def test_tfidf_learns_the_rules_statuses(fitted, text, expected):
    proba = fitted.predict_proba([Report("x", text)])[0]
    assert status_of(proba, fitted, "pleural_effusion") == expected


def test_tfidf_probabilities_are_distributions(fitted):
    proba = fitted.predict_proba(corpus(1))
    assert proba.shape == (len(TEMPLATES), 14, 4)
    np.testing.assert_allclose(proba.sum(axis=2), 1.0)
    assert (proba >= 0).all()


def test_tfidf_derives_no_finding_from_the_others(fitted):
    j = fitted.observations.index("no_finding")
    present = STATUS_ORDER.index(AssertionStatus.PRESENT)
    clear, effusion = fitted.predict_proba([Report("a", "IMPRESSION: Clear lungs. Normal heart size."),
                                            Report("b", "IMPRESSION: Small left pleural effusion.")])
    assert clear[j, present] > 0.8 > 0.2 > effusion[j, present]


def test_tfidf_label_yields_statuses_with_probabilities(fitted):
    (res,) = fitted.label([Report("x", "IMPRESSION: Small right pleural effusion.")])
    lab = res.label("pleural_effusion")
    assert lab.status is AssertionStatus.PRESENT
    assert set(lab.probabilities) == {s.value for s in STATUS_ORDER}
    assert res.provenance.labeler == "baseline.tfidf"
    assert len(res.provenance.model_sha256) == 64


def test_tfidf_is_deterministic_for_a_seed():
    a = TfidfLabeler(min_df=1, seed=1).fit(corpus()).predict_proba(corpus(1))
    b = TfidfLabeler(min_df=1, seed=1).fit(corpus()).predict_proba(corpus(1))
    np.testing.assert_array_equal(a, b)


def test_tfidf_fit_takes_explicit_status_labels():
    reports = corpus(3)
    obs = TfidfLabeler().observations
    labels = np.full((len(reports), len(obs)), AssertionStatus.NOT_MENTIONED, dtype=object)
    labels[:, obs.index("edema")] = [AssertionStatus.PRESENT if i % 2 else AssertionStatus.ABSENT
                                     for i in range(len(reports))]
    lab = TfidfLabeler(min_df=1).fit(reports, labels=labels)
    proba = lab.predict_proba(reports)
    assert (proba[:, obs.index("pneumothorax"), STATUS_ORDER.index(AssertionStatus.NOT_MENTIONED)] == 1.0).all()


def test_tfidf_save_load_round_trip(fitted, tmp_path):
    fitted.save(tmp_path / "m")
    card = json.loads((tmp_path / "m" / "model.json").read_text())
    assert card["format"] == "radlabeler.baseline.tfidf" and card["ruleset"]["name"] == "chexpert14"
    again = TfidfLabeler.load(tmp_path / "m")
    np.testing.assert_allclose(again.predict_proba(corpus(1)), fitted.predict_proba(corpus(1)), atol=1e-12)
    assert again.model_sha256 == fitted.model_sha256
    via_name = make_labeler("baseline.tfidf", model=tmp_path / "m")
    assert via_name.is_fitted


def test_tfidf_load_refuses_a_corrupt_model(fitted, tmp_path):
    fitted.save(tmp_path / "m")
    weights = tmp_path / "m" / "weights.npz"
    weights.write_bytes(weights.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ModelError, match="sha256"):
        TfidfLabeler.load(tmp_path / "m")
    with pytest.raises(ModelError, match="not a baseline.tfidf model"):
        TfidfLabeler.load(tmp_path / "nothing")


def test_tfidf_unfitted_predict_is_a_model_error():
    with pytest.raises(ModelError, match="not fitted"):
        TfidfLabeler().predict_proba([Report("x", "IMPRESSION: Clear.")])


def test_tfidf_fit_rejects_bad_input():
    with pytest.raises(ValueError, match="at least one report"):
        TfidfLabeler().fit([])
    with pytest.raises(ValueError, match="labels has"):
        TfidfLabeler().fit(corpus(1), labels=np.zeros((2, 14), dtype=object))
