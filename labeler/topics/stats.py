"""Pure numpy functions over topic proportions ``theta (N, K)``: no reports, no gensim.

* :func:`jensen_shannon` — divergence between two distributions (base 2: in [0, 1]).
* :func:`dominant_topic` — the argmax topic per report (a stratification key).
* :func:`label_topic_lift` — which topics carry which labels, with bootstrap CIs.
* :func:`topic_drift` — how two corpora's topic mixtures differ, against an A-vs-A baseline
  and a permutation test, and which topics moved.

Every function is deterministic for a given ``random_state``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .model import InvalidParameterError

__all__ = [
    "jensen_shannon",
    "js_contributions",
    "dominant_topic",
    "LiftTable",
    "label_topic_lift",
    "TopicShift",
    "DriftResult",
    "topic_drift",
]


def _as_theta(theta: Any, name: str = "theta") -> np.ndarray:
    arr = np.asarray(theta, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise InvalidParameterError(f"{name} must have shape (N, K), got {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise InvalidParameterError(f"{name} must hold finite, non-negative topic proportions")
    return arr


def _as_distribution(p: Any, name: str) -> np.ndarray:
    arr = np.asarray(p, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise InvalidParameterError(f"{name} must be a non-empty 1-d array")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0) or arr.sum() <= 0:
        raise InvalidParameterError(f"{name} must be finite, non-negative and not all zero")
    return arr / arr.sum()


def js_contributions(p: Any, q: Any) -> np.ndarray:
    """Per-component terms of the Jensen–Shannon divergence (bits); they sum to :func:`jensen_shannon`.

    Term ``k`` is ``½ p_k log2(p_k / m_k) + ½ q_k log2(q_k / m_k)`` with ``m = (p + q) / 2``; it is
    non-negative, so it says how much of the divergence component ``k`` accounts for.
    """
    p = _as_distribution(p, "p")
    q = _as_distribution(q, "q")
    if p.shape != q.shape:
        raise InvalidParameterError(f"p and q differ in length: {p.size} vs {q.size}")
    m = 0.5 * (p + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        tp = np.where(p > 0, p * np.log2(p / m), 0.0)
        tq = np.where(q > 0, q * np.log2(q / m), 0.0)
    return np.maximum(0.5 * (tp + tq), 0.0)


def jensen_shannon(p: Any, q: Any) -> float:
    """Jensen–Shannon divergence of two distributions, in bits (0 = identical, 1 = disjoint).

    Inputs are normalised to sum to one.

    >>> jensen_shannon([0.5, 0.5], [0.5, 0.5])
    0.0
    >>> jensen_shannon([1, 0], [0, 1])
    1.0
    """
    return float(min(1.0, js_contributions(p, q).sum()))


def dominant_topic(theta: Any, *, min_weight: float = 0.0, none_value: int = -1) -> np.ndarray:
    """The highest-weight topic of each report, shape ``(N,)`` (ties: the lower topic id).

    Parameters
    ----------
    theta : array-like of shape (N, K)
    min_weight : float, default=0.0
        Reports whose top weight is below this get ``none_value`` (a "mixed" stratum).
    none_value : int, default=-1
        The code of the mixed stratum; pick a value that is not a topic id.

    >>> dominant_topic([[0.2, 0.8], [0.6, 0.4], [0.5, 0.5]]).tolist()
    [1, 0, 0]
    >>> dominant_topic([[0.2, 0.8], [0.55, 0.45]], min_weight=0.6).tolist()
    [1, -1]
    """
    arr = _as_theta(theta)
    if not 0.0 <= min_weight <= 1.0:
        raise InvalidParameterError("min_weight must be in [0, 1]")
    if 0 <= none_value < arr.shape[1]:
        raise InvalidParameterError("none_value must not be a topic id")
    top = arr.argmax(axis=1)
    if min_weight > 0:
        weight = arr.max(axis=1) / np.maximum(arr.sum(axis=1), 1e-300)
        top = np.where(weight >= min_weight, top, none_value)
    return top.astype(np.int64)


def _bootstrap_weights(rng: np.random.Generator, n: int, n_boot: int) -> np.ndarray:
    """``(n_boot, n)`` multinomial resampling counts (each row sums to ``n``)."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)


