"""The noise audit of a corpus: confidences, per-observation estimates, ranking, gold calibration."""

import dataclasses
import json

import numpy as np
import pytest

from labeler import Report
from labeler.errors import ConfigError, DataError
from labeler.noise_audit import (
    REVIEW_COLUMNS,
    NoiseConfig,
    audit_corpus,
    calibrate_on_gold,
    review_rows,
)
from labeler.vocab import AssertionStatus

CLEAN = [
    "FINDINGS: Small right pleural effusion. IMPRESSION: Small right pleural effusion.",
    "FINDINGS: No pleural effusion or pneumothorax. IMPRESSION: No acute disease.",
    "FINDINGS: Heart size is normal. Lungs are clear. IMPRESSION: No acute cardiopulmonary process.",
    "FINDINGS: Moderate left pleural effusion. IMPRESSION: Left pleural effusion, increased.",
    "FINDINGS: Mild cardiomegaly. No edema. IMPRESSION: Mild cardiomegaly.",
]
#: the findings say one thing, the impression the opposite: the signals disagree about effusion
CONTRADICTORY = "FINDINGS: Large right pleural effusion. IMPRESSION: No pleural effusion."
CONFIG = NoiseConfig(n_bootstrap=20, n_splits=3, seed=0)


@pytest.fixture(scope="module")
def audited(rule_labeler):
    reports = [Report(f"r{k}-{i}", t) for k in range(8) for i, t in enumerate(CLEAN)]
    reports.append(Report("odd", CONTRADICTORY))
    audit, results = audit_corpus(reports, rule_labeler, CONFIG)
    return reports, audit, results


def test_audit_confidences_are_probabilities(audited):
    reports, audit, _ = audited
    assert audit.confidence.shape == (len(reports), 14)
    assert ((audit.confidence >= 0) & (audit.confidence <= 1)).all()
    np.testing.assert_allclose(audit.posteriors.sum(axis=2), 1.0)
    assert audit.study_uids == tuple(r.study_uid for r in reports)
    assert audit.signals.signal_names == ("rules.impression", "rules.findings", "negex", "baseline.tfidf")


def test_audit_contradiction_is_less_trusted(audited):
    _, audit, _ = audited
    j = audit.observations.index("pleural_effusion")
    i = audit.study_uids.index("odd")
    assert audit.signals.statuses[i, j] is AssertionStatus.PRESENT
    present = [k for k in range(len(audit.study_uids))
               if k != i and audit.signals.statuses[k, j] is AssertionStatus.PRESENT]
    assert len(present) == 16
    assert audit.confidence[i, j] < audit.confidence[present, j].min()
    order = [k for k, _ in audit.ranked(observations=["pleural_effusion"], top=None)]
    assert all(order.index(i) < order.index(k) for k in present)


def test_audit_per_observation_estimates(audited):
    _, audit, _ = audited
    assert len(audit.per_observation) == 14
    pe = audit.per_observation[audit.observations.index("pleural_effusion")]
    assert pe.name == "Pleural Effusion"
    assert 0.0 < pe.estimate.error_rate < 0.2
    lo, hi = pe.estimate.interval("error_rate")
    assert lo <= pe.estimate.error_rate <= hi
    assert pe.coded.joint.shape == (2, 2)
    assert pe.confident_learning is not None
    assert set(pe.signals) == set(audit.signals.signal_names)
    assert pe.estimate.label_counts.sum() == len(audit.study_uids)


def test_audit_json_has_numbers_not_text(audited):
    _, audit, _ = audited
    doc = audit.to_dict()
    text = json.dumps(doc)
    for t in [*CLEAN, CONTRADICTORY]:
        for sentence in t.split(": ")[1:]:
            assert sentence.split(".")[0] not in text
    ob = doc["observations"][audit.observations.index("pleural_effusion")]
    assert set(ob["estimate"]["p_wrong_given_label"]) == {"negative", "positive", "uncertain"}
    assert ob["estimate"]["error_rate"]["ci"][0] <= ob["estimate"]["error_rate"]["value"]
    assert len(ob["estimate"]["noise_matrix"]["value"]) == 3
    assert doc["n_reports"] == len(audit.study_uids)
    assert doc["labeler"]["ruleset"]["name"] == "chexpert14"


