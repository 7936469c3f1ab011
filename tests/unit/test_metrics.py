"""The numeric core: count formulas agree with scikit-learn, bootstrap replicates are real
resamples, intervals are deterministic given the seed, paired tests behave."""

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, precision_recall_fscore_support

from labeler.metrics import (
    BLANK,
    NEGATIVE,
    POSITIVE,
    UNCERTAIN,
    bootstrap_confusions,
    compare_arrays,
    confusion_tables,
    holm,
    kappa_from_confusion,
    mcnemar_exact,
    paired_bootstrap_p,
    prf_from_counts,
    score_arrays,
    task_counts,
)
from labeler.vocab import STATUS_ORDER, AssertionStatus


def noisy(gold, rate, seed, k=4):
    rng = np.random.default_rng(seed)
    flip = rng.random(gold.shape) < rate
    return np.where(flip, rng.integers(0, k, gold.shape), gold)


def test_metrics_codes_follow_status_order():
    assert [STATUS_ORDER[c] for c in (BLANK, POSITIVE, NEGATIVE, UNCERTAIN)] == [
        AssertionStatus.NOT_MENTIONED, AssertionStatus.PRESENT, AssertionStatus.ABSENT, AssertionStatus.UNCERTAIN]


@pytest.mark.parametrize("seed", range(6))
def test_prf_from_counts_equals_sklearn_including_zero_division(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 12))
    g = (rng.random(n) < rng.random()).astype(int)
    p = (rng.random(n) < rng.random()).astype(int)
    tp, fp, fn = int((g & p).sum()), int((~g.astype(bool) & p.astype(bool)).sum()), int((g & (1 - p)).sum())
    ours = prf_from_counts(np.array(tp), np.array(fp), np.array(fn))
    theirs = precision_recall_fscore_support(g, p, average="binary", labels=[0, 1], zero_division=np.nan)[:3]
    np.testing.assert_allclose(np.array(ours, dtype=float), np.array(theirs, dtype=float), equal_nan=True)


@pytest.mark.parametrize("seed", range(6))
def test_kappa_from_confusion_equals_sklearn(seed):
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 4, 40)
    p = noisy(g, 0.4, seed + 100)
    table = confusion_tables(g[:, None], p[:, None], "status")[0]
    assert kappa_from_confusion(table) == pytest.approx(cohen_kappa_score(g, p, labels=[0, 1, 2, 3]))


def test_kappa_undefined_when_both_raters_constant():
    assert np.isnan(kappa_from_confusion(np.array([[5, 0], [0, 0]])))


def test_task_counts_status_tasks():
    g = np.array([[POSITIVE], [POSITIVE], [NEGATIVE], [UNCERTAIN], [BLANK], [POSITIVE]])
    p = np.array([[POSITIVE], [UNCERTAIN], [NEGATIVE], [UNCERTAIN], [POSITIVE], [BLANK]])
    table = confusion_tables(g, p, "status")
    assert [int(x[0]) for x in task_counts(table, "positive")] == [1, 1, 2, 2]
    assert [int(x[0]) for x in task_counts(table, "mention")] == [4, 1, 1, 0]
    assert [int(x[0]) for x in task_counts(table, "blank")] == [0, 1, 1, 4]


def test_task_counts_coded_counts_uncertain_as_coded():
    g = np.array([[1], [1], [0], [0]])
    p = np.array([[UNCERTAIN], [NEGATIVE], [POSITIVE], [BLANK]])
    tp, fp, fn, tn = task_counts(confusion_tables(g, p, "binary"), "coded")
    assert (int(tp[0]), int(fp[0]), int(fn[0]), int(tn[0])) == (1, 1, 1, 1)


def test_bootstrap_replicates_are_confusions_of_row_resamples():
    rng = np.random.default_rng(3)
    g = rng.integers(0, 4, (30, 2))
    p = noisy(g, 0.3, 4)
    reps = bootstrap_confusions(g, [p], "status", n_bootstrap=5, seed=11)
    draws = np.random.default_rng(11).integers(0, 30, size=(5, 30))
    for b in range(5):
        np.testing.assert_array_equal(reps[0, b], confusion_tables(g[draws[b]], p[draws[b]], "status"))


def test_bootstrap_chunking_does_not_change_replicates():
    rng = np.random.default_rng(5)
    g = rng.integers(0, 2, (25, 3))
    p = rng.integers(0, 4, (25, 3))
    whole = bootstrap_confusions(g, [p], "binary", n_bootstrap=12, seed=2)
    chunked = bootstrap_confusions(g, [p], "binary", n_bootstrap=12, seed=2, max_cells=25 * 5)
    np.testing.assert_array_equal(whole, chunked)


def test_score_arrays_same_seed_same_intervals_other_seed_differs():
    rng = np.random.default_rng(0)
    g = rng.integers(0, 4, (200, 3))
    p = noisy(g, 0.3, 1)
    (a,), _ = score_arrays(g, [p], "status", n_bootstrap=200, seed=7)
    (b,), _ = score_arrays(g, [p], "status", n_bootstrap=200, seed=7)
    (c,), _ = score_arrays(g, [p], "status", n_bootstrap=200, seed=8)
    np.testing.assert_array_equal(a.tasks["mention"].ci_f1, b.tasks["mention"].ci_f1)
    assert a.kappa_macro == b.kappa_macro
    assert not np.array_equal(a.tasks["mention"].ci_f1, c.tasks["mention"].ci_f1)