@dataclass(frozen=True)
class LiftTable:
    """Label–topic lift: ``lift[l, k] = P(label l | topic k) / P(label l)`` with bootstrap CIs.

    With soft topic proportions, ``P(label | topic k)`` is the ``theta[:, k]``-weighted label
    rate, and the lift equals ``P(topic k | label) / P(topic k)``: > 1 means reports with the
    label carry more of topic ``k`` than the corpus does.

    Attributes
    ----------
    labels : tuple of str, shape (L,)
    lift, ci_low, ci_high : ndarray of shape (L, K)
        Point estimate and percentile-bootstrap interval (NaN where undefined, e.g. no positives).
    n_positive : ndarray of shape (L,)
        Reports with the label.
    expected_positive : ndarray of shape (L, K)
        ``sum_i theta[i, k] * y[i, l]``: topic-``k`` mass among the label's reports.
    prevalence : ndarray of shape (K,)
        Mean topic proportions of the reports.
    confidence : float
    n_bootstrap : int
    """

    labels: tuple[str, ...]
    lift: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    n_positive: np.ndarray
    expected_positive: np.ndarray
    prevalence: np.ndarray
    confidence: float
    n_bootstrap: int

    def rows(self, *, min_positive: int = 1, significant_only: bool = False) -> list[dict[str, Any]]:
        """One dict per (label, topic), strongest lift first within a label.

        ``significant`` means the interval excludes 1.
        """
        out: list[dict[str, Any]] = []
        for li, label in enumerate(self.labels):
            if self.n_positive[li] < min_positive:
                continue
            order = np.argsort(-np.nan_to_num(self.lift[li], nan=-np.inf), kind="stable")
            for k in order:
                lo, hi = self.ci_low[li, k], self.ci_high[li, k]
                sig = bool(np.isfinite(lo) and np.isfinite(hi) and (lo > 1.0 or hi < 1.0))
                if significant_only and not sig:
                    continue
                out.append({
                    "label": label,
                    "topic": int(k),
                    "lift": _r(self.lift[li, k]),
                    "ci_low": _r(lo),
                    "ci_high": _r(hi),
                    "significant": sig,
                    "n_positive": int(self.n_positive[li]),
                    "expected_positive": _r(self.expected_positive[li, k], 2),
                    "topic_prevalence": _r(self.prevalence[k]),
                })
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"confidence": self.confidence, "n_bootstrap": self.n_bootstrap,
                "prevalence": [_r(x) for x in self.prevalence], "rows": self.rows()}


def _r(x: float, nd: int = 4) -> float | None:
    return None if not np.isfinite(x) else round(float(x), nd)