@pytest.mark.parametrize("by", ["label", "observation", "report"])
def test_audit_ranking_orders(audited, by):
    _, audit, _ = audited
    pairs = audit.ranked(by=by, top=5)
    sus = audit.suspicion
    if by == "label":
        assert len(pairs) == 5
        vals = [sus[p] for p in pairs]
        assert vals == sorted(vals, reverse=True)
    elif by == "observation":
        assert len(pairs) == 5 * 14
        assert [j for _, j in pairs] == sorted(j for _, j in pairs)
    else:
        reports = list(dict.fromkeys(i for i, _ in pairs))
        assert len(reports) == 5
        rep = audit.report_suspicion
        assert [rep[i] for i in reports] == sorted((rep[i] for i in reports), reverse=True)
        # each report's rows are together
        assert [i for i, _ in pairs] == sorted((i for i, _ in pairs), key=reports.index)


def test_report_suspicion_leaves_out_derived_no_finding(audited):
    _, audit, _ = audited
    assert audit.derived == ("no_finding",)
    primary = [j for j, o in enumerate(audit.observations) if o != "no_finding"]
    expected = 1.0 - np.prod(1.0 - audit.suspicion[:, primary], axis=1)
    np.testing.assert_allclose(audit.report_suspicion, expected)
    # a request for the derived observation alone still gets a score (nothing else to use)
    nf = audit.observations.index("no_finding")
    np.testing.assert_allclose(audit.report_suspicion_among(["no_finding"]), audit.suspicion[:, nf])


def test_confidence_pools_label_model_and_model_signal(audited):
    _, audit, _ = audited
    from labeler.noise_audit import audit_signals

    plain = audit_signals(audit.signals, audit.names, NoiseConfig(n_bootstrap=0, n_splits=3, seed=0, pool_models=False))
    pooled = audit_signals(audit.signals, audit.names, NoiseConfig(n_bootstrap=0, n_splits=3, seed=0))
    model = audit.signals.pred_probs["baseline.tfidf"]
    np.testing.assert_allclose(pooled.posteriors, (plain.posteriors + model) / 2, atol=1e-9)
    labels = audit.signals.labels
    own = np.take_along_axis(pooled.posteriors, labels[:, :, None], axis=2)[:, :, 0]
    np.testing.assert_allclose(pooled.confidence, np.clip(own, 0, 1))
    # the noise rates are the label model's either way
    assert [o.estimate.error_rate for o in pooled.per_observation] == \
        [o.estimate.error_rate for o in plain.per_observation]


def test_decision_confidence_reads_hedged_findings_as_a_coin_flip_by_default(audited):
    _, audit, _ = audited
    assert audit.config.review == "decision" and audit.config.hedged_coded == 0.5
    post = audit.posteriors
    p_coded = post[:, :, 1] + 0.5 * post[:, :, 2]
    coded = np.isin(audit.signals.labels, (1, 2))
    dc = audit.decision_confidence()
    np.testing.assert_allclose(dc[coded], p_coded[coded])
    np.testing.assert_allclose(dc[~coded], 1.0 - p_coded[~coded])
    # the review ranks by it
    np.testing.assert_allclose(audit.suspicion, 1.0 - dc)


def test_status_review_ranks_by_the_label_confidence(audited):
    _, audit, _ = audited
    status = dataclasses.replace(audit, config=dataclasses.replace(audit.config, review="status"))
    np.testing.assert_allclose(status.suspicion, 1.0 - audit.confidence)
    pairs = status.ranked(top=10)
    vals = [1.0 - audit.confidence[p] for p in pairs]
    assert vals == sorted(vals, reverse=True) and vals[0] == pytest.approx((1.0 - audit.confidence).max())


@pytest.mark.parametrize("bad", [{"review": "vibes"}, {"hedged_coded": 1.5}, {"hedged_coded": -0.1},
                                 {"hedged_coded": float("nan")}])
def test_review_config_is_checked(bad):
    with pytest.raises(ConfigError):
        NoiseConfig(**bad)


def test_decision_confidence_u_ones_is_the_coded_mass(audited):
    _, audit, _ = audited
    audit = dataclasses.replace(audit, config=dataclasses.replace(audit.config, hedged_coded=1.0))
    dc = audit.decision_confidence()
    p_coded = audit.posteriors[:, :, 1] + audit.posteriors[:, :, 2]
    coded = np.isin(audit.signals.labels, (1, 2))
    np.testing.assert_allclose(dc[coded], p_coded[coded])
    np.testing.assert_allclose(dc[~coded], 1.0 - p_coded[~coded])
    negative = audit.signals.labels == 0  # for a negative label the decision is the class
    np.testing.assert_allclose(dc[negative], audit.confidence[negative])


