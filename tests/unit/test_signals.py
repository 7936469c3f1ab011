"""Weak labelers for the noise audit, label matrices and out-of-fold probabilities."""

import csv

import numpy as np
import pytest

from labeler import Report, RuleLabeler
from labeler.signals import RULE_SIGNALS, RuleSignals, cross_val_predict_proba, label_matrix, proba_votes
from labeler.vocab import (
    ABSTAIN,
    NEGATIVE_CLASS,
    POSITIVE_CLASS,
    STATUS_ORDER,
    UNCERTAIN_CLASS,
    AssertionStatus,
    class_names,
    status_proba_to_class_proba,
    status_to_class,
    statuses_to_classes,
)


@pytest.fixture(scope="module")
def signals(rule_labeler):
    return RuleSignals(rule_labeler, RULE_SIGNALS)


def statuses_of(rule_labeler, signals, text, observation):
    result = rule_labeler.label_one(Report("t", text))
    st = signals.statuses(text, result)
    j = rule_labeler.observations.index(observation)
    return {name: (None if s is None else s.value) for name, s in zip(signals.names, st[:, j])}


def test_signals_section_restricted_read_one_section(rule_labeler, signals):
    got = statuses_of(rule_labeler, signals, "FINDINGS: No pleural effusion. IMPRESSION: Possible small effusion.",
                      "pleural_effusion")
    assert got["rules.impression"] == "uncertain"
    assert got["rules.findings"] == "absent"


def test_signals_section_absent_abstains_everywhere(rule_labeler, signals):
    result = rule_labeler.label_one(Report("t", "IMPRESSION: Small left pleural effusion."))
    st = signals.statuses("IMPRESSION: Small left pleural effusion.", result)
    assert all(v is None for v in st[signals.names.index("rules.findings")])
    assert st[signals.names.index("rules.impression"), rule_labeler.observations.index("no_finding")] is \
        AssertionStatus.NOT_MENTIONED


def test_signals_keyword_ignores_negation_but_keeps_phrase_statuses(rule_labeler, signals):
    text = "FINDINGS: No pneumothorax. Normal heart size."
    assert statuses_of(rule_labeler, signals, text, "pneumothorax")["keyword"] == "present"
    assert statuses_of(rule_labeler, signals, text, "cardiomegaly")["keyword"] == "absent"


@pytest.mark.parametrize("text,expected", [
    ("FINDINGS: No pneumothorax.", "absent"),                                   # trigger inside the window
    ("FINDINGS: No focal consolidation, mass, nodule, or large pneumothorax.", "present"),  # 6 words away
    ("FINDINGS: Pneumothorax is not seen.", "absent"),                          # backward trigger
    ("FINDINGS: Possible small pneumothorax.", "uncertain"),
    ("FINDINGS: Evaluate for pneumothorax.", "not_mentioned"),                  # hypothetical: not counted
])
def test_signals_negex_uses_a_fixed_word_window(rule_labeler, signals, text, expected):
    assert statuses_of(rule_labeler, signals, text, "pneumothorax")["negex"] == expected


def test_signals_section_variants_match_a_section_restricted_rule_labeler(sample_csv, rule_labeler, signals):
    with open(sample_csv, encoding="utf-8", newline="") as fh:
        reports = [Report(r["study_uid"], r["text"]) for r in csv.DictReader(fh)]
    only = RuleLabeler(label_sections=["impression"])
    s = signals.names.index("rules.impression")
    compared = 0
    for rep, res, ref in zip(reports, rule_labeler.label(reports), only.label(reports)):
        st = signals.statuses(rep.text, res)[s]
        if st[0] is None:  # no impression section: the signal abstains
            continue
        assert list(st) == [ref.label(o).status for o in rule_labeler.observations], rep.study_uid
        compared += 1
    assert compared >= 40


def test_signals_classes_abstain_semantics(rule_labeler, signals):
    text = "FINDINGS: No pleural effusion. IMPRESSION: Possible small effusion."
    st = signals.statuses(text, rule_labeler.label_one(Report("t", text)))
    cls = signals.classes(st[None])                          # (1, F, m)
    j = rule_labeler.observations.index("pneumothorax")      # mentioned nowhere
    by_name = dict(zip(signals.names, cls[0, j]))
    assert by_name["rules.impression"] == ABSTAIN and by_name["rules.findings"] == ABSTAIN
    assert by_name["keyword"] == NEGATIVE_CLASS and by_name["negex"] == NEGATIVE_CLASS


