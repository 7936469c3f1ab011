"""Noise estimates on IU/Open-i, estimated without gold, scored against the MeSH codes (issue targets).

The estimator sees the report texts only; the codes score it afterwards. See
``evaluation/noise_iu.py`` for the full report (intervals, reference estimators, gold calibration).
"""

import numpy as np
import pytest

from labeler import Report, RuleLabeler
from labeler.gold import load_iu_mesh_gold
from labeler.noise import calibration
from labeler.noise_audit import NoiseConfig, audit_corpus
from labeler.vocab import CODED_CLASSES

pytestmark = [pytest.mark.corpora, pytest.mark.slow]


@pytest.fixture(scope="module")
def iu(shared_corpora):
    gold = load_iu_mesh_gold(shared_corpora / "iu" / "reports.csv", shared_corpora / "iu" / "mesh_to_chexpert.tsv")
    reports = [Report(u, t) for u, t in zip(gold.study_uids, gold.texts)]
    audit, _ = audit_corpus(reports, RuleLabeler(), NoiseConfig(n_bootstrap=0, seed=0))
    assert audit.study_uids == gold.study_uids
    codes = gold.values[:, [gold.observations.index(n) for n in audit.names]]
    wrong = np.isin(audit.signals.labels, CODED_CLASSES).astype(int) != codes
    eligible = codes.sum(axis=0) >= 10
    return audit, codes, wrong, eligible


def test_noise_iu_error_rates_within_3pp(iu):
    audit, _, wrong, eligible = iu
    assert eligible.sum() == 14
    estimated = np.array([ob.coded.error_rate for ob in audit.per_observation])
    measured = wrong.mean(axis=0)
    within = np.abs(estimated - measured)[eligible] <= 0.03
    assert within.sum() >= 10


def test_noise_iu_confidence_calibration(iu):
    audit, _, wrong, eligible = iu
    ece = calibration(audit.confidence[:, eligible].ravel(), ~wrong[:, eligible].ravel()).ece
    assert ece <= 0.05


def test_noise_iu_review_list_beats_base_rate(iu):
    audit, _, wrong, eligible = iu
    sus = audit.suspicion[:, eligible].ravel()
    w = wrong[:, eligible].ravel()
    top = np.argsort(-sus, kind="stable")[:100]
    assert w[top].mean() >= 5 * w.mean()


def test_noise_iu_report_review_list_beats_5x_base_rate(iu):
    audit, _, wrong, eligible = iu
    rep_wrong = wrong[:, eligible].any(axis=1)
    rep_sus = audit.report_suspicion_among([o for o, e in zip(audit.observations, eligible) if e])
    top = np.argsort(-rep_sus, kind="stable")[:100]
    assert rep_wrong[top].mean() >= 5 * rep_wrong.mean()
