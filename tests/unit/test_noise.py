"""Noise estimators on synthetic labels flipped at known rates (as cleanlab tests its noise matrices)."""

import json

import numpy as np
import pytest

from labeler.noise import (
    NoiseEstimate,
    PlattCalibrator,
    calibration,
    confident_joint,
    dawid_skene,
    estimate_noise,
    excess_agreement,
    find_label_issues,
    joint_from_posteriors,
    label_confidence,
    measured_joint,
    signal_summary,
)
from labeler.vocab import ABSTAIN

#: P(label = i | true = j), columns sum to 1 (cleanlab's convention)
NOISE_MATRIX = np.array([
    [0.92, 0.10, 0.20],
    [0.05, 0.85, 0.15],
    [0.03, 0.05, 0.65],
])
PRIOR = np.array([0.7, 0.2, 0.1])


def flip(truth, noise_matrix, rng):
    """Labels drawn from ``noise_matrix[:, true]`` for every example."""
    cum = noise_matrix.cumsum(axis=0)[:, truth]          # (K, N)
    u = rng.random(len(truth))
    return (u[None, :] > cum).sum(axis=0)


def signal(truth, accuracy, rng, k=3, coverage=1.0):
    """A signal right with probability ``accuracy``, otherwise uniformly wrong, abstaining at random."""
    wrong = (truth + rng.integers(1, k, len(truth))) % k
    votes = np.where(rng.random(len(truth)) < accuracy, truth, wrong)
    return np.where(rng.random(len(truth)) < coverage, votes, ABSTAIN)


@pytest.fixture(scope="module")
def synthetic():
    rng = np.random.default_rng(42)
    n = 20_000
    truth = rng.choice(3, size=n, p=PRIOR)
    labels = flip(truth, NOISE_MATRIX, rng)
    L = np.stack([signal(truth, 0.9, rng), signal(truth, 0.85, rng, coverage=0.6),
                  signal(truth, 0.8, rng), signal(truth, 0.75, rng, coverage=0.8)], axis=1)
    return truth, labels, L


def true_joint(truth, labels, k=3):
    joint = np.zeros((k, k))
    np.add.at(joint, (labels, truth), 1.0)
    return joint / len(truth)


def test_noise_dawid_skene_recovers_signal_accuracies(synthetic):
    truth, _, L = synthetic
    fit = dawid_skene(L, 3)
    np.testing.assert_allclose(fit.accuracies, [0.9, 0.85, 0.8, 0.75], atol=0.02)
    np.testing.assert_allclose(fit.class_priors, PRIOR, atol=0.02)
    np.testing.assert_allclose(fit.coverage, [1.0, 0.6, 1.0, 0.8], atol=0.01)
    assert fit.converged
    assert (fit.posteriors.argmax(axis=1) == truth).mean() > 0.95


def test_noise_dawid_skene_random_init_finds_the_same_solution(synthetic):
    _, _, L = synthetic
    a = dawid_skene(L, 3)
    b = dawid_skene(L, 3, init="random", seed=4)
    np.testing.assert_allclose(b.confusions, a.confusions, atol=0.01)
    with pytest.raises(ValueError, match="init"):
        dawid_skene(L, 3, init="spectral")


def test_noise_dawid_skene_recovers_class_conditional_confusions():
    rng = np.random.default_rng(7)
    n = 30_000
    truth = rng.choice(2, size=n, p=[0.6, 0.4])
    # asymmetric signals: one rarely misses positives but over-calls them, one the other way round
    conf_a = np.array([[0.80, 0.20], [0.02, 0.98]])
    conf_b = np.array([[0.98, 0.02], [0.25, 0.75]])
    conf_c = np.array([[0.90, 0.10], [0.10, 0.90]])
    L = np.stack([flip(truth, c.T, rng) for c in (conf_a, conf_b, conf_c)], axis=1)
    fit = dawid_skene(L, 2)
    for got, want in zip(fit.confusions, (conf_a, conf_b, conf_c)):
        np.testing.assert_allclose(got, want, atol=0.02)


def test_noise_estimate_recovers_flip_matrix_from_signals(synthetic):
    truth, labels, L = synthetic
    est = estimate_noise(labels, L, 3, n_bootstrap=0)
    np.testing.assert_allclose(est.noise_matrix, NOISE_MATRIX, atol=0.03)
    assert est.error_rate == pytest.approx(1 - np.trace(true_joint(truth, labels)), abs=0.01)
    # P(wrong | label) against the realised flips
    realised = NoiseEstimate(true_joint(truth, labels), len(truth), np.bincount(labels, minlength=3))
    np.testing.assert_allclose(est.p_wrong_given_label, realised.p_wrong_given_label, atol=0.03)


def test_noise_confidence_is_calibrated_on_synthetic_flips(synthetic):
    truth, labels, L = synthetic
    est = estimate_noise(labels, L, 3, n_bootstrap=0)
    conf = est.extras["confidence"]
    assert calibration(conf, labels == truth).ece < 0.02


