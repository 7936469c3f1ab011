"""Metric arithmetic on plain integer arrays: CheXpert/CheXbert extraction F1, Cohen's kappa,
bootstrap confidence intervals and paired tests between labelers.

Nothing here knows about reports, labelers or files: the adapters in :mod:`labeler.evaluate`
turn those into arrays. Point estimates come from scikit-learn; bootstrap replicates are
computed from resampled confusion counts with the same formulas (a test checks that both
agree), because calling scikit-learn thousands of times per observation would be too slow.

Encodings
---------
Predictions (and ``status`` gold) are integer status codes, the index of the status in
:data:`labeler.vocab.STATUS_ORDER`, which is also CheXbert's encoding::

    0 = blank (not mentioned), 1 = positive, 2 = negative, 3 = uncertain

``binary`` gold is ``0`` (not coded) / ``1`` (coded).

Tasks (the CheXpert / CheXbert conventions, one-vs-rest over all reports of the gold set)
---------------------------------------------------------------------------------------
``positive`` / ``negative`` / ``uncertain`` / ``blank``
    the class is the positive class, every other status the negative one (CheXbert's
    ``compute_positive_f1``, ``compute_negation_f1``, ``compute_uncertain_f1``, ``compute_blank_f1``);
``mention``
    any non-blank status vs blank (CheXpert's mention extraction, CheXbert's ``compute_mention_f1``);
``coded`` (binary gold only)
    gold coded vs predicted *positive or uncertain* (coders code findings judged present or
    possible, e.g. the IU/Open-i MeSH codes).

Per observation: precision, recall, F1 and support of each task, Cohen's kappa (on the 4x4
status table for status gold, on coded/not coded for binary gold), accuracy, and for status
gold CheXbert's *weighted F1* (positive, negative and uncertain F1 weighted by their gold
support in this gold set). Averages over observations whose task support is at least
``min_support``: macro (mean of per-observation values, undefined values left out), micro
(pooled counts) and support-weighted.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

__all__ = [
    "BLANK",
    "POSITIVE",
    "NEGATIVE",
    "UNCERTAIN",
    "STATUS_TASKS",
    "BINARY_TASKS",
    "AVERAGES",
    "GoldKind",
    "Estimate",
    "TaskScores",
    "ArrayScores",
    "MetricDiff",
    "PairedComparison",
    "prf_from_counts",
    "kappa_from_confusion",
    "task_counts",
    "confusion_tables",
    "bootstrap_confusions",
    "percentile_ci",
    "paired_bootstrap_p",
    "mcnemar_exact",
    "holm",
    "score_arrays",
    "compare_arrays",
    "check_codes",
    "tasks_for",
    "n_gold_classes",
    "agreement_tables",
]

BLANK, POSITIVE, NEGATIVE, UNCERTAIN = 0, 1, 2, 3
N_STATUS = 4
GoldKind = Literal["binary", "status"]

STATUS_TASKS: tuple[str, ...] = ("positive", "negative", "uncertain", "blank", "mention")
BINARY_TASKS: tuple[str, ...] = ("coded",)
AVERAGES: tuple[str, ...] = ("macro", "micro", "weighted")

#: task -> (gold classes counted as the positive class, predicted classes counted as the positive class)
_TASK_CLASSES: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "positive": ((POSITIVE,), (POSITIVE,)),
    "negative": ((NEGATIVE,), (NEGATIVE,)),
    "uncertain": ((UNCERTAIN,), (UNCERTAIN,)),
    "blank": ((BLANK,), (BLANK,)),
    "mention": ((POSITIVE, NEGATIVE, UNCERTAIN), (POSITIVE, NEGATIVE, UNCERTAIN)),
    "coded": ((1,), (POSITIVE, UNCERTAIN)),
}
#: the statuses whose F1 CheXbert's weighted F1 averages
_WEIGHTED_TASKS = ("negative", "uncertain", "positive")


def tasks_for(kind: GoldKind) -> tuple[str, ...]:
    """The tasks scored for a gold kind."""
    return BINARY_TASKS if kind == "binary" else STATUS_TASKS


def n_gold_classes(kind: GoldKind) -> int:
    """2 for binary gold (not coded / coded), 4 for status gold."""
    return 2 if kind == "binary" else N_STATUS


def check_codes(gold: np.ndarray, preds: Sequence[np.ndarray], kind: GoldKind) -> None:
    """Validate shapes and code ranges; raises ``ValueError``."""
    if kind not in ("binary", "status"):
        raise ValueError(f"kind must be 'binary' or 'status', not {kind!r}")
    if gold.ndim != 2:
        raise ValueError(f"gold must be 2-D (N, F), has shape {gold.shape}")
    k = n_gold_classes(kind)
    if gold.size and (gold.min() < 0 or gold.max() >= k):
        raise ValueError(f"{kind} gold codes must lie in 0..{k - 1}")
    for i, p in enumerate(preds):
        if p.shape != gold.shape:
            raise ValueError(f"predictions #{i} have shape {p.shape}, gold {gold.shape}")
        if p.size and (p.min() < 0 or p.max() >= N_STATUS):
            raise ValueError(f"predictions #{i}: status codes must lie in 0..{N_STATUS - 1}")


# ---------------------------------------------------------------------------------------------
# formulas on counts (broadcast over any leading dimensions, e.g. bootstrap replicates)


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def prf_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and F1 from counts; ``nan`` where undefined.

    The same values as scikit-learn's ``precision_recall_fscore_support(..., zero_division=np.nan)``:
    F1 is ``2 tp / (2 tp + fp + fn)``, so it is 0 (not undefined) when there are gold
    positives but no predicted ones, or predicted positives but no gold ones.

    >>> p, r, f = prf_from_counts(np.array([3, 0]), np.array([1, 0]), np.array([1, 2]))
    >>> p.tolist(), r.tolist(), f.tolist()
    ([0.75, nan], [0.75, 0.0], [0.75, 0.0])
    """
    tp = np.asarray(tp, dtype=np.float64)
    fp = np.asarray(fp, dtype=np.float64)
    fn = np.asarray(fn, dtype=np.float64)
    return _safe_div(tp, tp + fp), _safe_div(tp, tp + fn), _safe_div(2 * tp, 2 * tp + fp + fn)