def test_pooled_only_model_joins_the_confidence_but_not_the_label_model(audited, rule_labeler):
    reports, audit, _ = audited
    from labeler.noise_audit import audit_signals, collect_signals

    cfg = NoiseConfig(n_bootstrap=0, n_splits=3, seed=0, models=(), pooled_models=("baseline.tfidf",))
    matrix, _ = collect_signals(reports, rule_labeler, cfg)
    assert matrix.signal_names == ("rules.impression", "rules.findings", "negex")
    assert matrix.L.shape[2] == 3 and set(matrix.pred_probs) == {"baseline.tfidf"}
    pooled = audit_signals(matrix, audit.names, cfg)
    alone = audit_signals(matrix, audit.names, NoiseConfig(n_bootstrap=0, n_splits=3, seed=0, models=(),
                                                           pool_models=False))
    np.testing.assert_allclose(pooled.posteriors,
                               (alone.posteriors + matrix.pred_probs["baseline.tfidf"]) / 2, atol=1e-9)
    # it does not vote, so the label model's noise rates are those of the voters alone
    assert [o.estimate.error_rate for o in pooled.per_observation] == \
        [o.estimate.error_rate for o in alone.per_observation]
    assert all(o.confident_learning is None for o in pooled.per_observation)
    assert cfg.to_dict()["pooled_models"] == ["baseline.tfidf"]


@pytest.mark.parametrize("bad", [{"pooled_models": ("nope",)},
                                 {"models": ("baseline.tfidf",), "pooled_models": ("baseline.tfidf",)},
                                 {"pooled_models": ("baseline.tfidf",), "pool_models": False}])
def test_pooled_models_config_is_checked(bad):
    with pytest.raises(ConfigError):
        NoiseConfig(**bad)


def test_audit_ranking_filters(audited):
    _, audit, _ = audited
    pairs = audit.ranked(min_suspicion=0.2, observations=["pleural_effusion"], top=None)
    j = audit.observations.index("pleural_effusion")
    assert all(jj == j and audit.suspicion[i, j] >= 0.2 for i, jj in pairs)
    with pytest.raises(ConfigError):
        audit.ranked(by="sentence")
    with pytest.raises(ConfigError):
        audit.ranked(observations=["dragons"])


def test_audit_review_rows_carry_evidence(audited):
    reports, audit, results = audited
    j = audit.observations.index("pleural_effusion")
    i = audit.study_uids.index("odd")
    (row,) = review_rows(audit, results, [(i, j)], {r.study_uid: r.text for r in reports})
    assert list(row) == list(REVIEW_COLUMNS)
    assert row["study_uid"] == "odd" and row["observation"] == "Pleural Effusion"
    assert row["label"] == "1" and row["status"] == "present"
    assert row["evidence"] == "Large right pleural effusion."
    assert row["rule_id"].startswith("pleural_effusion.mention.")
    assert "rules.impression=negative" in row["disagreeing_signals"]
    assert row["suspicion"] == pytest.approx(1 - audit.decision_confidence()[i, j], abs=1e-4)
    assert row["confidence"] == pytest.approx(audit.confidence[i, j], abs=1e-4)


def test_audit_calibrate_on_status_gold(audited):
    _, audit, _ = audited
    gold = audit.signals.statuses.copy()
    j = audit.observations.index("pleural_effusion")
    flipped = [0, 5, 10]
    for i in flipped:
        gold[i, j] = AssertionStatus.ABSENT if gold[i, j] is AssertionStatus.PRESENT else AssertionStatus.PRESENT
    cal = calibrate_on_gold(audit, list(audit.study_uids), gold, "status", n_folds=3, min_gold=5)
    assert cal.audit.calibrated
    assert cal.measured["pleural_effusion"].error_rate == pytest.approx(len(flipped) / len(audit.study_uids))
    assert cal.check["pleural_effusion"]["recalibrated"] is True
    assert ((cal.audit.confidence >= 0) & (cal.audit.confidence <= 1)).all()
    assert cal.audit.to_dict()["gold"]["kind"] == "status"
    assert cal.measured["cardiomegaly"].error_rate == 0.0