def test_noise_confident_learning_recovers_flip_matrix():
    rng = np.random.default_rng(3)
    n = 20_000
    truth = rng.choice(3, size=n, p=PRIOR)
    labels = flip(truth, NOISE_MATRIX, rng)
    logits = 4.0 * np.eye(3)[truth] + rng.normal(0, 1.0, (n, 3))    # a good model of the true class
    pred_probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    joint = confident_joint(labels, pred_probs)
    est = NoiseEstimate(joint, n, np.bincount(labels, minlength=3))
    np.testing.assert_allclose(est.noise_matrix, NOISE_MATRIX, atol=0.05)
    assert est.error_rate == pytest.approx(1 - np.trace(true_joint(truth, labels)), abs=0.02)


def test_noise_confident_learning_leaves_out_tiny_classes():
    rng = np.random.default_rng(0)
    labels = np.array([0] * 500 + [1] * 500 + [2])
    pred_probs = rng.dirichlet([5, 5, 1], size=len(labels))
    joint = confident_joint(labels, pred_probs, min_class_count=5)
    assert joint[2, 2] == pytest.approx(1 / len(labels))
    assert joint[:, 2].sum() == pytest.approx(1 / len(labels))  # nobody is moved into the tiny class
    assert joint.sum() == pytest.approx(1.0)


def test_noise_find_label_issues_flags_flipped_examples():
    rng = np.random.default_rng(5)
    n = 4000
    truth = rng.choice(2, size=n, p=[0.7, 0.3])
    labels = truth.copy()
    flipped = rng.choice(n, 200, replace=False)
    labels[flipped] = 1 - labels[flipped]
    logits = 4.0 * np.eye(2)[truth] + rng.normal(0, 1.0, (n, 2))
    pred_probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    issues = find_label_issues(labels, pred_probs)
    caught = np.isin(issues.ranked_indices, flipped)
    assert caught.mean() > 0.9
    assert caught.sum() > 150
    assert np.all(np.diff(issues.scores[issues.ranked_indices]) >= 0)  # most suspicious first


def test_noise_label_confidence_and_joint_exact():
    post = np.array([[0.2, 0.8], [0.9, 0.1], [0.6, 0.4]])
    labels = np.array([1, 0, 1])
    np.testing.assert_allclose(label_confidence(labels, post), [0.8, 0.9, 0.4])
    joint = joint_from_posteriors(labels, post)
    np.testing.assert_allclose(joint, [[0.9 / 3, 0.1 / 3], [0.8 / 3, 1.2 / 3]])


def test_noise_estimate_quantities_exact():
    joint = np.array([[0.60, 0.05, 0.05], [0.10, 0.15, 0.00], [0.00, 0.01, 0.04]])
    est = NoiseEstimate(joint, 100, np.array([70, 25, 5]))
    assert est.error_rate == pytest.approx(0.21)
    np.testing.assert_allclose(est.p_wrong_given_label, [0.1 / 0.7, 0.1 / 0.25, 0.01 / 0.05])
    np.testing.assert_allclose(est.recall, [0.6 / 0.7, 0.15 / 0.21, 0.04 / 0.09])
    np.testing.assert_allclose(est.noise_matrix.sum(axis=0), 1.0)
    np.testing.assert_allclose(est.inverse_noise_matrix.sum(axis=0), 1.0)
    assert est.inverse_noise_matrix[0, 1] == pytest.approx(0.10 / 0.25)  # P(true 0 | label 1)
    coded = est.collapse([[0], [1, 2]])
    np.testing.assert_allclose(coded.joint, [[0.60, 0.10], [0.10, 0.20]])
    assert coded.error_rate == pytest.approx(0.20)


def test_noise_estimate_class_never_given_is_nan():
    est = NoiseEstimate(np.array([[0.9, 0.1], [0.0, 0.0]]), 10, np.array([10, 0]))
    assert np.isnan(est.p_wrong_given_label[1])
    assert est.p_wrong_given_label[0] == pytest.approx(0.1)


def test_noise_intervals_cover_estimate_and_are_seeded(synthetic):
    _, labels, L = synthetic
    a = estimate_noise(labels[:3000], L[:3000], 3, n_bootstrap=50, seed=1)
    b = estimate_noise(labels[:3000], L[:3000], 3, n_bootstrap=50, seed=1)
    c = estimate_noise(labels[:3000], L[:3000], 3, n_bootstrap=50, seed=2)
    lo, hi = a.interval("error_rate")
    assert lo < a.error_rate < hi
    assert hi - lo < 0.05
    assert a.interval("error_rate") == b.interval("error_rate")
    assert a.interval("error_rate") != c.interval("error_rate")
    lo_m, hi_m = a.interval("noise_matrix")
    assert lo_m.shape == hi_m.shape == (3, 3)
    assert np.all(lo_m <= hi_m)


