"""EnsembleLabeler: gate and stack policies on arrays and end to end, stacker persistence and checks."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")

from synthetic_reports import OBSERVATIONS, TINY, make_reports  # noqa: E402

from labeler import ConfigError, ModelError, Report  # noqa: E402
from labeler.gold import GoldSet  # noqa: E402
from labeler.labelers.base import make_labeler  # noqa: E402
from labeler.labelers.classifier import ClassifierLabeler  # noqa: E402
from labeler.labelers.ensemble import (  # noqa: E402
    EnsembleLabeler,
    fit_stacker,
    gate_combine,
    stacked_proba,
)
from labeler.vocab import AssertionStatus  # noqa: E402

NM, POS, NEG, UNC = 0, 1, 2, 3


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    reports, labels, _ = make_reports(300, seed=1)
    path = tmp_path_factory.mktemp("ens") / "tiny"
    ClassifierLabeler(**TINY).fit(reports, labels).save(path)
    return path


# ---------------------------------------------------------------------- arrays


def test_gate_keeps_rules_where_they_fired():
    rules = np.array([[NEG, NM]])
    modifier = np.array([[1, 0]])
    clf = np.array([[[0.0, 0.9, 0.1, 0.0], [0.1, 0.8, 0.1, 0.0]]])
    proba, used = gate_combine(rules, modifier, clf)
    assert used.tolist() == [[False, True]]
    assert proba.argmax(-1).tolist() == [[NEG, POS]]


def test_gate_threshold_keeps_rules_when_classifier_unsure():
    rules = np.array([[NM]])
    clf = np.array([[[0.3, 0.4, 0.2, 0.1]]])
    proba, used = gate_combine(rules, np.zeros((1, 1), int), clf, threshold=0.5)
    assert used.tolist() == [[False]] and proba.argmax(-1).tolist() == [[NM]]


def test_gate_trust_modifier_lets_classifier_overrule_plain_present():
    rules = np.array([[POS, POS, NEG]])
    modifier = np.array([[0, 2, 0]])  # plain present; present decided by a (historical-like) modifier; fixed absent
    clf = np.array([[[0.0, 0.1, 0.9, 0.0]] * 3])
    fired, _ = gate_combine(rules, modifier, clf, trust="fired")
    mod, used = gate_combine(rules, modifier, clf, trust="modifier")
    assert fired.argmax(-1).tolist() == [[POS, POS, NEG]]
    assert mod.argmax(-1).tolist() == [[NEG, POS, NEG]] and used.tolist() == [[True, False, False]]


def test_gate_rejects_unknown_trust():
    with pytest.raises(ConfigError):
        gate_combine(np.zeros((1, 1), int), np.zeros((1, 1), int), np.ones((1, 1, 4)) / 4, trust="always")


def _stack_data(n=400, seed=0):
    """Rules say uncertain half the time; the gold codes uncertain mentions only when the classifier is sure."""
    rng = np.random.default_rng(seed)
    rules = rng.choice([NM, POS, NEG, UNC], size=(n, 1))
    clf = np.zeros((n, 1, 4))
    sure = rng.random(n) < 0.5
    clf[np.arange(n), 0, rules[:, 0]] = np.where(sure, 0.9, 0.55)
    clf[..., POS] += (1 - clf.sum(-1)) * 0.5
    clf[..., NEG] += 1 - clf.sum(-1)
    gold = np.where(rules[:, 0] == POS, 1, np.where(rules[:, 0] == UNC, sure.astype(int), 0))[:, None]
    return rules, np.zeros_like(rules), clf, gold


def test_stacker_learns_how_gold_codes_uncertain_mentions():
    rules, modifier, clf, gold = _stack_data()
    st = fit_stacker(rules, modifier, clf, gold, np.array([True]), kind="binary", observations=["x"], C=10.0)
    r2, m2, c2, g2 = _stack_data(seed=1)
    proba, has = stacked_proba(st, r2, m2, c2)
    coded = np.isin(proba.argmax(-1), (POS, UNC)).astype(int)
    assert has.all()
    assert (coded == g2).mean() >= 0.95
    unc_not_coded = (r2[:, 0] == UNC) & (g2[:, 0] == 0)
    assert (proba.argmax(-1)[unc_not_coded, 0] == NEG).all()  # resolved to absent, not left uncertain


def test_stacker_json_round_trip_predicts_the_same():
    from labeler.labelers.ensemble import Stacker

    rules, modifier, clf, gold = _stack_data()
    st = fit_stacker(rules, modifier, clf, gold, np.array([True]), kind="binary", observations=["x"])
    again = Stacker.from_dict(json.loads(json.dumps(st.to_dict())))
    assert np.array_equal(stacked_proba(st, rules, modifier, clf)[0], stacked_proba(again, rules, modifier, clf)[0])


def test_stacker_status_kind_and_constant_observation():
    rules = np.array([[POS, NM], [NEG, NM], [UNC, NM], [POS, NM]])
    clf = np.full((4, 2, 4), 0.25)
    gold = np.array([[POS, NM], [NEG, NM], [UNC, NM], [POS, NM]])
    st = fit_stacker(rules, np.zeros_like(rules), clf, gold, np.array([True, True]), kind="status",
                     observations=["a", "b"], C=100.0)
    proba, has = stacked_proba(st, rules, np.zeros_like(rules), clf)
    assert has.all()
    assert proba.argmax(-1).tolist() == gold.tolist()
    assert st.models[1] == {"constant": NM}


# ---------------------------------------------------------------------- labeler


def test_ensemble_uses_classifier_where_rules_are_silent(model_dir):
    ens = EnsembleLabeler(model=model_dir)
    assert ens.active_policy == "gate"
    res = next(ens.label([Report("1", "FINDINGS: There is blorb. No pneumothorax.")]))
    eff = res.label("pleural_effusion")
    assert eff.status is AssertionStatus.PRESENT and eff.rule_id == "ensemble.gate"
    ptx = res.label("pneumothorax")
    assert ptx.status is AssertionStatus.ABSENT and ptx.evidence and ptx.probabilities["absent"] == 1.0
    nf = res.label("no_finding")  # derived again from the combined statuses
    assert nf.status is AssertionStatus.NOT_MENTIONED and nf.rule_id == "aggregate.no_finding.001"
    assert res.provenance.labeler == "ensemble"
    assert res.provenance.model_sha256 == ens.classifier_.model_sha256


def test_ensemble_keeps_rules_decision_where_they_fired(model_dir):
    ens = EnsembleLabeler(model=model_dir)
    res = next(ens.label([Report("1", "IMPRESSION: Possible small left pleural effusion.")]))
    assert res.label("pleural_effusion").status is AssertionStatus.UNCERTAIN
    assert res.label("pleural_effusion").evidence[0].modifier.category == "uncertain"


def test_ensemble_is_registered_and_needs_a_model():
    with pytest.raises(ConfigError, match="--model") as exc:
        make_labeler("ensemble")
    assert exc.value.code == "model_required"


def test_ensemble_predict_proba_shape_and_one_result_per_report(model_dir):
    ens = EnsembleLabeler(model=model_dir)
    reports, _, _ = make_reports(25, seed=8)
    proba = ens.predict_proba(reports)
    assert proba.shape == (25, 14, 4)
    np.testing.assert_allclose(proba.sum(-1), 1.0, atol=1e-5)
    assert [r.study_uid for r in ens.label(reports)] == [r.study_uid for r in reports]


def _binary_gold(seed):
    reports, labels, _ = make_reports(120, seed=seed)
    coded = np.array([[int(s is AssertionStatus.PRESENT) for s in row] for row in labels])
    return GoldSet(tuple(r.study_uid for r in reports), OBSERVATIONS, coded, "binary",
                   tuple(r.text for r in reports), f"gold-{seed}")


def test_ensemble_stacker_save_and_reload_round_trip(model_dir, tmp_path):
    import shutil

    d = tmp_path / "m"
    shutil.copytree(model_dir, d)
    ens = EnsembleLabeler(model=d).fit(_binary_gold(21))
    assert ens.active_policy == "stack"
    ens.save_stacker()
    again = EnsembleLabeler(model=d)
    assert again.active_policy == "stack"
    reports, _, _ = make_reports(20, seed=22)
    assert np.array_equal(ens.predict_proba(reports), again.predict_proba(reports))
    assert again.info().params["stacker_sha256"] == ens.info().params["stacker_sha256"]
    assert EnsembleLabeler(model=d, policy="gate").active_policy == "gate"


def test_ensemble_refuses_stacker_fitted_on_another_classifier(model_dir, tmp_path):
    import shutil

    d = tmp_path / "m"
    shutil.copytree(model_dir, d)
    EnsembleLabeler(model=d).fit(_binary_gold(23)).save_stacker()
    data = json.loads((d / "stacker.json").read_text())
    data["meta"]["classifier_sha256"] = "0" * 64
    (d / "stacker.json").write_text(json.dumps(data))
    with pytest.raises(ModelError, match="another classifier") as exc:
        EnsembleLabeler(model=d)
    assert exc.value.code == "stacker_mismatch"


def test_ensemble_stack_policy_without_stacker_is_refused(model_dir):
    with pytest.raises(ModelError, match="stacker") as exc:
        EnsembleLabeler(model=model_dir, policy="stack")
    assert exc.value.code == "stacker_missing"