def _lift_point(theta_w: np.ndarray, theta_sum: np.ndarray, y_sum: float, n: float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return (theta_w / theta_sum) / (y_sum / n)


def label_topic_lift(
    theta: Any,
    labels: Any,
    label_names: Sequence[str] | None = None,
    *,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    random_state: int = 0,
    min_positive: int = 5,
    block_size: int = 200,
) -> LiftTable:
    """Lift of every topic for every binary label, with percentile-bootstrap confidence intervals.

    Parameters
    ----------
    theta : array-like of shape (N, K)
        Topic proportions (rows sum to one).
    labels : array-like of shape (N, L) or (N,)
        1 / True = the report has the label; 0 / False = it does not. NaN = unknown: the report
        is left out for that label.
    label_names : sequence of str, default=None
        ``label_0 ...`` when not given.
    n_bootstrap : int, default=1000
        Resamples of reports (with replacement). 0 skips the intervals (NaN).
    confidence : float, default=0.95
    random_state : int, default=0
    min_positive : int, default=5
        Labels with fewer reports get no interval (NaN): a bootstrap of one or two positive
        reports says nothing about uncertainty.
    block_size : int, default=200
        Resamples computed at once (memory: ``block_size * N`` floats).

    Returns
    -------
    LiftTable

    Examples
    --------
    >>> theta = [[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.2, 0.8]]
    >>> t = label_topic_lift(theta, [1, 1, 0, 0], ["device"], n_bootstrap=0)
    >>> [round(x, 3) for x in t.lift[0]]
    [1.7, 0.3]
    """
    th = _as_theta(theta)
    y = np.asarray(labels, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[0] != th.shape[0]:
        raise InvalidParameterError(f"labels must have shape (N, L) with N = {th.shape[0]}, got {y.shape}")
    known = np.isfinite(y)
    if np.any((y[known] != 0) & (y[known] != 1)):
        raise InvalidParameterError("labels must be 0/1 (or NaN for unknown)")
    names = tuple(label_names) if label_names is not None else tuple(f"label_{j}" for j in range(y.shape[1]))
    if len(names) != y.shape[1]:
        raise InvalidParameterError(f"{len(names)} label names for {y.shape[1]} label columns")
    if not 0 < confidence < 1:
        raise InvalidParameterError("confidence must be in (0, 1)")
    if n_bootstrap < 0 or block_size < 1 or min_positive < 1:
        raise InvalidParameterError("n_bootstrap must be >= 0, block_size and min_positive >= 1")
    th = th / np.maximum(th.sum(axis=1, keepdims=True), 1e-300)
    n, k = th.shape
    n_labels = y.shape[1]
    lift = np.full((n_labels, k), np.nan)
    lo = np.full((n_labels, k), np.nan)
    hi = np.full((n_labels, k), np.nan)
    expected = np.zeros((n_labels, k))
    n_pos = np.zeros(n_labels, dtype=np.int64)
    alpha = (1.0 - confidence) / 2.0
    rng = np.random.default_rng(random_state)
    for li in range(n_labels):
        mask = known[:, li]
        t, yl = th[mask], y[mask, li]
        n_l = t.shape[0]
        n_pos[li] = int(yl.sum())
        if n_l == 0:
            continue
        tw = t * yl[:, None]
        expected[li] = tw.sum(axis=0)
        if n_pos[li] == 0:
            continue
        lift[li] = _lift_point(expected[li], t.sum(axis=0), yl.sum(), n_l)
        if n_bootstrap == 0 or n_pos[li] < min_positive:
            continue
        boots = []
        for start in range(0, n_bootstrap, block_size):
            w = _bootstrap_weights(rng, n_l, min(block_size, n_bootstrap - start))
            boots.append(_lift_point(w @ tw, w @ t, (w @ yl)[:, None], n_l))
        b = np.concatenate(boots)
        with np.errstate(all="ignore"):
            lo[li] = np.nanquantile(b, alpha, axis=0)
            hi[li] = np.nanquantile(b, 1 - alpha, axis=0)
    return LiftTable(names, lift, lo, hi, n_pos, expected, th.mean(axis=0), confidence, n_bootstrap)


@dataclass(frozen=True)
class TopicShift:
    """One topic's change between corpora A and B (proportions in [0, 1])."""

    topic: int
    share_a: float
    share_b: float
    delta: float
    ci_low: float
    ci_high: float
    js_contribution: float
    moved: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"topic": self.topic, "share_a": _r(self.share_a), "share_b": _r(self.share_b),
                "delta": _r(self.delta), "ci_low": _r(self.ci_low), "ci_high": _r(self.ci_high),
                "js_contribution": _r(self.js_contribution, 5), "moved": self.moved}


@dataclass(frozen=True)
class DriftResult:
    """How corpus B's topic mixture differs from corpus A's.

    Attributes
    ----------
    js : float
        Jensen–Shannon divergence (bits) between the mean topic mixtures of A and B.
    baseline : ndarray of shape (n_baseline,)
        JS between two random halves of A, repeated: the divergence sampling alone produces
        within one corpus. Halves are smaller than A and B, so this baseline is conservative.
    permutation_p : float
        Permutation-test p-value: share of random relabelings of A ∪ B (same sizes) whose JS is
        at least ``js`` (with the +1 correction, never 0).
    shifts : tuple of TopicShift
        Every topic, the largest JS contribution first.
    n_a, n_b : int
    """

    js: float
    baseline: np.ndarray
    permutation_p: float
    permutation_null: np.ndarray
    shifts: tuple[TopicShift, ...]
    n_a: int
    n_b: int
    confidence: float

    @property
    def baseline_q95(self) -> float:
        """95th percentile of the A-vs-A baseline."""
        return float(np.quantile(self.baseline, 0.95)) if self.baseline.size else float("nan")

    @property
    def ratio(self) -> float:
        """``js`` divided by the baseline's 95th percentile (> 1: more than A-vs-A noise)."""
        q = self.baseline_q95
        return float(self.js / q) if q > 0 else float("inf")

    @property
    def moved(self) -> tuple[TopicShift, ...]:
        """Topics whose share changed beyond sampling noise (interval excludes 0, above ``min_shift``)."""
        return tuple(s for s in self.shifts if s.moved)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        base = self.baseline
        return {
            "js": round(self.js, 6),
            "n_a": self.n_a,
            "n_b": self.n_b,
            "baseline_a_vs_a": {
                "n": int(base.size),
                "mean": _r(float(base.mean()) if base.size else float("nan"), 6),
                "q95": _r(self.baseline_q95, 6),
                "max": _r(float(base.max()) if base.size else float("nan"), 6),
            },
            "ratio_to_baseline_q95": _r(self.ratio, 3),
            "permutation_p": _r(self.permutation_p, 6),
            "n_permutations": int(self.permutation_null.size),
            "confidence": self.confidence,
            "moved_topics": [s.topic for s in self.moved],
            "topics": [s.to_dict() for s in self.shifts],
        }


def topic_drift(
    theta_a: Any,
    theta_b: Any,
    *,
    n_baseline: int = 200,
    n_permutations: int = 1000,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    min_shift: float = 0.01,
    random_state: int = 0,
) -> DriftResult:
    """Compare two corpora's topic mixtures: Jensen–Shannon, an A-vs-A baseline, and moved topics.

    Parameters
    ----------
    theta_a : array-like of shape (N_a, K)
        Topic proportions of corpus A (the reference), from the same model as ``theta_b``.
    theta_b : array-like of shape (N_b, K)
    n_baseline : int, default=200
        Random half/half splits of A for the baseline (needs ``N_a >= 4``; else empty).
    n_permutations : int, default=1000
        Relabelings of A ∪ B for the permutation p-value (0: p-value NaN).
    n_bootstrap : int, default=1000
        Resamples (within A and within B) for each topic's share-difference interval.
    confidence : float, default=0.95
        Simultaneous confidence of the K share-difference intervals (Bonferroni: each interval
        is at ``1 - (1 - confidence) / K``), so that "moved" controls the chance of naming any
        topic that did not move.
    min_shift : float, default=0.01
        A topic "moved" when its share changed by at least this much (absolute) and its interval
        excludes 0.
    random_state : int, default=0

    Returns
    -------
    DriftResult

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> a = rng.dirichlet([5, 1, 1], size=200)
    >>> b = rng.dirichlet([1, 1, 5], size=200)
    >>> d = topic_drift(a, b, n_permutations=200, n_bootstrap=200)
    >>> d.js > d.baseline_q95, sorted(s.topic for s in d.moved)
    (True, [0, 2])
    """
    a = _as_theta(theta_a, "theta_a")
    b = _as_theta(theta_b, "theta_b")
    if a.shape[1] != b.shape[1]:
        raise InvalidParameterError(f"theta_a has {a.shape[1]} topics, theta_b {b.shape[1]}")
    if a.shape[0] < 1 or b.shape[0] < 1:
        raise InvalidParameterError("both corpora need at least one report")
    if min(n_baseline, n_permutations, n_bootstrap) < 0:
        raise InvalidParameterError("n_baseline, n_permutations and n_bootstrap must be >= 0")
    if not 0 < confidence < 1:
        raise InvalidParameterError("confidence must be in (0, 1)")
    a = a / np.maximum(a.sum(axis=1, keepdims=True), 1e-300)
    b = b / np.maximum(b.sum(axis=1, keepdims=True), 1e-300)
    rng = np.random.default_rng(random_state)
    n_a, n_b = a.shape[0], b.shape[0]
    ma, mb = a.mean(axis=0), b.mean(axis=0)
    contrib = js_contributions(ma, mb)
    js = float(min(1.0, contrib.sum()))

    baseline = np.empty(0)
    if n_a >= 4 and n_baseline > 0:
        half = n_a // 2
        vals = np.empty(n_baseline)
        for r in range(n_baseline):
            perm = rng.permutation(n_a)
            vals[r] = jensen_shannon(a[perm[:half]].mean(axis=0), a[perm[half:2 * half]].mean(axis=0))
        baseline = vals

    null = np.empty(n_permutations)
    if n_permutations:
        pooled = np.vstack([a, b])
        total = pooled.sum(axis=0)
        for r in range(n_permutations):
            idx = rng.permutation(n_a + n_b)[:n_a]
            sa = pooled[idx].sum(axis=0)
            null[r] = jensen_shannon(sa / n_a, (total - sa) / n_b)
        p_value = float((1 + np.count_nonzero(null >= js - 1e-12)) / (1 + n_permutations))
    else:
        p_value = float("nan")

    alpha = (1.0 - confidence) / (2.0 * a.shape[1])  # Bonferroni: simultaneous over the K topics
    if n_bootstrap:
        deltas = np.empty((n_bootstrap, a.shape[1]))
        for r in range(n_bootstrap):
            deltas[r] = b[rng.integers(0, n_b, n_b)].mean(axis=0) - a[rng.integers(0, n_a, n_a)].mean(axis=0)
        lo, hi = np.quantile(deltas, alpha, axis=0), np.quantile(deltas, 1 - alpha, axis=0)
    else:
        lo = hi = np.full(a.shape[1], np.nan)
    delta = mb - ma
    shifts = []
    for k in range(a.shape[1]):
        excl = bool(np.isfinite(lo[k]) and (lo[k] > 0 or hi[k] < 0))
        shifts.append(TopicShift(k, float(ma[k]), float(mb[k]), float(delta[k]), float(lo[k]), float(hi[k]),
                                 float(contrib[k]), bool(excl and abs(delta[k]) >= min_shift)))
    shifts.sort(key=lambda s: (-s.js_contribution, s.topic))
    return DriftResult(js, baseline, p_value, null, tuple(shifts), n_a, n_b, confidence)
