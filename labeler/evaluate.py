"""Scoring labelers against gold sets (metric arithmetic by scikit-learn).

This module works on arrays and :class:`~labeler.gold.GoldSet`; report objects stop at the
adapters. ``binary`` gold (coded / not coded, e.g. IU MeSH) is compared with predictions where
*positive or uncertain* counts as coded, the convention of that kind of gold.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import precision_recall_fscore_support

from .gold import AssertionItem, GoldSet
from .vocab import AssertionStatus

__all__ = [
    "BinaryScores",
    "score_binary",
    "AssertionScores",
    "find_target",
    "score_assertions",
    "predict_gold_statuses",
    "assert_items",
]


@dataclass(frozen=True)
class BinaryScores:
    """Per-observation precision/recall/F1/support and their macro average over eligible observations."""

    observations: tuple[str, ...]
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray
    n_predicted: np.ndarray
    min_support: int

    @property
    def eligible(self) -> np.ndarray:
        """Mask of observations with at least ``min_support`` gold positives."""
        return self.support >= self.min_support

    @property
    def macro_f1(self) -> float:
        return float(self.f1[self.eligible].mean()) if self.eligible.any() else float("nan")

    def table(self) -> list[dict[str, object]]:
        return [
            {"observation": o, "precision": round(float(p), 4), "recall": round(float(r), 4), "f1": round(float(f), 4),
             "support": int(s), "predicted": int(n), "eligible": bool(e)}
            for o, p, r, f, s, n, e in zip(self.observations, self.precision, self.recall, self.f1, self.support,
                                           self.n_predicted, self.eligible)
        ]


def score_binary(gold: GoldSet, predicted: np.ndarray, *, min_support: int = 10) -> BinaryScores:
    """Score predicted statuses ``(N, F)`` (``AssertionStatus`` objects, gold order) against binary gold.

    Positive or uncertain predictions count as coded.
    """
    if gold.kind != "binary":
        raise ValueError("score_binary needs binary gold")
    if predicted.shape != gold.values.shape:
        raise ValueError(f"predictions have shape {predicted.shape}, gold {gold.values.shape}")
    coded = np.isin(predicted, [AssertionStatus.PRESENT, AssertionStatus.UNCERTAIN]).astype(int)
    f = len(gold.observations)
    p = np.zeros(f)
    r = np.zeros(f)
    f1 = np.zeros(f)
    for j in range(f):
        p[j], r[j], f1[j], _ = precision_recall_fscore_support(
            gold.values[:, j], coded[:, j], average="binary", zero_division=0
        )
    return BinaryScores(gold.observations, p, r, f1, gold.values.sum(axis=0), coded.sum(axis=0), min_support)


@dataclass(frozen=True)
class AssertionScores:
    """Negation detection on annotated sentences (negated = the positive class)."""

    n: int
    tp: int
    fp: int
    fn: int
    tn: int
    n_target_not_found: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def accuracy(self) -> float:
        return (self.tp + self.tn) / self.n if self.n else 0.0


def find_target(sentence: str, target: str) -> tuple[int, int] | None:
    """Character span of ``target`` in ``sentence`` (case- and whitespace-insensitive), or ``None``."""
    words = target.split()
    if not words:
        return None
    pattern = r"\s+".join(re.escape(w) for w in words)
    # annotated sets (NegEx) upper-case the annotated occurrence: prefer it
    m = re.search(pattern.upper(), sentence) or re.search(pattern, sentence, re.IGNORECASE)
    return (m.start(), m.end()) if m else None


def score_assertions(items: Sequence[AssertionItem], predicted_negated: Sequence[bool],
                     found: Sequence[bool]) -> AssertionScores:
    """Confusion counts of negation predictions against the items' gold."""
    gold = np.array([it.negated for it in items], dtype=bool)
    pred = np.asarray(predicted_negated, dtype=bool)
    return AssertionScores(
        n=len(items),
        tp=int((gold & pred).sum()),
        fp=int((~gold & pred).sum()),
        fn=int((gold & ~pred).sum()),
        tn=int((~gold & ~pred).sum()),
        n_target_not_found=int((~np.asarray(found, dtype=bool)).sum()),
    )


def predict_gold_statuses(labeler: object, gold: GoldSet) -> np.ndarray:
    """Run ``labeler`` on the gold set's texts; statuses ``(N, F)`` in the gold's column order.

    Gold columns are matched to the labeler's observations by display name (``"Pleural Effusion"``)
    or id (``"pleural_effusion"``).
    """
    from .records import Report

    if gold.texts is None:
        raise ValueError("this gold set carries no report texts; pass a predictions file instead")
    observations = list(labeler.observations)  # type: ignore[attr-defined]
    ruleset = getattr(labeler, "ruleset", None)
    by_name = {ruleset.display_name(o) if ruleset else o: o for o in observations}
    by_name.update({o: o for o in observations})
    missing = [c for c in gold.observations if c not in by_name]
    if missing:
        raise ValueError(f"labeler has no observation for gold column(s) {missing}")
    ids = [by_name[c] for c in gold.observations]
    out = np.empty((len(gold.study_uids), len(ids)), dtype=object)
    reports = (Report(u, t) for u, t in zip(gold.study_uids, gold.texts))
    for i, res in enumerate(labeler.label(reports)):  # type: ignore[attr-defined]
        statuses = res.statuses()
        for j, o in enumerate(ids):
            out[i, j] = statuses.get(o, AssertionStatus.NOT_MENTIONED)
    return out


def assert_items(engine: object, items: Sequence[AssertionItem]) -> tuple[list[bool], list[bool]]:
    """Run an assertion engine on annotated sentences: (predicted negated, target found) per item."""
    negated, found = [], []
    for it in items:
        span = find_target(it.sentence, it.target)
        found.append(span is not None)
        if span is None:
            negated.append(False)
            continue
        (ta,) = engine.assert_targets(it.sentence, [(span[0], span[1], "target")])  # type: ignore[attr-defined]
        negated.append(ta.status is AssertionStatus.ABSENT)
    return negated, found