def test_audit_calibrate_on_binary_gold_keeps_class_confidences(audited):
    _, audit, _ = audited
    coded = np.isin(audit.signals.labels, [1, 2]).astype(int)
    cal = calibrate_on_gold(audit, list(audit.study_uids), coded, "binary", n_folds=3, min_gold=5)
    assert cal.decision_confidence.shape == audit.confidence.shape
    j = audit.observations.index("pleural_effusion")
    assert cal.measured["pleural_effusion"].error_rate == 0.0
    assert cal.check["pleural_effusion"]["measured_error_rate"] == 0.0
    assert ((cal.audit.confidence >= 0) & (cal.audit.confidence <= 1)).all()
    assert np.isfinite(cal.decision_confidence[:, j]).all()
    # the review ranks by the recalibrated decision where there is one, by the label model's elsewhere
    dc = cal.audit.decision_confidence()
    np.testing.assert_allclose(dc[:, j], cal.decision_confidence[:, j])
    # observations without enough gold positives are not rescaled; with no hedged label in the gold,
    # their hedged reading stays the no-convention 1/2, so they keep the label model's values
    not_done = [k for k, o in enumerate(audit.observations) if not cal.check[o]["recalibrated"]]
    assert not_done and all(cal.check[audit.observations[k]]["n_hedged_gold"] == 0 for k in not_done)
    assert all(cal.check[audit.observations[k]]["hedged_coded"] == 0.5 for k in not_done)
    np.testing.assert_allclose(dc[:, not_done], audit.decision_confidence()[:, not_done])
    assert "recalibrated on binary gold" in cal.audit.to_dict()["definition"]["suspicion"]


def test_audit_calibrate_rejects_unknown_ids(audited):
    _, audit, _ = audited
    with pytest.raises(DataError, match="no gold report"):
        calibrate_on_gold(audit, ["nope"], np.zeros((1, 14), dtype=int), "binary")


def test_audit_needs_reports(rule_labeler):
    with pytest.raises(DataError, match="no reports"):
        audit_corpus([], rule_labeler, CONFIG)


def test_audit_config_validates():
    with pytest.raises(ConfigError):
        NoiseConfig(n_splits=1)
    with pytest.raises(ConfigError):
        NoiseConfig(rule_signals=(), models=())


class _Contrarian:
    """A labeler that says the rules' labels except pleural effusion, which it negates on ``flip`` ids."""

    name = "contrarian"
    version = "1"

    def __init__(self, inner, flip):
        self.inner, self.flip = inner, set(flip)
        self.rules = None  # the packaged ruleset, as labelers record it
        self.observations = inner.observations

    def info(self):
        from labeler.labelers.base import LabelerInfo

        return LabelerInfo(self.name, self.version, tuple(self.observations))

    def label(self, reports):
        import dataclasses

        for res in self.inner.label(reports):
            if res.study_uid in self.flip:
                labels = tuple(dataclasses.replace(lab, status=AssertionStatus.ABSENT, evidence=())
                               if lab.observation == "pleural_effusion" else lab for lab in res.labels)
                res = res.replace(labels=labels)
            yield res


def test_audit_of_another_labeler_scores_its_labels_with_the_same_signals(audited, rule_labeler):
    reports, rules_audit, _ = audited
    flip = ["r0-0", "r1-0"]  # "Small right pleural effusion" twice: every signal says present
    other = _Contrarian(rule_labeler, flip)
    audit, results = audit_corpus(reports, rule_labeler, CONFIG, audited=other)
    j = audit.observations.index("pleural_effusion")
    flipped = [audit.study_uids.index(u) for u in flip]
    twins = [audit.study_uids.index(f"r{k}-0") for k in range(2, 8)]
    # the signals and the rules' evidence are the rules'; only the audited labels changed
    np.testing.assert_array_equal(audit.signals.L, rules_audit.signals.L)
    assert all(audit.signals.statuses[i, j] is AssertionStatus.ABSENT for i in flipped)
    assert all(audit.signals.statuses[i, j] is AssertionStatus.PRESENT for i in twins)
    assert all(results[i].label("pleural_effusion").status is AssertionStatus.PRESENT for i in flipped)
    # the negated labels are the ones the audit distrusts, and they head the review list
    assert audit.confidence[flipped, j].max() < 0.5 < audit.confidence[twins, j].min()
    top = [audit.study_uids[i] for i, jj in audit.ranked(by="label", top=2)]
    assert sorted(top) == sorted(flip)
    rows = review_rows(audit, results, audit.ranked(by="label", top=2))
    assert {r["status"] for r in rows} == {"absent"}  # the audited label, not the rules'
    assert audit.provenance["labeler"]["name"] == "contrarian"
    assert audit.provenance["signals_from"]["name"] == "rules"