def test_score_arrays_intervals_do_not_depend_on_other_labelers():
    rng = np.random.default_rng(0)
    g = rng.integers(0, 4, (150, 2))
    p, q = noisy(g, 0.2, 1), noisy(g, 0.5, 2)
    (alone,), _ = score_arrays(g, [p], "status", n_bootstrap=100, seed=3)
    (first, _second), _ = score_arrays(g, [p, q], "status", n_bootstrap=100, seed=3)
    np.testing.assert_array_equal(alone.tasks["positive"].ci_f1, first.tasks["positive"].ci_f1)


def test_score_arrays_point_estimates_inside_intervals():
    rng = np.random.default_rng(1)
    g = rng.integers(0, 4, (400, 4))
    p = noisy(g, 0.25, 2)
    (s,), _ = score_arrays(g, [p], "status", n_bootstrap=300, seed=0)
    f1, ci = s.tasks["mention"].f1, s.tasks["mention"].ci_f1
    assert np.all((ci[:, 0] <= f1) & (f1 <= ci[:, 1]))
    assert np.all(ci[:, 1] - ci[:, 0] > 0)


def test_score_arrays_averages_match_sklearn():
    rng = np.random.default_rng(2)
    g = rng.integers(0, 2, (120, 5))
    p = noisy(g, 0.3, 3)
    (s,), _ = score_arrays(g, [p], "binary", n_bootstrap=0)
    coded = np.isin(p, [POSITIVE, UNCERTAIN]).astype(int)
    for avg in ("macro", "micro", "weighted"):
        ours = s.tasks["coded"].averages[avg]
        theirs = precision_recall_fscore_support(g, coded, average=avg, zero_division=np.nan)[:3]
        assert (ours["precision"].value, ours["recall"].value, ours["f1"].value) == pytest.approx(theirs)


def test_score_arrays_without_bootstrap_has_nan_intervals():
    g = np.array([[1], [0]])
    (s,), reps = score_arrays(g, [np.array([[POSITIVE], [BLANK]])], "binary", n_bootstrap=0)
    assert reps.shape == (1, 0, 1, 2, 4)
    assert np.isnan(s.tasks["coded"].ci_f1).all()
    assert s.tasks["coded"].f1[0] == 1.0


@pytest.mark.parametrize("bad", [np.array([[5]]), np.array([[-1]])])
def test_score_arrays_rejects_unknown_codes(bad):
    with pytest.raises(ValueError, match="status codes"):
        score_arrays(np.array([[1]]), [bad], "binary", n_bootstrap=0)


def test_score_arrays_rejects_shape_mismatch():
    with pytest.raises(ValueError, match="shape"):
        score_arrays(np.zeros((3, 2), int), [np.zeros((3, 1), int)], "status", n_bootstrap=0)


def test_paired_bootstrap_p_identical_labelers_is_one():
    assert paired_bootstrap_p(np.zeros(100)) == 1.0


def test_paired_bootstrap_p_all_one_side_is_small():
    assert paired_bootstrap_p(np.full(999, 0.1)) == pytest.approx(2 / 1000)


def test_mcnemar_exact_counts_discordant_pairs():
    ref = np.array([[True], [True], [True], [False], [True]])
    oth = np.array([[False], [False], [True], [True], [True]])
    b, c, p = mcnemar_exact(ref, oth)
    assert (int(b[0]), int(c[0])) == (2, 1)
    assert p[0] == pytest.approx(1.0)  # binomial(2 of 3, 0.5), two-sided


def test_holm_is_monotone_and_capped():
    adj = holm(np.array([0.001, 0.5, np.nan, 0.02]))
    assert adj[0] == pytest.approx(0.003) and adj[3] == pytest.approx(0.04) and adj[1] == pytest.approx(0.5)
    assert np.isnan(adj[2])


def test_compare_arrays_detects_a_worse_labeler():
    rng = np.random.default_rng(0)
    g = rng.integers(0, 4, (600, 2))
    good, bad = noisy(g, 0.05, 1), noisy(g, 0.4, 2)
    scores, reps = score_arrays(g, [good, bad], "status", n_bootstrap=300, seed=0)
    (cmp,) = compare_arrays(g, [good, bad], scores, reps)
    d = cmp.metrics["mention.f1"]
    np.testing.assert_allclose(d.diff, scores[1].tasks["mention"].f1 - scores[0].tasks["mention"].f1)
    assert np.all(d.ci[:, 1] < 0)
    assert np.all(d.p_bootstrap < 0.01)
    assert np.all(cmp.mcnemar_p_holm < 0.001)
    macro, p = d.averages["macro"]
    assert macro.high < 0 and p < 0.01


def test_compare_arrays_identical_labelers_no_difference():
    rng = np.random.default_rng(0)
    g = rng.integers(0, 2, (80, 3))
    p = noisy(g, 0.2, 1)
    scores, reps = score_arrays(g, [p, p.copy()], "binary", n_bootstrap=50, seed=0)
    (cmp,) = compare_arrays(g, [p, p.copy()], scores, reps)
    d = cmp.metrics["coded.f1"]
    assert np.all(d.diff == 0) and np.all(d.p_bootstrap == 1.0)
    assert np.all(cmp.mcnemar_p == 1.0) and np.all(cmp.mcnemar_b == 0)