def test_signals_rejects_unknown_signal(rule_labeler):
    with pytest.raises(ValueError, match="unknown rule signal"):
        RuleSignals(rule_labeler, ["rules.history"])


def test_signals_failed_result_abstains(rule_labeler, signals):
    from labeler.records import ReportResult

    failed = ReportResult("x", rule_labeler.provenance, errors=("labeling_failed: RuntimeError",))
    assert all(v is None for v in signals.statuses("text", failed).ravel())


class _Memoriser:
    """Predicts 'present' for reports it was trained on and 'absent' for the others."""

    observations = ("a", "b")

    def fit(self, reports, labels=None):
        self.seen_ = {r.study_uid for r in reports}
        self.labels_ = labels
        return self

    def predict_proba(self, reports):
        out = np.zeros((len(reports), 2, len(STATUS_ORDER)))
        for i, r in enumerate(reports):
            k = STATUS_ORDER.index(AssertionStatus.PRESENT if r.study_uid in self.seen_ else AssertionStatus.ABSENT)
            out[i, :, k] = 1.0
        return out


def test_signals_cross_val_predicts_every_report_out_of_fold():
    reports = [Report(str(i), "x") for i in range(23)]
    proba = cross_val_predict_proba(_Memoriser, reports, n_splits=4, seed=0)
    assert proba.shape == (23, 2, 4)
    assert (proba[:, :, STATUS_ORDER.index(AssertionStatus.ABSENT)] == 1.0).all()


def test_signals_cross_val_passes_fold_labels_and_is_seeded():
    reports = [Report(str(i), "x") for i in range(10)]
    labels = np.arange(10)[:, None].repeat(2, axis=1)
    fitted = []

    def factory():
        m = _Memoriser()
        fitted.append(m)
        return m

    cross_val_predict_proba(factory, reports, labels=labels, n_splits=5, seed=3)
    for m in fitted:
        assert sorted(m.labels_[:, 0].tolist()) == sorted(int(u) for u in m.seen_)
    first = [sorted(m.seen_) for m in fitted]
    fitted.clear()
    cross_val_predict_proba(factory, reports, labels=labels, n_splits=5, seed=3)
    assert [sorted(m.seen_) for m in fitted] == first


def test_signals_cross_val_needs_enough_reports():
    with pytest.raises(ValueError, match="at least n_splits"):
        cross_val_predict_proba(_Memoriser, [Report("1", "x")], n_splits=2)


def test_signals_proba_votes_and_label_matrix():
    p = np.zeros((2, 1, 4))
    p[0, 0] = [0.5, 0.1, 0.1, 0.3]      # not mentioned + absent = 0.6 negative
    cls, votes = proba_votes(p)
    np.testing.assert_allclose(cls[0, 0], [0.6, 0.1, 0.3])
    assert votes[0, 0] == NEGATIVE_CLASS
    assert votes[1, 0] == ABSTAIN                    # no prediction at all
    np.testing.assert_allclose(cls[1, 0], [1 / 3] * 3)
    L = label_matrix([votes, np.array([[POSITIVE_CLASS], [UNCERTAIN_CLASS]])])
    assert L.shape == (2, 1, 2)
    assert L[1, 0].tolist() == [ABSTAIN, UNCERTAIN_CLASS]


@pytest.mark.parametrize("status,cls", [("present", 1), ("absent", 0), ("not_mentioned", 0), ("uncertain", 2),
                                        (None, ABSTAIN)])
def test_vocab_status_to_class(status, cls):
    assert status_to_class(status) == cls


def test_vocab_converters_round_out():
    arr = statuses_to_classes(np.array([[AssertionStatus.PRESENT, None], ["not_mentioned", "absent"]], dtype=object),
                              abstain_not_mentioned=True)
    assert arr.tolist() == [[1, ABSTAIN], [ABSTAIN, 0]]
    assert class_names([2, -1]) == ["uncertain", "abstain"]
    with pytest.raises(ValueError):
        class_names([3])
    np.testing.assert_allclose(status_proba_to_class_proba(np.eye(4)), [[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 1]])
    with pytest.raises(ValueError):
        status_proba_to_class_proba(np.ones(3))