def test_audit_of_a_labeler_with_other_observations_is_refused(audited, rule_labeler):
    reports, _, _ = audited
    other = _Contrarian(rule_labeler, [])
    other.observations = ("pleural_effusion",)
    with pytest.raises(ConfigError, match="audited labeler labels"):
        audit_corpus(reports, rule_labeler, CONFIG, audited=other)


def test_signal_labelers_pick_the_rules_and_the_audited_labeler(rule_labeler):
    from labeler.labelers.rules import RuleLabeler
    from labeler.noise_audit import signal_labelers

    assert signal_labelers(rule_labeler) == (rule_labeler, None)
    rules, audited = signal_labelers(None)
    assert isinstance(rules, RuleLabeler) and audited is None
    other = _Contrarian(rule_labeler, [])
    other.label_sections = ["impression"]
    rules, audited = signal_labelers(other)
    assert audited is other and isinstance(rules, RuleLabeler)
    assert rules.observations == rule_labeler.observations and rules.label_sections == ["impression"]


HEDGED = "FINDINGS: Possible small left pleural effusion. IMPRESSION: Possible left pleural effusion."


def test_decision_review_puts_hedged_labels_before_clear_ones(rule_labeler):
    texts = CLEAN * 6 + [HEDGED] * 4
    reports = [Report(f"h{i}", t) for i, t in enumerate(texts)]
    audit, _ = audit_corpus(reports, rule_labeler, NoiseConfig(n_bootstrap=0, n_splits=3, seed=0))
    j = audit.observations.index("pleural_effusion")
    status = audit.signals.statuses[:, j]
    hedged = np.flatnonzero(status == AssertionStatus.UNCERTAIN)
    present = np.flatnonzero(status == AssertionStatus.PRESENT)
    assert len(hedged) == 4 and len(present) == 12
    sus = audit.suspicion[:, j]
    # the text does not decide a hedged finding: a coin flip for a reader who must code it or not
    assert sus[hedged].min() > sus[present].max()
    assert 0.3 < sus[hedged].mean() < 0.7
    top = [i for i, _ in audit.ranked(observations=["pleural_effusion"], top=4)]
    assert sorted(top) == sorted(hedged.tolist())
    # a U-ones reader codes them: then they are no more suspect than the signals make them
    u_ones = dataclasses.replace(audit, config=dataclasses.replace(audit.config, hedged_coded=1.0))
    assert (u_ones.suspicion[hedged, j] < sus[hedged]).all()


@pytest.mark.parametrize("hedges_coded", [True, False])
def test_binary_gold_learns_how_its_readers_code_hedged_findings(rule_labeler, hedges_coded):
    texts = CLEAN * 6 + [HEDGED] * 8
    reports = [Report(f"g{i}", t) for i, t in enumerate(texts)]
    audit, _ = audit_corpus(reports, rule_labeler, NoiseConfig(n_bootstrap=0, n_splits=3, seed=0))
    j = audit.observations.index("pleural_effusion")
    hedged = audit.signals.labels[:, j] == 2
    assert hedged.sum() == 8
    gold = np.isin(audit.signals.labels, (1, 2)).astype(int)
    if not hedges_coded:
        gold[hedged, j] = 0
    cal = calibrate_on_gold(audit, list(audit.study_uids), gold, "binary", n_folds=3, min_gold=5)
    check = cal.check["pleural_effusion"]
    assert check["n_hedged_gold"] == 8
    assert check["hedged_coded"] == pytest.approx(0.9 if hedges_coded else 0.1)
    before = audit.suspicion[hedged, j].mean()          # the no-convention reading: about a coin flip
    after = cal.audit.suspicion[hedged, j].mean()
    if hedges_coded:
        assert after < before
    else:
        assert after > before and after > cal.audit.suspicion[~hedged, j].max()