def test_noise_estimate_with_pred_probs_adds_confident_learning(synthetic):
    truth, labels, L = synthetic
    rng = np.random.default_rng(0)
    logits = 3.0 * np.eye(3)[truth[:2000]] + rng.normal(0, 1.0, (2000, 3))
    pp = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    est = estimate_noise(labels[:2000], L[:2000], 3, pred_probs=pp, n_bootstrap=10)
    cl = est.extras["confident_learning"]
    assert cl.method == "confident_learning"
    assert cl.samples.shape == (10, 3, 3)
    assert cl.error_rate == pytest.approx(est.error_rate, abs=0.04)


def test_noise_measured_joint_exact_and_bootstrapped():
    labels = np.array([1, 1, 0, 0, 0, 0, 1, 0])
    gold = np.array([1, 0, 0, 0, 1, 0, 1, 0])
    est = measured_joint(labels, gold, 2, n_bootstrap=100, seed=0)
    assert est.error_rate == pytest.approx(2 / 8)
    np.testing.assert_allclose(est.p_wrong_given_label, [1 / 5, 1 / 3])
    lo, hi = est.interval("error_rate")
    assert 0.0 <= lo <= 0.25 <= hi <= 1.0


def test_noise_signal_summary_exact():
    labels = np.array([1, 0, 1, 0])
    L = np.array([[1, ABSTAIN], [1, 0], [1, 1], [0, 0]])
    post = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.9, 0.1]])
    s = signal_summary(labels, L, post)
    np.testing.assert_allclose(s["coverage"], [1.0, 0.75])
    np.testing.assert_allclose(s["agreement"], [0.75, 1.0])
    np.testing.assert_allclose(s["accuracy"], [(0.9 + 0.2 + 0.7 + 0.9) / 4, (0.8 + 0.7 + 0.9) / 3])


def test_noise_excess_agreement_finds_a_duplicated_signal(synthetic):
    truth, _, L = synthetic
    ex = excess_agreement(L, 3)
    assert np.nanmax(np.abs(ex)) < 0.02                      # independent errors: nothing in excess
    dup = np.concatenate([L, L[:, [2]]], axis=1)             # signal 2 twice: its errors are shared
    ex = excess_agreement(dup, 3)
    assert ex[2, 4] > 0.1
    assert ex[2, 4] == np.nanmax(ex)
    assert np.isnan(ex[0, 0])


def test_noise_calibration_exact_bins():
    c = calibration([0.95, 0.95, 0.55, 0.55], [1, 0, 1, 1], n_bins=10)
    assert c.ece == pytest.approx(0.5 * 0.45 + 0.5 * 0.45)
    assert c.bin_count.sum() == 4
    assert c.bin_count[9] == 2 and c.bin_count[5] == 2
    json.dumps(c.table())


def test_noise_calibration_of_calibrated_scores_is_small():
    rng = np.random.default_rng(0)
    conf = rng.uniform(0, 1, 50_000)
    assert calibration(conf, rng.random(50_000) < conf).ece < 0.01


def test_noise_platt_calibrator_fixes_over_confidence():
    rng = np.random.default_rng(1)
    conf = rng.uniform(0.6, 1.0, 5000)
    labels = rng.integers(0, 2, 5000)
    correct = rng.random(5000) < np.where(labels == 1, conf ** 4, conf)   # class 1 much worse than it says
    cal = PlattCalibrator(2).fit(conf, labels, correct)
    after = cal.predict(conf, labels)
    assert calibration(after, correct).ece < 0.02 < calibration(conf, correct).ece


@pytest.mark.parametrize("L,error", [
    (np.array([0, 1, 2]), "shape"),
    (np.array([[0, 3]]), "classes"),
    (np.array([[0.5, 1]]), "integer"),
    (np.zeros((3, 0), dtype=int), "at least one signal"),
])
def test_noise_dawid_skene_rejects_bad_label_matrix(L, error):
    with pytest.raises(ValueError, match=error):
        dawid_skene(L, 3)


@pytest.mark.parametrize("pp,error", [
    (np.array([[0.5, 0.6], [0.5, 0.5]]), "sum to 1"),
    (np.array([[0.5, 0.5]] * 3), "shape"),
    (np.array([[-0.5, 1.5], [0.5, 0.5]]), "non-negative"),
])
def test_noise_confident_joint_rejects_bad_pred_probs(pp, error):
    with pytest.raises(ValueError, match=error):
        confident_joint(np.array([0, 1]), pp)


def test_noise_estimate_rejects_misaligned_labels():
    with pytest.raises(ValueError, match="rows"):
        estimate_noise(np.array([0, 1]), np.array([[0], [1], [0]]), 2)


def test_noise_calibration_rejects_out_of_range():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        calibration([1.2], [1])
