"""Label-noise estimation without (or with) gold: pure functions over numpy arrays.

Vocabulary and shapes follow cleanlab and Snorkel:

* ``labels`` — shape ``(N,)``, int: the labels under audit (classes ``0..K-1``);
* ``pred_probs`` — shape ``(N, K)``: a model's **out-of-fold** class probabilities. Probabilities
  from a model that saw ``labels[i]`` when it was fitted memorise that label and hide its error:
  produce them with cross-validation (:func:`labeler.signals.cross_val_predict_proba`);
* ``L`` — shape ``(N, m)``, int: the label matrix of ``m`` weak signals, :data:`~labeler.vocab.ABSTAIN`
  where a signal says nothing;
* ``joint`` — shape ``(K, K)``: ``joint[i, j] = P(label = i, true label = j)`` (cleanlab's
  ``confident_joint`` normalised); the noise matrix is ``P(label = i | true = j)`` (columns sum
  to 1) and the inverse noise matrix ``P(true = i | label = j)`` (columns sum to 1), as in cleanlab.

Two estimators of the joint, both without gold:

* :func:`dawid_skene` — a label model (Dawid & Skene, 1979): latent true class per example,
  one class-conditional confusion matrix per signal, fitted by EM. Its posteriors give, per
  example, the probability that the audited label is right (:func:`label_confidence`) and,
  summed, the joint (:func:`joint_from_posteriors`). It assumes the signals err independently
  given the true class: correlated signals make it over-confident.
* :func:`confident_joint` — confident learning (Northcutt et al., 2021) through
  ``cleanlab.count.estimate_joint`` on out-of-fold ``pred_probs``.

:func:`estimate_noise` ties them together with bootstrap confidence intervals; every derived
quantity (error rate, ``P(label wrong | label)``, precision, recall, noise matrices) is a
function of the joint, so :class:`NoiseEstimate` computes it — and its interval — from the
joint and the bootstrap joints alike.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> truth = rng.integers(0, 2, 2000)
>>> def noisy(acc):  # a signal right with probability ``acc``
...     return np.where(rng.random(2000) < acc, truth, 1 - truth)
>>> L = np.stack([noisy(0.9), noisy(0.8), noisy(0.85)], axis=1)
>>> fit = dawid_skene(L, 2)
>>> bool((fit.posteriors.argmax(1) == truth).mean() > 0.9)
True
>>> labels = noisy(0.95)                      # the labels under audit: 5% flipped
>>> est = estimate_noise(labels, L, 2, n_bootstrap=50)
>>> bool(abs(est.error_rate - (labels != truth).mean()) < 0.01)
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .metrics import _safe_div, percentile_ci
from .vocab import ABSTAIN

__all__ = [
    "LabelModelFit",
    "NoiseEstimate",
    "LabelIssues",
    "Calibration",
    "dawid_skene",
    "joint_from_posteriors",
    "label_confidence",
    "confident_joint",
    "find_label_issues",
    "estimate_noise",
    "signal_summary",
    "excess_agreement",
    "measured_joint",
    "calibration",
    "PlattCalibrator",
]


# --------------------------------------------------------------------------------------------
# validation (the one place input arrays are checked)


def _check_labels(labels: Any, n_classes: int, *, name: str = "labels", allow_abstain: bool = False) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"{name} must have shape (N,), got {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.equal(np.mod(arr, 1), 0)):
            raise ValueError(f"{name} must hold integer classes")
    arr = arr.astype(np.int64)
    low = ABSTAIN if allow_abstain else 0
    bad = (arr < low) | (arr >= n_classes)
    if allow_abstain:
        bad &= arr != ABSTAIN
    if bad.any():
        raise ValueError(f"{name} must hold classes 0..{n_classes - 1}" + (" or ABSTAIN" if allow_abstain else "")
                         + f"; found {sorted(set(arr[bad].tolist()))[:5]}")
    return arr


def _check_label_matrix(L: Any, n_classes: int) -> np.ndarray:
    arr = np.asarray(L)
    if arr.ndim != 2:
        raise ValueError(f"L must have shape (N, m), got {arr.shape}")
    if arr.shape[1] == 0:
        raise ValueError("L needs at least one signal (column)")
    flat = _check_labels(arr.reshape(-1), n_classes, name="L", allow_abstain=True)
    return flat.reshape(arr.shape)


def _check_pred_probs(pred_probs: Any, n: int, n_classes: int) -> np.ndarray:
    p = np.asarray(pred_probs, dtype=np.float64)
    if p.shape != (n, n_classes):
        raise ValueError(f"pred_probs must have shape {(n, n_classes)}, got {p.shape}")
    if not np.isfinite(p).all() or (p < 0).any():
        raise ValueError("pred_probs must be finite and non-negative")
    sums = p.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-4):
        raise ValueError("pred_probs rows must sum to 1")
    return p / sums[:, None]


def _check_labels_and_pred_probs(labels: Any, pred_probs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Labels ``(N,)`` and out-of-fold probabilities ``(N, K)``, checked against each other."""
    pp = np.asarray(pred_probs, dtype=np.float64)
    if pp.ndim != 2:
        raise ValueError(f"pred_probs must have shape (N, K), got {pp.shape}")
    y = _check_labels(labels, pp.shape[1])
    return y, _check_pred_probs(pp, len(y), pp.shape[1])