def kappa_from_confusion(confusion: np.ndarray) -> np.ndarray:
    """Cohen's kappa of square confusion tables ``(..., K, K)``; ``nan`` where undefined.

    >>> round(float(kappa_from_confusion(np.array([[20, 5], [10, 15]]))), 6)
    0.4
    """
    c = np.asarray(confusion, dtype=np.float64)
    n = c.sum(axis=(-2, -1))
    po = _safe_div(np.trace(c, axis1=-2, axis2=-1), n)
    pe = _safe_div((c.sum(axis=-1) * c.sum(axis=-2)).sum(axis=-1), n * n)
    return _safe_div(po - pe, 1.0 - pe)


def task_counts(confusion: np.ndarray, task: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``tp, fp, fn, tn`` of ``task`` from gold x predicted tables ``(..., Kg, 4)``."""
    if task not in _TASK_CLASSES:
        raise ValueError(f"unknown task {task!r}")
    gold_cls, pred_cls = _TASK_CLASSES[task]
    kg = confusion.shape[-2]
    g = np.zeros(kg, dtype=bool)
    g[list(gold_cls)] = True
    p = np.zeros(confusion.shape[-1], dtype=bool)
    p[list(pred_cls)] = True
    tp = confusion[..., g, :][..., p].sum(axis=(-2, -1))
    fn = confusion[..., g, :][..., ~p].sum(axis=(-2, -1))
    fp = confusion[..., ~g, :][..., p].sum(axis=(-2, -1))
    tn = confusion[..., ~g, :][..., ~p].sum(axis=(-2, -1))
    return tp, fp, fn, tn


def agreement_tables(confusion: np.ndarray, kind: GoldKind) -> np.ndarray:
    """The square table kappa and accuracy are computed on: 4x4 statuses, or 2x2 coded (binary gold)."""
    if kind == "status":
        return confusion
    tp, fp, fn, tn = task_counts(confusion, "coded")
    return np.stack([np.stack([tn, fp], axis=-1), np.stack([fn, tp], axis=-1)], axis=-2)


def confusion_tables(gold: np.ndarray, pred: np.ndarray, kind: GoldKind) -> np.ndarray:
    """Gold x predicted count tables per observation, shape ``(F, Kg, 4)`` (scikit-learn)."""
    from sklearn.metrics import confusion_matrix

    kg = n_gold_classes(kind)
    out = np.zeros((gold.shape[1], kg, N_STATUS), dtype=np.int64)
    for j in range(gold.shape[1]):
        out[j] = confusion_matrix(gold[:, j], pred[:, j], labels=list(range(N_STATUS)))[:kg]
    return out


# ---------------------------------------------------------------------------------------------
# bootstrap


def _resample_weights(rng: np.random.Generator, b: int, n: int) -> np.ndarray:
    """How often each of ``n`` rows is drawn in each of ``b`` resamples, as int ``(b, n)``."""
    idx = rng.integers(0, n, size=(b, n))
    flat = (idx + (np.arange(b) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=b * n).reshape(b, n)


def _one_hot(codes: np.ndarray, cells: int, dtype: type) -> np.ndarray:
    """``(N, F')`` cell codes as a one-hot ``(N, F' * cells)`` matrix."""
    n, f = codes.shape
    out = np.zeros((n, f * cells), dtype=dtype)
    out[np.arange(n)[:, None], codes + np.arange(f) * cells] = 1
    return out


def bootstrap_confusions(
    gold: np.ndarray,
    preds: Sequence[np.ndarray],
    kind: GoldKind,
    *,
    n_bootstrap: int,
    seed: int,
    max_cells: int = 4_000_000,
    max_cache_bytes: int = 256 * 2**20,
) -> np.ndarray:
    """Confusion tables of ``n_bootstrap`` row resamples, shared by all labelers.

    Every labeler sees the same resamples (what a paired test needs), and the resamples depend
    only on ``seed``, the number of rows and ``n_bootstrap`` (not on which labelers are scored).
    Counts are exact: resample weights times one-hot cell indicators, summed in float32 (exact
    below 2**24 rows) or float64.

    Parameters
    ----------
    gold : ndarray of shape (N, F)
    preds : sequence of L ndarrays of shape (N, F)
    kind : {"binary", "status"}
    n_bootstrap : int
    seed : int
    max_cells : int, default=4_000_000
        Resamples are drawn in chunks of at most ``max_cells / N`` rows of weights.
    max_cache_bytes : int, default=256 MiB
        One-hot indicator matrices are kept across chunks when they fit, else rebuilt per chunk.

    Returns
    -------
    ndarray of shape (L, n_bootstrap, F, Kg, 4)
    """
    check_codes(gold, preds, kind)
    n, f = gold.shape
    kg = n_gold_classes(kind)
    out = np.zeros((len(preds), n_bootstrap, f, kg, N_STATUS), dtype=np.float64)
    if n == 0 or n_bootstrap == 0 or f == 0:
        return out
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_bootstrap, max_cells // n))
    cells = kg * N_STATUS
    dtype = np.float32 if n < 2**24 else np.float64
    itemsize = np.dtype(dtype).itemsize
    block = max(1, min(f, max_cells // (n * cells)))  # observations per one-hot block
    blocks = [(j, min(j + block, f)) for j in range(0, f, block)]
    codes = [gold.astype(np.int64) * N_STATUS + p.astype(np.int64) for p in preds]
    cached = None
    if len(preds) * n * f * cells * itemsize <= max_cache_bytes:
        cached = [[_one_hot(code[:, a:z], cells, dtype) for a, z in blocks] for code in codes]
    for start in range(0, n_bootstrap, chunk):
        b = min(chunk, n_bootstrap - start)
        w = _resample_weights(rng, b, n).astype(dtype)
        for li, code in enumerate(codes):
            for bi, (a, z) in enumerate(blocks):
                x = cached[li][bi] if cached is not None else _one_hot(code[:, a:z], cells, dtype)
                out[li, start:start + b, a:z] = (w @ x).reshape(b, z - a, kg, N_STATUS)
    return np.rint(out)


def percentile_ci(replicates: np.ndarray, confidence: float) -> np.ndarray:
    """Percentile interval over axis 0, ignoring undefined replicates; shape ``(*rest, 2)``."""
    alpha = (1.0 - confidence) / 2.0
    if replicates.shape[0] == 0:
        return np.full((*replicates.shape[1:], 2), np.nan)
    q = [100 * alpha, 100 * (1 - alpha)]
    if not np.isnan(replicates).any():  # the common case, much faster than nanpercentile
        lo, hi = np.percentile(replicates, q, axis=0)
        return np.stack([lo, hi], axis=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-nan slices -> nan
        lo, hi = np.nanpercentile(replicates, q, axis=0)
    return np.stack([lo, hi], axis=-1)


def paired_bootstrap_p(diffs: np.ndarray) -> np.ndarray:
    """Two-sided p-value of "no difference" from bootstrap replicates of a difference (axis 0).

    ``p = min(1, 2 (min(#{d <= 0}, #{d >= 0}) + 1) / (B + 1))`` over the defined replicates:
    the smallest two-sided level at which the percentile interval of the difference excludes 0.
    ``nan`` where no replicate is defined.

    >>> float(paired_bootstrap_p(np.array([0.1, 0.2, 0.05, 0.3])))
    0.4
    """
    d = np.asarray(diffs, dtype=np.float64)
    defined = ~np.isnan(d)
    b = defined.sum(axis=0)
    low = (defined & (d <= 0)).sum(axis=0)
    high = (defined & (d >= 0)).sum(axis=0)
    p = np.minimum(1.0, 2.0 * (np.minimum(low, high) + 1) / (b + 1))
    return np.where(b > 0, p, np.nan)


def mcnemar_exact(ref_correct: np.ndarray, other_correct: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact McNemar test per column on paired correctness ``(N, F)`` booleans.

    Returns ``b`` (reference right, other wrong), ``c`` (reference wrong, other right) and the
    two-sided exact binomial p-value of ``b`` vs ``c`` (1.0 when ``b + c == 0``).
    """
    from scipy.stats import binomtest

    b = (ref_correct & ~other_correct).sum(axis=0)
    c = (~ref_correct & other_correct).sum(axis=0)
    p = np.array([binomtest(int(x), int(x + y), 0.5).pvalue if x + y else 1.0 for x, y in zip(b, c, strict=True)])
    return b.astype(np.int64), c.astype(np.int64), p


def holm(pvalues: np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (``nan`` entries are left out and stay ``nan``).

    >>> holm(np.array([0.01, 0.04, 0.03])).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(adjusted, 1.0)
    return out


# ---------------------------------------------------------------------------------------------
# scores


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its bootstrap interval."""

    value: float
    low: float
    high: float

    def to_dict(self, digits: int = 4) -> dict[str, object]:
        return {"value": _round(self.value, digits), "ci": [_round(self.low, digits), _round(self.high, digits)]}


def _round(x: float, digits: int) -> float | None:
    return None if x is None or np.isnan(x) else round(float(x), digits)


@dataclass(frozen=True)
class TaskScores:
    """One task of one labeler: per-observation counts and metrics, their intervals, averages.

    Arrays have shape ``(F,)``; ``ci_*`` arrays ``(F, 2)``. ``averages[avg][metric]`` with
    ``avg`` in :data:`AVERAGES` and ``metric`` in precision/recall/f1.
    """

    task: str
    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    tn: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    ci_precision: np.ndarray
    ci_recall: np.ndarray
    ci_f1: np.ndarray
    eligible: np.ndarray
    averages: dict[str, dict[str, Estimate]]

    @property
    def support(self) -> np.ndarray:
        """Gold positives of the task per observation."""
        return self.tp + self.fn

    @property
    def n_predicted(self) -> np.ndarray:
        """Predicted positives of the task per observation."""
        return self.tp + self.fp


@dataclass(frozen=True)
class ArrayScores:
    """All scores of one labeler against one gold array."""

    kind: GoldKind
    tasks: dict[str, TaskScores]
    kappa: np.ndarray
    ci_kappa: np.ndarray
    kappa_macro: Estimate
    accuracy: np.ndarray
    ci_accuracy: np.ndarray
    accuracy_macro: Estimate
    weighted_f1: np.ndarray | None
    ci_weighted_f1: np.ndarray | None
    weighted_f1_macro: Estimate | None
    confusion: np.ndarray
    n: int


@dataclass(frozen=True)
class MetricDiff:
    """Paired differences ``other - reference`` of one metric: per observation and averages."""

    diff: np.ndarray
    ci: np.ndarray
    p_bootstrap: np.ndarray
    averages: dict[str, tuple[Estimate, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class PairedComparison:
    """``other`` vs ``reference`` (indices into the labelers), on the same resamples."""

    reference: int
    other: int
    metrics: dict[str, MetricDiff]
    mcnemar_b: np.ndarray
    mcnemar_c: np.ndarray
    mcnemar_p: np.ndarray
    mcnemar_p_holm: np.ndarray


def _macro(values: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    v = values[..., eligible]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(v, axis=-1) if v.shape[-1] else np.full(v.shape[:-1], np.nan)


def _weighted(values: np.ndarray, weights: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    v = values[..., eligible]
    w = np.broadcast_to(weights[..., eligible], v.shape).astype(np.float64)
    w = np.where(np.isnan(v), 0.0, w)
    return _safe_div(np.nansum(v * w, axis=-1), w.sum(axis=-1))


def _task_averages(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, eligible: np.ndarray
                   ) -> dict[str, dict[str, np.ndarray]]:
    """Macro / micro / weighted precision, recall, F1 over eligible observations (last axis)."""
    p, r, f = prf_from_counts(tp, fp, fn)
    support = (tp + fn).astype(np.float64)
    mp, mr, mf = prf_from_counts(tp[..., eligible].sum(-1), fp[..., eligible].sum(-1), fn[..., eligible].sum(-1))
    return {
        "macro": {"precision": _macro(p, eligible), "recall": _macro(r, eligible), "f1": _macro(f, eligible)},
        "micro": {"precision": mp, "recall": mr, "f1": mf},
        "weighted": {"precision": _weighted(p, support, eligible), "recall": _weighted(r, support, eligible),
                     "f1": _weighted(f, support, eligible)},
    }


def _weighted_f1(f1_by_task: dict[str, np.ndarray], support_by_task: dict[str, np.ndarray]) -> np.ndarray:
    """CheXbert's weighted F1: positive/negative/uncertain F1 weighted by gold support."""
    num = sum(np.nan_to_num(f1_by_task[t]) * support_by_task[t] for t in _WEIGHTED_TASKS)
    den = sum(support_by_task[t] for t in _WEIGHTED_TASKS)
    return _safe_div(num, den)


def _sklearn_point(gold: np.ndarray, pred: np.ndarray, kind: GoldKind, task: str
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-observation precision, recall, F1 of a task by scikit-learn (multilabel indicators)."""
    from sklearn.metrics import precision_recall_fscore_support

    gold_cls, pred_cls = _TASK_CLASSES[task]
    g = np.isin(gold, gold_cls).astype(np.int8)
    p = np.isin(pred, pred_cls).astype(np.int8)
    out = np.full((3, g.shape[1]), np.nan)
    if g.shape[0] == 0:
        return out[0], out[1], out[2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined values -> nan, said in the docs
        for j in range(g.shape[1]):
            out[:3, j] = precision_recall_fscore_support(g[:, j], p[:, j], average="binary", pos_label=1,
                                                         labels=[0, 1], zero_division=np.nan)[:3]
    return out[0], out[1], out[2]


def _sklearn_kappa(gold: np.ndarray, pred: np.ndarray, kind: GoldKind) -> np.ndarray:
    from sklearn.metrics import cohen_kappa_score

    if kind == "binary":
        pred = np.isin(pred, _TASK_CLASSES["coded"][1]).astype(np.int64)
        labels = [0, 1]
    else:
        labels = list(range(N_STATUS))
    out = np.full(gold.shape[1], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined kappa -> nan, said in the docs
        for j in range(gold.shape[1]):
            if gold.shape[0]:
                out[j] = cohen_kappa_score(gold[:, j], pred[:, j], labels=labels)
    return out


def score_arrays(
    gold: np.ndarray,
    preds: Sequence[np.ndarray],
    kind: GoldKind,
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    min_support: int = 1,
) -> tuple[list[ArrayScores], np.ndarray]:
    """Score every labeler's status codes against the gold codes, with bootstrap intervals.

    Parameters
    ----------
    gold : ndarray of int, shape (N, F)
        Status codes (``kind="status"``) or 0/1 (``kind="binary"``).
    preds : sequence of L ndarrays of int, shape (N, F)
        Status codes (0 blank, 1 positive, 2 negative, 3 uncertain).
    kind : {"binary", "status"}
    n_bootstrap : int, default=1000
        Row resamples for the intervals (0: no intervals, they are ``nan``).
    seed : int, default=0
        Seed of the resampling; the same seed gives the same intervals.
    confidence : float, default=0.95
    min_support : int, default=1
        An observation enters a task's averages when the task has at least this many gold positives.

    Returns
    -------
    scores : list of ArrayScores, one per labeler
    replicates : ndarray of shape (L, n_bootstrap, F, Kg, 4)
        The resampled confusion tables (input of :func:`compare_arrays`).

    Examples
    --------
    >>> gold = np.array([[1], [1], [0], [0]])
    >>> pred = np.array([[1], [3], [1], [0]])  # positive, uncertain (= coded), positive, blank
    >>> (s,), _ = score_arrays(gold, [pred], "binary", n_bootstrap=0)
    >>> s.tasks["coded"].tp.tolist(), s.tasks["coded"].fp.tolist(), round(float(s.tasks["coded"].f1[0]), 3)
    ([2], [1], 0.8)
    """
    if not 0 < confidence < 1:
        raise ValueError("confidence must lie strictly between 0 and 1")
    if n_bootstrap < 0:
        raise ValueError("n_bootstrap must be >= 0")
    if min_support < 1:
        raise ValueError("min_support must be >= 1")
    gold = np.asarray(gold, dtype=np.int64)
    preds = [np.asarray(p, dtype=np.int64) for p in preds]
    check_codes(gold, preds, kind)
    reps = bootstrap_confusions(gold, preds, kind, n_bootstrap=n_bootstrap, seed=seed)
    out = []
    for li, pred in enumerate(preds):
        out.append(_score_one(gold, pred, kind, reps[li], confidence, min_support))
    return out, reps


def _score_one(gold: np.ndarray, pred: np.ndarray, kind: GoldKind, reps: np.ndarray, confidence: float,
               min_support: int) -> ArrayScores:
    confusion = confusion_tables(gold, pred, kind)
    tasks: dict[str, TaskScores] = {}
    rep_f1: dict[str, np.ndarray] = {}
    rep_support: dict[str, np.ndarray] = {}
    point_f1: dict[str, np.ndarray] = {}
    point_support: dict[str, np.ndarray] = {}
    for task in tasks_for(kind):
        tp, fp, fn, tn = task_counts(confusion, task)
        precision, recall, f1 = _sklearn_point(gold, pred, kind, task)
        eligible = (tp + fn) >= min_support
        rtp, rfp, rfn, _ = task_counts(reps, task)
        rp, rr, rf = prf_from_counts(rtp, rfp, rfn)
        point_avg = _task_averages(tp, fp, fn, eligible)
        rep_avg = _task_averages(rtp, rfp, rfn, eligible)
        averages = {
            avg: {m: Estimate(float(point_avg[avg][m]), *percentile_ci(rep_avg[avg][m], confidence).tolist())
                  for m in ("precision", "recall", "f1")}
            for avg in AVERAGES
        }
        tasks[task] = TaskScores(task, tp, fp, fn, tn, precision, recall, f1, percentile_ci(rp, confidence),
                                 percentile_ci(rr, confidence), percentile_ci(rf, confidence), eligible, averages)
        rep_f1[task], rep_support[task] = rf, (rtp + rfn).astype(np.float64)
        point_f1[task], point_support[task] = f1, (tp + fn).astype(np.float64)

    agree_eligible = tasks["mention" if kind == "status" else "coded"].eligible
    kappa = _sklearn_kappa(gold, pred, kind)
    table = agreement_tables(confusion, kind)
    rep_table = agreement_tables(reps, kind)
    rep_kappa = kappa_from_confusion(rep_table)
    accuracy = _safe_div(np.trace(table, axis1=-2, axis2=-1), table.sum(axis=(-2, -1)))
    rep_accuracy = _safe_div(np.trace(rep_table, axis1=-2, axis2=-1), rep_table.sum(axis=(-2, -1)))
    weighted = ci_weighted = weighted_macro = None
    if kind == "status":
        weighted = _weighted_f1(point_f1, point_support)
        rep_weighted = _weighted_f1(rep_f1, rep_support)
        ci_weighted = percentile_ci(rep_weighted, confidence)
        weighted_macro = Estimate(float(_macro(weighted, agree_eligible)),
                                  *percentile_ci(_macro(rep_weighted, agree_eligible), confidence).tolist())
    return ArrayScores(
        kind=kind,
        tasks=tasks,
        kappa=kappa,
        ci_kappa=percentile_ci(rep_kappa, confidence),
        kappa_macro=Estimate(float(_macro(kappa, agree_eligible)),
                             *percentile_ci(_macro(rep_kappa, agree_eligible), confidence).tolist()),
        accuracy=accuracy,
        ci_accuracy=percentile_ci(rep_accuracy, confidence),
        accuracy_macro=Estimate(float(_macro(accuracy, agree_eligible)),
                                *percentile_ci(_macro(rep_accuracy, agree_eligible), confidence).tolist()),
        weighted_f1=weighted,
        ci_weighted_f1=ci_weighted,
        weighted_f1_macro=weighted_macro,
        confusion=confusion,
        n=int(gold.shape[0]),
    )


def _replicate_metrics(reps: np.ndarray, kind: GoldKind, eligible: dict[str, np.ndarray]
                       ) -> dict[str, tuple[np.ndarray, dict[str, np.ndarray]]]:
    """Per-observation replicate values ``(B, F)`` and averages ``(B,)`` of every comparable metric."""
    out: dict[str, tuple[np.ndarray, dict[str, np.ndarray]]] = {}
    f1s, supports = {}, {}
    for task in tasks_for(kind):
        tp, fp, fn, _ = task_counts(reps, task)
        _, _, f = prf_from_counts(tp, fp, fn)
        avg = _task_averages(tp, fp, fn, eligible[task])
        out[f"{task}.f1"] = (f, {a: avg[a]["f1"] for a in AVERAGES})
        f1s[task], supports[task] = f, (tp + fn).astype(np.float64)
    agree = eligible["mention" if kind == "status" else "coded"]
    table = agreement_tables(reps, kind)
    kappa = kappa_from_confusion(table)
    out["kappa"] = (kappa, {"macro": _macro(kappa, agree)})
    accuracy = _safe_div(np.trace(table, axis1=-2, axis2=-1), table.sum(axis=(-2, -1)))
    out["accuracy"] = (accuracy, {"macro": _macro(accuracy, agree)})
    if kind == "status":
        w = _weighted_f1(f1s, supports)
        out["weighted_f1"] = (w, {"macro": _macro(w, agree)})
    return out


def _point_metrics(s: ArrayScores) -> dict[str, tuple[np.ndarray, dict[str, float]]]:
    out: dict[str, tuple[np.ndarray, dict[str, float]]] = {}
    for task, ts in s.tasks.items():
        out[f"{task}.f1"] = (ts.f1, {a: ts.averages[a]["f1"].value for a in AVERAGES})
    out["kappa"] = (s.kappa, {"macro": s.kappa_macro.value})
    out["accuracy"] = (s.accuracy, {"macro": s.accuracy_macro.value})
    if s.weighted_f1 is not None and s.weighted_f1_macro is not None:
        out["weighted_f1"] = (s.weighted_f1, {"macro": s.weighted_f1_macro.value})
    return out


def compare_arrays(
    gold: np.ndarray,
    preds: Sequence[np.ndarray],
    scores: Sequence[ArrayScores],
    replicates: np.ndarray,
    *,
    reference: int = 0,
    confidence: float = 0.95,
) -> list[PairedComparison]:
    """Paired comparisons of every labeler with ``reference``, on the shared resamples.

    For each metric (every task's F1, kappa, accuracy, and for status gold the weighted F1), per
    observation and for the averages: the difference ``other - reference``, its percentile
    interval and the paired-bootstrap p-value (:func:`paired_bootstrap_p`). Per observation
    also McNemar's exact test on per-report correctness (status equal to the gold status; for
    binary gold, coded equal to gold), with Holm-adjusted p-values across observations.
    Observations entering averages are the reference's eligible ones (the same gold for all).
    """
    kind = scores[reference].kind
    gold = np.asarray(gold, dtype=np.int64)
    eligible = {t: ts.eligible for t, ts in scores[reference].tasks.items()}

    def correct(pred: np.ndarray) -> np.ndarray:
        if kind == "binary":
            return np.isin(pred, _TASK_CLASSES["coded"][1]).astype(np.int64) == gold
        return pred == gold

    ref_reps = _replicate_metrics(replicates[reference], kind, eligible)
    ref_point = _point_metrics(scores[reference])
    out = []
    for li in range(len(preds)):
        if li == reference:
            continue
        other_reps = _replicate_metrics(replicates[li], kind, eligible)
        other_point = _point_metrics(scores[li])
        metrics = {}
        for name, (ref_rep, ref_avg_rep) in ref_reps.items():
            rep_diff = other_reps[name][0] - ref_rep
            averages = {}
            for avg, ref_avg in ref_avg_rep.items():
                d = other_reps[name][1][avg] - ref_avg
                lo, hi = percentile_ci(d, confidence).tolist()
                value = other_point[name][1][avg] - ref_point[name][1][avg]
                averages[avg] = (Estimate(float(value), lo, hi), float(paired_bootstrap_p(d)))
            metrics[name] = MetricDiff(other_point[name][0] - ref_point[name][0], percentile_ci(rep_diff, confidence),
                                       paired_bootstrap_p(rep_diff), averages)
        b, c, p = mcnemar_exact(correct(np.asarray(preds[reference])), correct(np.asarray(preds[li])))
        out.append(PairedComparison(reference, li, metrics, b, c, p, holm(p)))
    return out