def _check_n_classes(n_classes: int) -> int:
    if int(n_classes) != n_classes or n_classes < 2:
        raise ValueError(f"n_classes must be an integer >= 2, got {n_classes!r}")
    return int(n_classes)


# --------------------------------------------------------------------------------------------
# Dawid-Skene label model


@dataclass(frozen=True)
class LabelModelFit:
    """A fitted Dawid–Skene label model.

    Attributes
    ----------
    posteriors : ndarray of shape (N, K)
        ``P(true class | the signals' votes)`` per example.
    class_priors : ndarray of shape (K,)
        Estimated distribution of the true class.
    confusions : ndarray of shape (m, K, K)
        ``confusions[l, k, c] = P(signal l votes c | true class k, signal l votes)``.
    coverage : ndarray of shape (m,)
        Share of examples each signal votes on (does not abstain).
    log_likelihood : float
        Final penalised log-likelihood (per example).
    n_iter : int
    converged : bool
    """

    posteriors: np.ndarray
    class_priors: np.ndarray
    confusions: np.ndarray
    coverage: np.ndarray
    log_likelihood: float
    n_iter: int
    converged: bool

    @property
    def accuracies(self) -> np.ndarray:
        """Estimated accuracy of each signal where it votes, shape (m,): ``sum_k P(k) P(vote k | k)``."""
        diag = np.diagonal(self.confusions, axis1=1, axis2=2)
        return diag @ self.class_priors


def _compress(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique rows, their counts, and the index of each original row's pattern."""
    patterns, inverse, counts = np.unique(rows, axis=0, return_inverse=True, return_counts=True)
    return patterns, counts.astype(np.float64), inverse.reshape(-1)


def _one_hot_votes(patterns: np.ndarray, n_classes: int) -> np.ndarray:
    """(P, m, K) indicator of each pattern's vote per signal (all zero where the signal abstains)."""
    onehot = np.zeros((*patterns.shape, n_classes), dtype=np.float64)
    voted = patterns != ABSTAIN
    p_idx, l_idx = np.nonzero(voted)
    onehot[p_idx, l_idx, patterns[voted]] = 1.0
    return onehot


def _majority_posteriors(onehot: np.ndarray, n_classes: int) -> np.ndarray:
    votes = onehot.sum(axis=1) + 1e-3  # (P, K); the epsilon spreads rows where everyone abstains
    return votes / votes.sum(axis=1, keepdims=True)


def _em(onehot: np.ndarray, weights: np.ndarray, init: np.ndarray, prior: np.ndarray, class_prior_count: float,
        max_iter: int, tol: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, int, bool]:
    """EM on compressed patterns. Returns (posteriors, priors, confusions, loglik, n_iter, converged)."""
    t = init
    n = weights.sum()
    prev = -np.inf
    converged = False
    it = 0
    loglik = -np.inf
    for it in range(1, max_iter + 1):  # noqa: B007 - the count is returned
        wt = t * weights[:, None]                                      # (P, K)
        priors = wt.sum(axis=0) + class_prior_count
        priors = priors / priors.sum()
        counts = np.einsum("pk,plc->lkc", wt, onehot) + prior          # (m, K, K)
        conf = counts / counts.sum(axis=2, keepdims=True)
        log_conf = np.log(conf)
        log_joint = np.log(priors)[None, :] + np.einsum("plc,lkc->pk", onehot, log_conf)
        top = log_joint.max(axis=1, keepdims=True)
        log_norm = top[:, 0] + np.log(np.exp(log_joint - top).sum(axis=1))
        t = np.exp(log_joint - log_norm[:, None])
        loglik = float((weights * log_norm).sum() / n + ((prior - 1) * log_conf).sum() / n)
        if abs(loglik - prev) <= tol * max(1.0, abs(loglik)):
            converged = True
            break
        prev = loglik
    return t, priors, conf, loglik, it, converged


def _ds_prior(n_signals: int, n_classes: int, pseudo_count: float, diagonal_bonus: float) -> np.ndarray:
    prior = np.full((n_signals, n_classes, n_classes), pseudo_count, dtype=np.float64)
    idx = np.arange(n_classes)
    prior[:, idx, idx] += diagonal_bonus
    return prior


def dawid_skene(
    L: Any,
    n_classes: int,
    *,
    max_iter: int = 500,
    tol: float = 1e-7,
    pseudo_count: float = 1.0,
    diagonal_bonus: float = 1.0,
    init: str = "majority",
    seed: int = 0,
) -> LabelModelFit:
    """Fit a Dawid–Skene label model to the label matrix ``L`` by EM.

    Each signal ``l`` has a confusion matrix ``P(vote c | true class k)``; votes are independent
    given the true class; abstentions carry no information. The M-step adds Dirichlet
    pseudo-counts (``pseudo_count`` everywhere, ``+ diagonal_bonus`` on the diagonal: signals are
    assumed better than chance), which keeps rare classes and sparse signals from collapsing to
    0/1 probabilities and fixes the labelling of the latent classes.

    Parameters
    ----------
    L : array-like of shape (N, m)
        Votes in ``0..n_classes-1`` or :data:`~labeler.vocab.ABSTAIN`.
    n_classes : int
    max_iter : int, default=500
    tol : float, default=1e-7
        Stop when the per-example log-likelihood changes by less than ``tol`` (relative).
    pseudo_count, diagonal_bonus : float, default=1.0
        Dirichlet smoothing of the confusion matrices (see above).
    init : {"majority", "random"}, default="majority"
        Initial posteriors: the (soft) majority vote, or random Dirichlet draws seeded by ``seed``.
    seed : int, default=0

    Returns
    -------
    LabelModelFit

    Examples
    --------
    >>> L = np.array([[1, 1, 0], [1, 1, 1], [0, 0, 0], [0, -1, 0], [1, 0, 1]])
    >>> fit = dawid_skene(L, 2)
    >>> fit.posteriors.argmax(axis=1).tolist()
    [1, 1, 0, 0, 1]
    """
    n_classes = _check_n_classes(n_classes)
    L = _check_label_matrix(L, n_classes)
    if L.shape[0] == 0:
        raise ValueError("L has no rows")
    if init not in ("majority", "random"):
        raise ValueError(f"init must be 'majority' or 'random', got {init!r}")
    if pseudo_count <= 0 or diagonal_bonus < 0:
        raise ValueError("pseudo_count must be > 0 and diagonal_bonus >= 0")
    patterns, weights, inverse = _compress(L)
    onehot = _one_hot_votes(patterns, n_classes)
    if init == "majority":
        t0 = _majority_posteriors(onehot, n_classes)
    else:
        t0 = np.random.default_rng(seed).dirichlet(np.ones(n_classes), size=len(patterns))
    prior = _ds_prior(L.shape[1], n_classes, pseudo_count, diagonal_bonus)
    t, priors, conf, loglik, n_iter, converged = _em(onehot, weights, t0, prior, 1.0, max_iter, tol)
    coverage = (L != ABSTAIN).mean(axis=0)
    return LabelModelFit(t[inverse], priors, conf, coverage, loglik, n_iter, converged)


def label_confidence(labels: Any, posteriors: Any) -> np.ndarray:
    """Probability that each label is right: ``posteriors[i, labels[i]]``, shape (N,).

    >>> label_confidence([1, 0], np.array([[0.2, 0.8], [0.3, 0.7]])).tolist()
    [0.8, 0.3]
    """
    post = np.asarray(posteriors, dtype=np.float64)
    if post.ndim != 2:
        raise ValueError(f"posteriors must have shape (N, K), got {post.shape}")
    y = _check_labels(labels, post.shape[1])
    if len(y) != len(post):
        raise ValueError(f"labels has {len(y)} entries, posteriors {len(post)} rows")
    return post[np.arange(len(y)), y]


def joint_from_posteriors(labels: Any, posteriors: Any, weights: Any = None) -> np.ndarray:
    """The estimated joint ``P(label = i, true = j)`` from per-example posteriors, shape (K, K).

    >>> joint_from_posteriors([1, 0], np.array([[0.2, 0.8], [0.9, 0.1]])).round(2).tolist()
    [[0.45, 0.05], [0.1, 0.4]]
    """
    post = np.asarray(posteriors, dtype=np.float64)
    k = post.shape[1]
    y = _check_labels(labels, k)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    joint = np.zeros((k, k), dtype=np.float64)
    np.add.at(joint, y, post * w[:, None])
    total = w.sum()
    return joint / total if total > 0 else joint


# --------------------------------------------------------------------------------------------
# confident learning (cleanlab)


def _present_classes(labels: np.ndarray, n_classes: int, min_count: int = 1) -> np.ndarray:
    return np.flatnonzero(np.bincount(labels, minlength=n_classes) >= max(min_count, 1))


def _sub_problem(y: np.ndarray, pp: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows labeled with a kept class, their labels re-indexed, their probabilities over kept classes."""
    k = pp.shape[1]
    remap = -np.ones(k, dtype=np.int64)
    remap[present] = np.arange(len(present))
    rows = np.flatnonzero(remap[y] >= 0)
    sub = pp[np.ix_(rows, present)]
    sub = sub / np.clip(sub.sum(axis=1, keepdims=True), 1e-12, None)
    return rows, remap[y[rows]], sub


def confident_joint(labels: Any, pred_probs: Any, *, min_class_count: int = 5) -> np.ndarray:
    """Confident-learning estimate of the joint ``P(label = i, true = j)``, shape (K, K).

    ``cleanlab.count.estimate_joint`` on the classes given at least ``min_class_count`` times:
    confident learning thresholds each class at the mean predicted probability of the examples
    carrying it, which a handful of examples cannot estimate (one uncertain label among 3,000
    would make every example with a little uncertain probability "truly uncertain"). Examples of
    the left-out classes are counted as right (their mass is put on the diagonal); a class nobody
    carries gets zero rows and columns. ``pred_probs`` must be out-of-fold.

    >>> y = np.array([0] * 50 + [1] * 50)
    >>> pp = np.where(np.arange(100)[:, None] < 50, [0.9, 0.1], [0.2, 0.8])
    >>> pp[:5] = [0.1, 0.9]                      # five 0-labels the model is sure are 1
    >>> confident_joint(y, pp).round(2).tolist()
    [[0.45, 0.05], [0.0, 0.5]]
    """
    y, pp = _check_labels_and_pred_probs(labels, pred_probs)
    return _confident_joint(y, pp, min_class_count)


def _confident_joint(y: np.ndarray, pp: np.ndarray, min_class_count: int) -> np.ndarray:
    """:func:`confident_joint` on checked arrays (the bootstrap calls it once per resample)."""
    from cleanlab.count import estimate_joint

    k = pp.shape[1]
    counts = np.bincount(y, minlength=k)
    present = _present_classes(y, k, min_class_count)
    joint = np.zeros((k, k), dtype=np.float64)
    if len(y) == 0:
        return joint
    if len(present) < 2:
        np.fill_diagonal(joint, counts / len(y))
        return joint
    rows, sub_y, sub = _sub_problem(y, pp, present)
    sub_joint = estimate_joint(sub_y, sub)
    joint[np.ix_(present, present)] = sub_joint / sub_joint.sum() * (len(rows) / len(y))
    left_out = np.setdiff1d(np.flatnonzero(counts), present)
    joint[left_out, left_out] = counts[left_out] / len(y)
    return joint


@dataclass(frozen=True)
class LabelIssues:
    """Examples whose label is likely wrong.

    Attributes
    ----------
    mask : ndarray of bool, shape (N,)
        True where the label is flagged.
    ranked_indices : ndarray of int
        Flagged examples, most suspicious first.
    scores : ndarray of shape (N,)
        Label quality (higher = more likely right), e.g. ``pred_probs[i, labels[i]]``.
    """

    mask: np.ndarray
    ranked_indices: np.ndarray
    scores: np.ndarray


def find_label_issues(labels: Any, pred_probs: Any, *, min_class_count: int = 5) -> LabelIssues:
    """Confident learning's label issues (``cleanlab.filter.find_label_issues``, prune by noise rate).

    Classes given fewer than ``min_class_count`` times are left out, as in :func:`confident_joint`
    (their examples are never flagged). Scores are the self-confidence ``pred_probs[i, labels[i]]``;
    ``ranked_indices`` orders the flagged examples by it, lowest first.
    """
    from cleanlab.filter import find_label_issues as _cl_find

    y, pp = _check_labels_and_pred_probs(labels, pred_probs)
    k = pp.shape[1]
    scores = pp[np.arange(len(y)), y]
    present = _present_classes(y, k, min_class_count)
    mask = np.zeros(len(y), dtype=bool)
    if len(present) >= 2:
        rows, sub_y, sub = _sub_problem(y, pp, present)
        mask[rows] = np.asarray(_cl_find(sub_y, sub), dtype=bool)
    flagged = np.flatnonzero(mask)
    ranked = flagged[np.argsort(scores[flagged], kind="stable")]
    return LabelIssues(mask, ranked, scores)


# --------------------------------------------------------------------------------------------
# noise estimates


@dataclass(frozen=True)
class NoiseEstimate:
    """An estimated joint distribution of (label, true label) and what follows from it.

    Attributes
    ----------
    joint : ndarray of shape (K, K)
        ``joint[i, j] = P(label = i, true = j)``.
    n_examples : int
    label_counts : ndarray of shape (K,)
        How many examples carry each label.
    samples : ndarray of shape (B, K, K) or None
        Bootstrap replicates of ``joint``, for intervals.
    confidence_level : float
    method : str
    """

    joint: np.ndarray
    n_examples: int
    label_counts: np.ndarray
    samples: np.ndarray | None = None
    confidence_level: float = 0.95
    method: str = ""
    extras: dict[str, Any] = field(default_factory=dict)

    # quantities, each a function of a joint -----------------------------------------------
    @staticmethod
    def _error_rate(j: np.ndarray) -> np.ndarray:
        return 1.0 - np.trace(j, axis1=-2, axis2=-1)

    @staticmethod
    def _p_wrong_given_label(j: np.ndarray) -> np.ndarray:
        row = j.sum(axis=-1)
        return 1.0 - _safe_div(np.diagonal(j, axis1=-2, axis2=-1), row)

    @staticmethod
    def _recall(j: np.ndarray) -> np.ndarray:
        col = j.sum(axis=-2)
        return _safe_div(np.diagonal(j, axis1=-2, axis2=-1), col)

    @staticmethod
    def _noise_matrix(j: np.ndarray) -> np.ndarray:
        return _safe_div(j, j.sum(axis=-2, keepdims=True))

    @staticmethod
    def _inverse_noise_matrix(j: np.ndarray) -> np.ndarray:
        jt = np.swapaxes(j, -1, -2)  # [true, label]
        return _safe_div(jt, jt.sum(axis=-2, keepdims=True))

    @property
    def error_rate(self) -> float:
        """Share of examples whose label is wrong: ``1 - trace(joint)``."""
        return float(self._error_rate(self.joint))

    @property
    def p_wrong_given_label(self) -> np.ndarray:
        """``P(true != k | label = k)`` per class, shape (K,) (NaN for a class nobody is given)."""
        return self._p_wrong_given_label(self.joint)

    @property
    def precision(self) -> np.ndarray:
        """``P(true = k | label = k)``, shape (K,)."""
        return 1.0 - self.p_wrong_given_label

    @property
    def recall(self) -> np.ndarray:
        """``P(label = k | true = k)``, shape (K,)."""
        return self._recall(self.joint)

    @property
    def noise_matrix(self) -> np.ndarray:
        """``P(label = i | true = j)``, shape (K, K), columns sum to 1 (cleanlab's ``noise_matrix``)."""
        return self._noise_matrix(self.joint)

    @property
    def inverse_noise_matrix(self) -> np.ndarray:
        """``P(true = i | label = j)``, shape (K, K), columns sum to 1 (cleanlab's ``inverse_noise_matrix``)."""
        return self._inverse_noise_matrix(self.joint)

    @property
    def true_prior(self) -> np.ndarray:
        """Estimated distribution of the true class, shape (K,)."""
        return self.joint.sum(axis=0)

    def interval(self, quantity: str) -> tuple[np.ndarray, np.ndarray] | None:
        """Percentile bootstrap interval ``(low, high)`` of a quantity, or ``None`` without samples.

        ``quantity`` is one of ``error_rate``, ``p_wrong_given_label``, ``precision``, ``recall``,
        ``noise_matrix``, ``inverse_noise_matrix``, ``true_prior``.
        """
        if self.samples is None or len(self.samples) == 0:
            return None
        fns: dict[str, Callable[[np.ndarray], np.ndarray]] = {
            "error_rate": self._error_rate,
            "p_wrong_given_label": self._p_wrong_given_label,
            "precision": lambda j: 1.0 - self._p_wrong_given_label(j),
            "recall": self._recall,
            "noise_matrix": self._noise_matrix,
            "inverse_noise_matrix": self._inverse_noise_matrix,
            "true_prior": lambda j: j.sum(axis=-2),
        }
        if quantity not in fns:
            raise ValueError(f"unknown quantity {quantity!r}; choose from {sorted(fns)}")
        ci = percentile_ci(fns[quantity](self.samples), self.confidence_level)  # NaN: a class never given
        return ci[..., 0], ci[..., 1]

    def collapse(self, groups: Sequence[Sequence[int]]) -> NoiseEstimate:
        """The estimate over merged classes (e.g. ``[[0], [1, 2]]``: not coded vs coded).

        >>> est = NoiseEstimate(np.array([[.7, .1, 0], [.05, .1, .0], [.0, .01, .04]]), 100, np.array([80, 15, 5]))
        >>> est.collapse([[0], [1, 2]]).joint.round(2).tolist()
        [[0.7, 0.1], [0.05, 0.15]]
        """
        k = self.joint.shape[0]
        m = np.zeros((k, len(groups)))
        for g, members in enumerate(groups):
            m[list(members), g] = 1.0
        if not np.allclose(m.sum(axis=1), 1.0):
            raise ValueError("groups must partition the classes")

        def fold(j: np.ndarray) -> np.ndarray:
            return np.swapaxes(np.swapaxes(j, -1, -2) @ m, -1, -2) @ m

        samples = None if self.samples is None else fold(self.samples)
        return NoiseEstimate(fold(self.joint), self.n_examples, self.label_counts @ m, samples,
                             self.confidence_level, self.method, dict(self.extras))


def _bootstrap_joints(rows: np.ndarray, n_resamples: int, seed: int,
                      joint_of: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """Bootstrap replicates of a joint: multinomial re-weighting of the unique rows of ``rows``."""
    patterns, counts, _ = _compress(rows)
    n = int(counts.sum())
    rng = np.random.default_rng(seed)
    p = counts / n
    out = []
    for _ in range(n_resamples):
        w = rng.multinomial(n, p).astype(np.float64)
        keep = w > 0
        out.append(joint_of(patterns[keep], w[keep], np.flatnonzero(keep)))
    return np.stack(out) if out else np.zeros((0,) + (0, 0))


def estimate_noise(
    labels: Any,
    L: Any,
    n_classes: int,
    *,
    pred_probs: Any = None,
    n_bootstrap: int = 200,
    confidence_level: float = 0.95,
    seed: int = 0,
    min_class_count: int = 5,
    labels_in_model: bool = True,
    **label_model: Any,
) -> NoiseEstimate:
    """Estimate how noisy ``labels`` are from the agreement of the signals in ``L`` (no gold).

    Fits :func:`dawid_skene` to ``L``; the posteriors give per-example confidences
    (``extras["confidence"]``, shape (N,)) and the joint of (label, true label). With
    ``pred_probs`` (out-of-fold), confident learning's joint is computed too
    (``extras["confident_learning"]``, a :class:`NoiseEstimate`). Bootstrap intervals come from
    refitting both on ``n_bootstrap`` resamples of the examples (seeded by ``seed``); the label
    model is warm-started from the full fit.

    With ``labels_in_model=True`` the audited labels are one more voter of the label model, so the
    posteriors are ``P(true | L, label)`` and the joint is consistent when every voter errs
    independently given the true class. Set it to False when ``L`` already carries the labels'
    evidence — e.g. when the labels are a function of some of the signals (the rules' label is
    the aggregate of its section-restricted variants): counting that evidence twice makes the
    model over-confident. The posteriors are then ``P(true | L)``, which does not use the label
    itself: conservative (the label's own reliability is ignored), and unbiased only as the
    signals become decisive.

    Parameters
    ----------
    labels : array-like of shape (N,)
    L : array-like of shape (N, m)
    n_classes : int
    pred_probs : array-like of shape (N, K), default=None
    n_bootstrap : int, default=200
    confidence_level : float, default=0.95
    seed : int, default=0
    min_class_count : int, default=5
        Confident learning leaves out classes given fewer times (see :func:`confident_joint`).
    labels_in_model : bool, default=True
        Whether ``labels`` vote in the label model (see above).
    **label_model
        Passed to :func:`dawid_skene`.

    Returns
    -------
    NoiseEstimate
        ``extras``: ``confidence`` (N,), ``posteriors`` (N, K), ``label_model`` (:class:`LabelModelFit`),
        and ``confident_learning`` when ``pred_probs`` is given.
    """
    n_classes = _check_n_classes(n_classes)
    L = _check_label_matrix(L, n_classes)
    y = _check_labels(labels, n_classes)
    if len(y) != L.shape[0]:
        raise ValueError(f"labels has {len(y)} entries, L {L.shape[0]} rows")
    if not 0 < confidence_level < 1:
        raise ValueError("confidence_level must lie in (0, 1)")
    if n_bootstrap < 0:
        raise ValueError("n_bootstrap must be >= 0")
    L_model = np.concatenate([L, y[:, None]], axis=1) if labels_in_model else L
    fit = dawid_skene(L_model, n_classes, seed=seed, **label_model)
    joint = joint_from_posteriors(y, fit.posteriors)
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)

    max_iter = int(label_model.get("max_iter", 500))
    tol = float(label_model.get("tol", 1e-7))
    prior = _ds_prior(L_model.shape[1], n_classes, float(label_model.get("pseudo_count", 1.0)),
                      float(label_model.get("diagonal_bonus", 1.0)))
    rows = np.concatenate([y[:, None], L_model], axis=1)
    patterns_all, _, inverse_all = _compress(rows)
    post_by_pattern = np.zeros((len(patterns_all), n_classes))
    post_by_pattern[inverse_all] = fit.posteriors

    def ds_joint(patterns: np.ndarray, w: np.ndarray, idx: np.ndarray) -> np.ndarray:
        onehot = _one_hot_votes(patterns[:, 1:], n_classes)
        t, *_ = _em(onehot, w, post_by_pattern[idx], prior, 1.0, max_iter, tol)
        return joint_from_posteriors(patterns[:, 0], t, w)

    samples = _bootstrap_joints(rows, n_bootstrap, seed, ds_joint) if n_bootstrap else None
    extras: dict[str, Any] = {
        "confidence": label_confidence(y, fit.posteriors),
        "posteriors": fit.posteriors,
        "label_model": fit,  # its signals: the columns of L, then the labels when labels_in_model
        "labels_in_model": labels_in_model,
    }
    if pred_probs is not None:
        pp = _check_pred_probs(pred_probs, len(y), n_classes)
        cl_joint = _confident_joint(y, pp, min_class_count)
        cl_samples = None
        if n_bootstrap:
            rng = np.random.default_rng(seed + 1)
            reps = []
            for _ in range(n_bootstrap):
                idx = rng.integers(0, len(y), len(y))
                reps.append(_confident_joint(y[idx], pp[idx], min_class_count))
            cl_samples = np.stack(reps)
        extras["confident_learning"] = NoiseEstimate(cl_joint, len(y), counts, cl_samples, confidence_level,
                                                     "confident_learning")
    return NoiseEstimate(joint, len(y), counts, samples, confidence_level, "dawid_skene", extras)


def signal_summary(labels: Any, L: Any, posteriors: Any) -> dict[str, np.ndarray]:
    """Per-signal coverage, agreement with ``labels`` and estimated accuracy (Snorkel's LF analysis).

    Returns arrays of shape (m,): ``coverage`` (share voting), ``agreement`` (share of the votes
    equal to ``labels``), ``accuracy`` (mean posterior probability of the vote, where voting).

    >>> s = signal_summary([1, 0], np.array([[1, -1], [1, 0]]), np.array([[0.1, 0.9], [0.8, 0.2]]))
    >>> s["coverage"].tolist(), s["agreement"].tolist(), s["accuracy"].round(2).tolist()
    ([1.0, 0.5], [0.5, 1.0], [0.55, 0.8])
    """
    post = np.asarray(posteriors, dtype=np.float64)
    k = post.shape[1]
    L = _check_label_matrix(L, k)
    y = _check_labels(labels, k)
    voted = L != ABSTAIN
    n_votes = voted.sum(axis=0)
    agree = ((L == y[:, None]) & voted).sum(axis=0)
    safe = np.where(voted, L, 0)
    p_vote = np.take_along_axis(post, safe, axis=1) * voted
    return {
        "coverage": voted.mean(axis=0),
        "agreement": _safe_div(agree.astype(np.float64), n_votes.astype(np.float64)),
        "accuracy": _safe_div(p_vote.sum(axis=0), n_votes.astype(np.float64)),
    }


def _fit_confusion(post: np.ndarray, votes: np.ndarray, prior: np.ndarray, n_iter: int = 200,
                   tol: float = 1e-8) -> np.ndarray:
    """MLE (with ``prior`` pseudo-counts) of one signal's confusion matrix ``P(vote c | k)`` when the
    true class has distribution ``post`` (N, K) from the other signals: EM over the latent class."""
    k = post.shape[1]
    onehot = np.eye(k)[votes]                                     # (N, K)
    theta = post.T @ onehot + prior
    theta /= theta.sum(axis=1, keepdims=True)
    for _ in range(n_iter):
        r = post * theta[:, votes].T                              # (N, K): P(k | others, vote)
        r /= np.clip(r.sum(axis=1, keepdims=True), 1e-300, None)
        new = r.T @ onehot + prior
        new /= new.sum(axis=1, keepdims=True)
        if np.abs(new - theta).max() < tol:
            return new
        theta = new
    return theta


def excess_agreement(L: Any, n_classes: int, **label_model: Any) -> np.ndarray:
    """How much more often each pair of signals agrees than independent errors explain, shape (m, m).

    Dawid–Skene assumes the signals err independently given the true class; signals that share
    their errors look more accurate than they are, and the label model becomes over-confident
    (two copies of one signal "define" the truth). The check is a posterior-predictive one that
    the suspect cannot vouch for itself: for each signal ``b``, the label model is refitted
    without ``b``; ``b``'s confusion matrix is fitted by EM against those posteriors (the others
    held fixed), and the two predict the chance that ``b`` repeats signal ``a``'s vote; the entry is the observed share of repeats minus the
    predicted one, over the examples where both vote, averaged over the two directions. Values
    clearly above 0 (say > 0.1) mean shared errors. NaN on the diagonal and for pairs that never
    vote together. It is a diagnostic, not a test: the refit needs at least three other signals
    to be identifiable, and one strongly dependent pair inflates the values of the pairs around it.

    >>> rng = np.random.default_rng(0)
    >>> truth = rng.integers(0, 2, 5000)
    >>> def noisy(acc):
    ...     return np.where(rng.random(5000) < acc, truth, 1 - truth)
    >>> a, b, c, d = noisy(0.8), noisy(0.85), noisy(0.9), noisy(0.75)
    >>> ex = excess_agreement(np.stack([a, b, c, d], axis=1), 2)
    >>> bool(np.nanmax(np.abs(ex)) < 0.03)                          # independent errors
    True
    >>> ex = excess_agreement(np.stack([a, b, c, d, a], axis=1), 2)   # the last column copies the first
    >>> bool(ex[0, 4] > 0.1)
    True
    """
    n_classes = _check_n_classes(n_classes)
    L = _check_label_matrix(L, n_classes)
    n, m = L.shape
    out = np.full((m, m), np.nan)
    if m < 2:
        return out
    prior = _ds_prior(1, n_classes, float(label_model.get("pseudo_count", 1.0)),
                      float(label_model.get("diagonal_bonus", 1.0)))[0]
    directed = np.full((m, m), np.nan)  # directed[a, b]: b repeating a, b left out of the model
    for b in range(m):
        others = [c for c in range(m) if c != b]
        post = dawid_skene(L[:, others], n_classes, **label_model).posteriors
        vb = L[:, b] != ABSTAIN
        theta_b = _fit_confusion(post[vb], L[vb, b], prior)
        for a in others:
            both = vb & (L[:, a] != ABSTAIN)
            if not both.any():
                continue
            predicted = (post[both] @ theta_b)[np.arange(both.sum()), L[both, a]]
            directed[a, b] = float((L[both, a] == L[both, b]).mean() - predicted.mean())
    for a in range(m):
        for b in range(a + 1, m):
            vals = [v for v in (directed[a, b], directed[b, a]) if np.isfinite(v)]
            if vals:
                out[a, b] = out[b, a] = float(np.mean(vals))
    return out


def measured_joint(labels: Any, gold: Any, n_classes: int, *, n_bootstrap: int = 200, confidence_level: float = 0.95,
                   seed: int = 0) -> NoiseEstimate:
    """The joint of (label, gold) counted on a gold set, with bootstrap intervals (the "with gold" answer).

    >>> measured_joint([1, 1, 0, 0], [1, 0, 0, 0], 2, n_bootstrap=0).error_rate
    0.25
    """
    n_classes = _check_n_classes(n_classes)
    y = _check_labels(labels, n_classes)
    g = _check_labels(gold, n_classes, name="gold")
    if len(y) != len(g):
        raise ValueError(f"labels has {len(y)} entries, gold {len(g)}")
    if len(y) == 0:
        raise ValueError("no examples")
    onehot = np.eye(n_classes)[g]
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    rows = np.stack([y, g], axis=1)

    def joint_of(patterns: np.ndarray, w: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return joint_from_posteriors(patterns[:, 0], np.eye(n_classes)[patterns[:, 1]], w)

    samples = _bootstrap_joints(rows, n_bootstrap, seed, joint_of) if n_bootstrap else None
    return NoiseEstimate(joint_from_posteriors(y, onehot), len(y), counts, samples, confidence_level, "gold")


# --------------------------------------------------------------------------------------------
# calibration of confidences


@dataclass(frozen=True)
class Calibration:
    """Reliability of confidences: expected / maximum calibration error and the reliability bins.

    Attributes
    ----------
    ece : float
        ``sum_b (n_b / N) |accuracy_b - confidence_b|``.
    mce : float
        Largest ``|accuracy_b - confidence_b|`` over non-empty bins.
    bin_edges : ndarray of shape (B + 1,)
    bin_confidence, bin_accuracy : ndarray of shape (B,)
        Mean confidence and observed accuracy per bin (NaN where empty).
    bin_count : ndarray of shape (B,)
    """

    ece: float
    mce: float
    bin_edges: np.ndarray
    bin_confidence: np.ndarray
    bin_accuracy: np.ndarray
    bin_count: np.ndarray

    def table(self) -> list[dict[str, Any]]:
        """The bins as plain rows (for JSON)."""
        rows = []
        for b in range(len(self.bin_count)):
            rows.append({
                "low": round(float(self.bin_edges[b]), 4),
                "high": round(float(self.bin_edges[b + 1]), 4),
                "n": int(self.bin_count[b]),
                "confidence": None if self.bin_count[b] == 0 else round(float(self.bin_confidence[b]), 4),
                "accuracy": None if self.bin_count[b] == 0 else round(float(self.bin_accuracy[b]), 4),
            })
        return rows


def calibration(confidence: Any, correct: Any, *, n_bins: int = 10, strategy: str = "uniform") -> Calibration:
    """Expected calibration error of ``confidence`` (probability of being right) against ``correct``.

    ``strategy="uniform"`` uses equal-width bins on [0, 1]; ``"quantile"`` equal-count bins.

    >>> c = calibration([0.9, 0.9, 0.9, 0.9, 0.6, 0.6], [1, 1, 1, 0, 1, 0], n_bins=5)
    >>> round(c.ece, 3)
    0.133
    """
    conf = np.asarray(confidence, dtype=np.float64).reshape(-1)
    ok = np.asarray(correct, dtype=np.float64).reshape(-1)
    if conf.shape != ok.shape:
        raise ValueError(f"confidence has {conf.shape[0]} entries, correct {ok.shape[0]}")
    if conf.size == 0:
        raise ValueError("no confidences")
    if not np.isfinite(conf).all() or (conf < 0).any() or (conf > 1).any():
        raise ValueError("confidences must lie in [0, 1]")
    if n_bins < 1:
        raise ValueError("n_bins must be >= 1")
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    elif strategy == "quantile":
        edges = np.unique(np.quantile(conf, np.linspace(0, 1, n_bins + 1)))
        edges[0], edges[-1] = 0.0, 1.0
    else:
        raise ValueError(f"strategy must be 'uniform' or 'quantile', got {strategy!r}")
    idx = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, len(edges) - 2)
    nb = len(edges) - 1
    count = np.bincount(idx, minlength=nb).astype(np.float64)
    sum_conf = np.bincount(idx, weights=conf, minlength=nb)
    sum_ok = np.bincount(idx, weights=ok, minlength=nb)
    mean_conf = _safe_div(sum_conf, count)
    acc = _safe_div(sum_ok, count)
    gap = np.abs(acc - mean_conf)
    filled = count > 0
    ece = float((count[filled] / count.sum() * gap[filled]).sum())
    mce = float(gap[filled].max())
    return Calibration(ece, mce, edges, mean_conf, acc, count.astype(np.int64))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


@dataclass
class PlattCalibrator:
    """Recalibrate confidences on a gold sample: logistic regression of *correct* on ``logit(confidence)``
    and the label's class (Platt scaling with a per-class offset).

    Parameters
    ----------
    n_classes : int
    C : float, default=1.0
        Inverse L2 strength (scikit-learn's ``C``) on the slope and the class offsets: a small gold
        sample pulls them towards 0, i.e. towards one confidence per class. (A fit that pulls
        towards the identity map instead scored the same on IU: ``evaluation/noise_iu.py``'s
        with-gold section, 300 and 1,504 gold reports.)

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> conf = rng.uniform(0.5, 1.0, 2000)
    >>> correct = rng.random(2000) < conf ** 3          # over-confident scores
    >>> cal = PlattCalibrator(2).fit(conf, np.zeros(2000, int), correct)
    >>> calibration(cal.predict(conf, np.zeros(2000, int)), correct).ece < calibration(conf, correct).ece
    True
    """

    n_classes: int
    C: float = 1.0
    coef_: np.ndarray | None = None
    intercept_: float = 0.0

    def _features(self, confidence: np.ndarray, labels: np.ndarray) -> np.ndarray:
        y = _check_labels(labels, self.n_classes)
        onehot = np.eye(self.n_classes)[y][:, 1:]
        return np.concatenate([_logit(np.asarray(confidence, dtype=np.float64))[:, None], onehot], axis=1)

    def fit(self, confidence: Any, labels: Any, correct: Any) -> PlattCalibrator:
        """Fit on gold: ``confidence`` (N,), the labels' classes (N,), ``correct`` (N,) bool."""
        from sklearn.linear_model import LogisticRegression

        x = self._features(np.asarray(confidence, dtype=np.float64), np.asarray(labels))
        ok = np.asarray(correct, dtype=bool)
        if len(ok) != len(x):
            raise ValueError("confidence, labels and correct must have the same length")
        if ok.all() or not ok.any():
            # one outcome only: shift the intercept towards it, keep the slope
            self.coef_ = np.zeros(x.shape[1])
            self.coef_[0] = 1.0
            rate = (ok.sum() + 0.5) / (len(ok) + 1.0)
            self.intercept_ = float(np.log(rate / (1 - rate)) - np.mean(x[:, 0]))
            return self
        model = LogisticRegression(C=self.C, max_iter=1000)
        model.fit(x, ok)
        self.coef_ = model.coef_[0].copy()
        self.intercept_ = float(model.intercept_[0])
        return self

    def predict(self, confidence: Any, labels: Any) -> np.ndarray:
        """Calibrated probabilities that the labels are right, shape (N,)."""
        if self.coef_ is None:
            raise ValueError("PlattCalibrator is not fitted")
        x = self._features(np.asarray(confidence, dtype=np.float64), np.asarray(labels))
        return 1.0 / (1.0 + np.exp(-(x @ self.coef_ + self.intercept_)))
