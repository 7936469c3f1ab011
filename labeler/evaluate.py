"""Scoring labelers against gold sets: the library behind ``labeler evaluate``.

:func:`evaluate` takes a :class:`~labeler.gold.GoldSet` and any number of predictions — labels
files read by :func:`~labeler.predictions.load_predictions`, labelers (run on the gold's texts),
or plain status arrays — and returns an :class:`EvalReport`: per-observation and averaged
precision / recall / F1 of the CheXpert / CheXbert tasks with bootstrap intervals, Cohen's kappa,
confusion tables, paired comparisons between labelers, and the error list with evidence.
Metric arithmetic lives in :mod:`labeler.metrics` (plain arrays, scikit-learn); this module is
the adapter layer that aligns ids and observations and turns statuses into codes.

Conventions (see :mod:`labeler.metrics` for the formulas): ``binary`` gold (coded / not coded,
e.g. IU MeSH) is compared with *positive or uncertain* predictions; ``status`` gold is scored
one-vs-rest per status (positive, negative, uncertain, blank) and for *mention* (any non-blank).

The older single-purpose helpers (:func:`score_binary`, :func:`predict_gold_statuses`,
:func:`assert_items`, :func:`score_assertions`, :func:`find_target`) are kept for scripts.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from sklearn.metrics import precision_recall_fscore_support

from ._version import __version__
from .errors import ConfigError, DataError
from .gold import AssertionItem, GoldSet, normalize_name
from .metrics import (
    AVERAGES,
    ArrayScores,
    Estimate,
    PairedComparison,
    compare_arrays,
    score_arrays,
    tasks_for,
)
from .predictions import EvidenceRef, Predictions, predict
from .vocab import STATUS_ORDER, AssertionStatus, status_to_chexpert

__all__ = [
    "evaluate",
    "EvalReport",
    "LabelerEvaluation",
    "Alignment",
    "ErrorRow",
    "MissingPolicy",
    "status_codes",
    "write_report",
    "evaluate_paths",
    "REPORT_FILES",
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


# =============================================================================================
# the evaluation harness

MissingPolicy = Literal["blank", "drop", "error"]
#: files :func:`write_report` writes into its output folder
REPORT_FILES = {"json": "evaluation.json", "html": "evaluation.html", "markdown": "evaluation.md",
                "errors": "errors.csv"}
_SAMPLE = 20
_STATUS_CODE = {s: i for i, s in enumerate(STATUS_ORDER)}
_CODE_STATUS = dict(enumerate(STATUS_ORDER))


def status_codes(values: np.ndarray) -> np.ndarray:
    """Integer codes (index in :data:`~labeler.vocab.STATUS_ORDER`) of an array of statuses.

    >>> status_codes(np.array([[AssertionStatus.PRESENT, AssertionStatus.NOT_MENTIONED]], dtype=object)).tolist()
    [[1, 0]]
    """
    arr = np.asarray(values, dtype=object)
    flat = [_STATUS_CODE.get(v) for v in arr.reshape(-1).tolist()]  # str enum: "present" finds PRESENT too
    if None in flat:
        bad = next(v for v, c in zip(arr.reshape(-1).tolist(), flat) if c is None)
        raise ValueError(f"not a status: {bad!r}")
    return np.asarray(flat, dtype=np.int64).reshape(arr.shape)


@dataclass(frozen=True)
class Alignment:
    """How one labeler's predictions line up with the gold (ids and observations)."""

    n_gold: int
    n_predicted: int
    n_missing: int
    missing_ids: tuple[str, ...]
    n_extra: int
    extra_ids: tuple[str, ...]
    unscored_observations: tuple[str, ...]
    n_failed: int
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_gold": self.n_gold, "n_predicted": self.n_predicted,
            "gold_ids_not_predicted": {"count": self.n_missing, "sample": list(self.missing_ids)},
            "predicted_ids_not_in_gold": {"count": self.n_extra, "sample": list(self.extra_ids)},
            "gold_observations_not_predicted": list(self.unscored_observations),
            "labeling_failed": self.n_failed, "notes": list(self.notes),
        }


@dataclass(frozen=True)
class ErrorRow:
    """One disagreement with the gold, with the evidence behind the prediction (no text unless asked).

    ``error`` is ``false_positive`` (gold not coded / blank, predicted coded / mentioned),
    ``false_negative`` (the reverse) or ``wrong_status`` (status gold: both mentioned, statuses differ).
    ``gold`` and ``predicted`` use CheXpert's ``1 / 0 / -1 / ""``.
    """

    labeler: str
    observation: str
    study_uid: str
    error: str
    gold: str
    predicted: str
    evidence: EvidenceRef | None
    sentence: str | None = None

    def to_row(self, with_text: bool) -> dict[str, Any]:
        ev = self.evidence or EvidenceRef()
        row = {
            "labeler": self.labeler, "observation": self.observation, "study_uid": self.study_uid,
            "error": self.error, "gold": self.gold, "predicted": self.predicted,
            "rule_id": ev.rule_id or "", "modifier_rule_id": ev.modifier_rule_id or "",
            "modifier": ev.modifier_category or "", "derived_by": ev.derived_by or "", "section": ev.section or "",
            "sentence_start": "" if ev.sentence_start is None else ev.sentence_start,
            "sentence_end": "" if ev.sentence_end is None else ev.sentence_end,
            "mention_start": "" if ev.mention_start is None else ev.mention_start,
            "mention_end": "" if ev.mention_end is None else ev.mention_end,
        }
        if with_text:
            row["sentence"] = self.sentence or ""
        return row


ERROR_COLUMNS = ("labeler", "observation", "study_uid", "error", "gold", "predicted", "rule_id", "modifier_rule_id",
                 "modifier", "derived_by", "section", "sentence_start", "sentence_end", "mention_start", "mention_end")


@dataclass(frozen=True)
class LabelerEvaluation:
    """The scores of one labeler, its provenance and how its predictions aligned."""

    name: str
    source: str
    provenance: dict[str, Any]
    alignment: Alignment
    scores: ArrayScores
    source_sha256: str | None = None


def _fmt_metric(metric: str) -> str:
    return {"weighted_f1": "weighted F1", "kappa": "kappa"}.get(metric, metric.replace(".f1", " F1"))


@dataclass(frozen=True)
class EvalReport:
    """Everything one evaluation run measured. Build it with :func:`evaluate`.

    ``observations`` are the scored gold observations, ``n`` the scored gold rows; per labeler
    ``labelers[i].scores`` holds arrays over ``observations`` (see
    :class:`~labeler.metrics.ArrayScores`); ``comparisons`` are paired tests of each labeler
    with ``labelers[reference]``. ``primary`` names the headline metric.
    """

    gold_name: str
    gold_format: str
    kind: Literal["binary", "status"]
    observations: tuple[str, ...]
    n: int
    gold_counts: np.ndarray
    gold_notes: tuple[str, ...]
    labelers: tuple[LabelerEvaluation, ...]
    comparisons: tuple[PairedComparison, ...]
    errors: tuple[ErrorRow, ...]
    warnings: tuple[str, ...]
    primary: str
    settings: dict[str, Any]
    reference: int = 0
    with_text: bool = False
    engine_version: str = __version__
    gold_sha256: str | None = None

    # ---- headline numbers

    def metric_values(self, i: int, metric: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Per-observation values ``(F,)`` and intervals ``(F, 2)`` of a metric for labeler ``i``."""
        metric = metric or self.primary
        s = self.labelers[i].scores
        if metric == "kappa":
            return s.kappa, s.ci_kappa
        if metric == "accuracy":
            return s.accuracy, s.ci_accuracy
        if metric == "weighted_f1":
            if s.weighted_f1 is None or s.ci_weighted_f1 is None:
                raise ValueError("weighted F1 exists for status gold only")
            return s.weighted_f1, s.ci_weighted_f1
        task = metric.removesuffix(".f1")
        return s.tasks[task].f1, s.tasks[task].ci_f1

    def headline(self, i: int, metric: str | None = None) -> dict[str, Estimate]:
        """Averages of a metric for labeler ``i``: macro (+ micro and weighted for task F1s)."""
        metric = metric or self.primary
        s = self.labelers[i].scores
        if metric == "kappa":
            return {"macro": s.kappa_macro}
        if metric == "accuracy":
            return {"macro": s.accuracy_macro}
        if metric == "weighted_f1":
            return {"macro": s.weighted_f1_macro} if s.weighted_f1_macro else {}
        averages = s.tasks[metric.removesuffix(".f1")].averages
        return {avg: averages[avg]["f1"] for avg in AVERAGES}

    def error_counts(self, i: int) -> dict[str, dict[str, int]]:
        """``{observation: {error kind: count}}`` of labeler ``i``."""
        name = self.labelers[i].name
        out = {o: {"false_positive": 0, "false_negative": 0, **({"wrong_status": 0} if self.kind == "status" else {})}
               for o in self.observations}
        for e in self.errors:
            if e.labeler == name:
                out[e.observation][e.error] += 1
        return out

    # ---- serialisation

    def to_dict(self) -> dict[str, Any]:
        """Every number of the run as plain JSON data (rounded to 4 decimals; lists, not tuples)."""
        return json.loads(json.dumps(_report_to_dict(self), ensure_ascii=False, default=str))

    def to_json(self, indent: int = 2) -> str:
        """:meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False) + "\n"

    def to_markdown(self) -> str:
        """Headline and per-observation tables in Markdown (what the README shows)."""
        return _report_to_markdown(self)

    def error_rows(self) -> list[dict[str, Any]]:
        """The error list as rows of ``errors.csv``."""
        return [e.to_row(self.with_text) for e in self.errors]


def _num(x: Any, digits: int = 4) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if np.isnan(x) else round(x, digits)


def _ci(pair: Any) -> list[float | None]:
    return [_num(pair[0]), _num(pair[1])]


def _gold_class_names(kind: str) -> list[str]:
    return ["not coded", "coded"] if kind == "binary" else [s.value for s in STATUS_ORDER]


def _report_to_dict(r: EvalReport) -> dict[str, Any]:
    obs = r.observations
    gold_classes = _gold_class_names(r.kind)
    labelers = []
    for i, lab in enumerate(r.labelers):
        s = lab.scores
        tasks = {}
        for task, ts in s.tasks.items():
            per_obs = {}
            for j, o in enumerate(obs):
                per_obs[o] = {
                    "support": int(ts.support[j]), "n_predicted": int(ts.n_predicted[j]),
                    "tp": int(ts.tp[j]), "fp": int(ts.fp[j]), "fn": int(ts.fn[j]), "tn": int(ts.tn[j]),
                    "precision": {"value": _num(ts.precision[j]), "ci": _ci(ts.ci_precision[j])},
                    "recall": {"value": _num(ts.recall[j]), "ci": _ci(ts.ci_recall[j])},
                    "f1": {"value": _num(ts.f1[j]), "ci": _ci(ts.ci_f1[j])},
                    "in_averages": bool(ts.eligible[j]),
                }
            tasks[task] = {
                "per_observation": per_obs,
                "averages": {avg: {m: e.to_dict() for m, e in ts.averages[avg].items()} for avg in AVERAGES},
            }
        entry: dict[str, Any] = {
            "name": lab.name,
            "source": lab.source,
            "source_sha256": lab.source_sha256,
            "provenance": lab.provenance,
            "alignment": lab.alignment.to_dict(),
            "headline": {"metric": r.primary, **{k: v.to_dict() for k, v in r.headline(i).items()},
                         "kappa_macro": s.kappa_macro.to_dict()},
            "tasks": tasks,
            "kappa": {"per_observation": {o: {"value": _num(s.kappa[j]), "ci": _ci(s.ci_kappa[j])}
                                          for j, o in enumerate(obs)}, "macro": s.kappa_macro.to_dict()},
            "accuracy": {"per_observation": {o: {"value": _num(s.accuracy[j]), "ci": _ci(s.ci_accuracy[j])}
                                             for j, o in enumerate(obs)}, "macro": s.accuracy_macro.to_dict()},
        }
        if s.weighted_f1 is not None and s.ci_weighted_f1 is not None and s.weighted_f1_macro is not None:
            entry["weighted_f1"] = {
                "per_observation": {o: {"value": _num(s.weighted_f1[j]), "ci": _ci(s.ci_weighted_f1[j])}
                                    for j, o in enumerate(obs)},
                "macro": s.weighted_f1_macro.to_dict()}
        entry["confusion"] = {
            "gold": gold_classes, "predicted": [st.value for st in STATUS_ORDER],
            "per_observation": {o: s.confusion[j].astype(int).tolist() for j, o in enumerate(obs)},
        }
        entry["errors"] = r.error_counts(i)
        labelers.append(entry)
    comparisons = []
    for c in r.comparisons:
        metrics = {}
        for m, d in c.metrics.items():
            metrics[m] = {
                "per_observation": {o: {"diff": _num(d.diff[j]), "ci": _ci(d.ci[j]), "p_bootstrap": _num(d.p_bootstrap[j])}
                                    for j, o in enumerate(obs)},
                "averages": {avg: {"diff": _num(e.value), "ci": [_num(e.low), _num(e.high)], "p_bootstrap": _num(p)}
                             for avg, (e, p) in d.averages.items()},
            }
        comparisons.append({
            "reference": r.labelers[c.reference].name, "other": r.labelers[c.other].name,
            "metrics": metrics,
            "mcnemar": {o: {"reference_right_other_wrong": int(c.mcnemar_b[j]),
                            "reference_wrong_other_right": int(c.mcnemar_c[j]),
                            "p": _num(c.mcnemar_p[j], 6), "p_holm": _num(c.mcnemar_p_holm[j], 6)}
                        for j, o in enumerate(obs)},
        })
    return {
        "schema": "radlabeler.evaluation.v1",
        "engine_version": r.engine_version,
        "gold": {
            "name": r.gold_name, "sha256": r.gold_sha256, "format": r.gold_format, "kind": r.kind, "n": r.n,
            "observations": list(obs),
            "counts": {"classes": gold_classes,
                       "per_observation": {o: r.gold_counts[j].astype(int).tolist() for j, o in enumerate(obs)}},
            "notes": list(r.gold_notes),
        },
        "settings": r.settings,
        "conventions": CONVENTIONS[r.kind],
        "primary_metric": r.primary,
        "warnings": list(r.warnings),
        "labelers": labelers,
        "comparisons": comparisons,
        "errors_file": REPORT_FILES["errors"],
        "with_text": r.with_text,
    }


CONVENTIONS = {
    "binary": ("binary gold (coded / not coded): a prediction counts as coded when it is positive or uncertain "
               "(coders code findings judged present or possible). Metrics per observation: precision, recall, "
               "F1 of 'coded'; Cohen's kappa and accuracy of coded vs not coded. Averages over observations with "
               "at least min_support coded reports: macro (mean), micro (pooled counts), weighted (by support)."),
    "status": ("status gold (1 / 0 / -1 / blank), CheXpert/CheXbert conventions: positive, negative, uncertain and "
               "blank F1 are one-vs-rest over all reports; mention F1 is any non-blank vs blank; weighted F1 is "
               "positive/negative/uncertain F1 weighted by their gold support (CheXbert); Cohen's kappa on the "
               "4x4 status table. Averages over observations with at least min_support gold positives of the "
               "task: macro (mean, undefined values left out), micro (pooled counts), weighted (by support)."),
}


def table_rows(r: EvalReport, i: int) -> list[list[str]]:
    """Per-observation rows shared by the Markdown and terminal tables."""
    s = r.labelers[i].scores

    def f(x: float) -> str:
        return "–" if np.isnan(x) else f"{x:.3f}"

    def fci(x: float, ci: Any) -> str:
        if np.isnan(x):
            return "–"
        return f"{x:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" if not np.isnan(ci[0]) else f"{x:.3f}"

    def tf(task: str, j: int) -> str:  # a task's F1 means nothing where the gold has none of its class
        ts = s.tasks[task]
        return "–" if ts.support[j] == 0 else f(ts.f1[j])

    values, cis = r.metric_values(i)
    primary_task = r.primary.removesuffix(".f1") if r.primary.endswith(".f1") else None
    rows = []
    for j, o in enumerate(r.observations):
        head = "–" if primary_task and s.tasks[primary_task].support[j] == 0 else fci(values[j], cis[j])
        if r.kind == "binary":
            t = s.tasks["coded"]
            rows.append([o, str(int(t.support[j])), str(int(t.n_predicted[j])), f(t.precision[j]), f(t.recall[j]),
                         head, f(s.kappa[j])])
        else:
            rows.append([o, str(int(s.tasks["mention"].support[j])), tf("positive", j), tf("negative", j),
                         tf("uncertain", j), tf("blank", j), tf("mention", j), head, f(s.kappa[j])])
    return rows


def table_header(r: EvalReport) -> list[str]:
    """Column names of :func:`table_rows`."""
    head = _fmt_metric(r.primary) + " [95% CI]" if r.settings.get("confidence") == 0.95 else _fmt_metric(r.primary)
    if r.kind == "binary":
        return ["observation", "coded", "predicted", "precision", "recall", head, "kappa"]
    return ["observation", "mentioned", "positive F1", "negative F1", "uncertain F1", "blank F1", "mention F1",
            head, "kappa"]


def format_estimate(e: Estimate | None) -> str:
    if e is None or np.isnan(e.value):
        return "–"
    if np.isnan(e.low):
        return f"{e.value:.3f}"
    return f"{e.value:.3f} [{e.low:.3f}, {e.high:.3f}]"


def _report_to_markdown(r: EvalReport) -> str:
    lines = [f"## {', '.join(lab.name for lab in r.labelers)} on {r.gold_name}", ""]
    lines.append(f"{r.n} gold rows, {count_noun(len(r.observations), 'observation')}, {r.kind} gold ({r.gold_format}); "
                 f"{r.settings['n_bootstrap']} bootstrap resamples, seed {r.settings['seed']}.")
    lines += ["", "| labeler | " + _fmt_metric(r.primary) + " macro | micro | weighted | kappa macro |",
              "|---|---|---|---|---|"]
    for i, lab in enumerate(r.labelers):
        h = r.headline(i)
        lines.append(f"| {lab.name} | {format_estimate(h.get('macro'))} | {format_estimate(h.get('micro'))} | {format_estimate(h.get('weighted'))} | "
                     f"{format_estimate(lab.scores.kappa_macro)} |")
    for i, lab in enumerate(r.labelers):
        header = table_header(r)
        lines += ["", f"### {lab.name}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in table_rows(r, i)]
    for c in r.comparisons:
        d = c.metrics[r.primary]
        ref, oth = r.labelers[c.reference].name, r.labelers[c.other].name
        lines += ["", f"### {oth} − {ref} ({_fmt_metric(r.primary)})", "",
                  "| observation | difference [95% CI] | p (paired bootstrap) | McNemar p (Holm) |", "|---|---|---|---|"]
        for j, o in enumerate(r.observations):
            lines.append(f"| {o} | {format_estimate(Estimate(d.diff[j], *d.ci[j]))} | {format_p(d.p_bootstrap[j])} | "
                         f"{format_p(c.mcnemar_p_holm[j])} |")
        for avg, (e, p) in d.averages.items():
            lines.append(f"| *{avg}* | {format_estimate(e)} | {format_p(p)} | |")
    if r.warnings:
        lines += ["", "Warnings: " + "; ".join(r.warnings)]
    return "\n".join(lines) + "\n"


def count_noun(n: int, noun: str) -> str:
    """``"1 observation"``, ``"3 observations"``."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


def format_p(p: float) -> str:
    if p is None or np.isnan(p):
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


# ---- adapters


def _as_predictions(name: str, item: Any, gold: GoldSet, on_progress: Callable[[str, int, int], None] | None
                    ) -> Predictions:
    if isinstance(item, Predictions):
        return item if item.name == name else Predictions(name, item.study_uids, item.observations, item.values,
                                                          item.evidence, item.provenance, item.source, item.notes,
                                                          item.failed)
    if isinstance(item, np.ndarray):
        if item.shape != gold.values.shape:
            raise ValueError(f"predictions {name!r}: array shape {item.shape}, gold {gold.values.shape}")
        values = np.vectorize(AssertionStatus, otypes=[object])(item) if item.size else item.astype(object)
        return Predictions(name, gold.study_uids, gold.observations, values, {}, {}, "array")
    if hasattr(item, "label") and hasattr(item, "observations"):
        progress = (lambda done, total: on_progress(name, done, total)) if on_progress else None
        return predict(item, gold, name=name, on_progress=progress)
    raise TypeError(f"predictions {name!r}: expected Predictions, a labeler or an ndarray, got {type(item).__name__}")


def _error_kind(kind: str, g: int, p: int) -> str | None:
    """Error kind of a (gold code, predicted code) pair, ``None`` when they agree."""
    if kind == "binary":
        coded = p in (_STATUS_CODE[AssertionStatus.PRESENT], _STATUS_CODE[AssertionStatus.UNCERTAIN])
        if g == 1 and not coded:
            return "false_negative"
        if g == 0 and coded:
            return "false_positive"
        return None
    if g == p:
        return None
    blank = _STATUS_CODE[AssertionStatus.NOT_MENTIONED]
    if g == blank:
        return "false_positive"
    if p == blank:
        return "false_negative"
    return "wrong_status"


def _code_text(code: int) -> str:
    v = status_to_chexpert(_CODE_STATUS[code])
    return "" if v is None else str(v)


def _sentence(text: str | None, ev: EvidenceRef | None) -> str | None:
    if text is None or ev is None or ev.sentence_start is None or ev.sentence_end is None:
        return None
    if not 0 <= ev.sentence_start <= ev.sentence_end <= len(text):
        return None
    return " ".join(text[ev.sentence_start:ev.sentence_end].split())


def evaluate(
    gold: GoldSet,
    predictions: Mapping[str, Predictions | np.ndarray | Any] | Sequence[Predictions],
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    min_support: int = 1,
    missing: MissingPolicy = "blank",
    primary: str = "auto",
    reference: str | None = None,
    with_text: bool = False,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> EvalReport:
    """Score one or more labelers against a gold set, the same way for all.

    Parameters
    ----------
    gold : GoldSet
    predictions : mapping of name to Predictions, labeler or ndarray; or a sequence of Predictions
        A :class:`~labeler.predictions.Predictions` (a labels file), a labeler (run on
        ``gold.texts``; sentence-level gold uses its assertion stage), or an array of
        :class:`~labeler.vocab.AssertionStatus` of the gold's shape and order.
    n_bootstrap : int, default=1000
        Resamples of gold rows for the percentile intervals and paired tests (0: none).
    seed : int, default=0
        Seed of the resampling: the same seed gives the same intervals.
    confidence : float, default=0.95
    min_support : int, default=1
        Observations with fewer gold positives of a task are left out of that task's averages.
    missing : {"blank", "drop", "error"}, default="blank"
        Gold ids a labeler did not predict: scored as blank (a warning with the count), dropped
        from every labeler's scoring (so all are scored on the same rows), or an error.
    primary : str, default="auto"
        Headline metric: ``"<task>.f1"`` (``coded``, ``positive``, ``negative``, ``uncertain``,
        ``blank``, ``mention``), ``"weighted_f1"`` or ``"kappa"``. ``auto``: ``coded.f1`` for
        binary gold, ``negative.f1`` for sentence-level assertion gold (NegEx), ``weighted_f1``
        otherwise.
    reference : str, default=None
        The labeler the others are compared with (default: the first).
    with_text : bool, default=False
        Put the evidence sentence (report text) into the error list. Off by default: reports
        and error files then hold ids, offsets and rule ids only.
    on_progress : callable(name, done, total), default=None
        Called while labelers run on the gold texts.

    Returns
    -------
    EvalReport

    Raises
    ------
    DataError
        No observation or no row in common, or missing ids with ``missing="error"``.

    Examples
    --------
    >>> from labeler.gold import GoldSet
    >>> P, A, U = AssertionStatus.PRESENT, AssertionStatus.ABSENT, AssertionStatus.UNCERTAIN
    >>> gold = GoldSet(("r1", "r2", "r3"), ("Edema",), np.array([[1], [0], [1]]), "binary")
    >>> pred = np.array([[P], [A], [U]], dtype=object)
    >>> rep = evaluate(gold, {"mine": pred}, n_bootstrap=0)
    >>> rep.headline(0)["macro"].value
    1.0
    """
    if missing not in ("blank", "drop", "error"):
        raise ConfigError(f"unknown missing-id policy {missing!r} (blank, drop or error)")
    if isinstance(predictions, Mapping):
        items = dict(predictions)
    else:
        items = {p.name: p for p in predictions}
        if len(items) != len(predictions):
            raise ConfigError("predictions need distinct names")
    if not items:
        raise ConfigError("nothing to evaluate: give at least one predictions file or labeler")
    preds = [_as_predictions(name, item, gold, on_progress) for name, item in items.items()]
    warnings: list[str] = []

    # observations every labeler predicts
    keys = [normalize_name(o) for o in gold.observations]
    pred_cols = [{normalize_name(o): j for j, o in enumerate(p.observations)} for p in preds]
    scored = [j for j, k in enumerate(keys) if all(k in pc for pc in pred_cols)]
    unscored_by = [tuple(gold.observations[j] for j, k in enumerate(keys) if k not in pc) for pc in pred_cols]
    if not scored:
        raise DataError(f"no gold observation is predicted by every labeler (gold: {list(gold.observations)[:20]}; "
                        + "; ".join(f"{p.name}: {list(p.observations)[:20]}" for p in preds) + ")")
    dropped_obs = [gold.observations[j] for j in range(len(keys)) if j not in scored]
    if dropped_obs:
        warnings.append(f"{len(dropped_obs)} gold observation(s) not scored (not predicted by every labeler): "
                        f"{dropped_obs}")

    # rows
    gold_index = {u: i for i, u in enumerate(gold.study_uids)}
    row_maps = []
    alignments = []
    for p, unscored in zip(preds, unscored_by, strict=True):
        index = {u: i for i, u in enumerate(p.study_uids)}
        missing_ids = [u for u in gold.study_uids if u not in index]
        extra_ids = [u for u in p.study_uids if u not in gold_index]
        row_maps.append(index)
        alignments.append(Alignment(len(gold.study_uids), len(p.study_uids), len(missing_ids),
                                    tuple(missing_ids[:_SAMPLE]), len(extra_ids), tuple(extra_ids[:_SAMPLE]),
                                    unscored, len(p.failed), p.notes))
        if extra_ids:
            warnings.append(f"{p.name}: {len(extra_ids)} predicted id(s) not in the gold, not scored "
                            f"(e.g. {extra_ids[:3]})")
        if missing_ids:
            msg = f"{p.name}: {len(missing_ids)} of {len(gold.study_uids)} gold id(s) not predicted " \
                  f"(e.g. {missing_ids[:3]})"
            if missing == "error":
                raise DataError(msg + "; use --missing blank or drop to score anyway")
            warnings.append(msg + ("; scored as blank" if missing == "blank" else "; left out for every labeler"))
        warnings += [f"{p.name}: {note}" for note in p.notes]
    rows = [i for i, u in enumerate(gold.study_uids) if missing != "drop" or all(u in m for m in row_maps)]
    if not rows:
        raise DataError("no gold id is predicted by every labeler")

    n, f = len(rows), len(scored)
    if gold.kind == "binary":
        gold_codes = np.asarray(gold.values, dtype=np.int64)[np.ix_(rows, scored)]
    else:
        gold_codes = status_codes(gold.values[np.ix_(rows, scored)])
    blank = _STATUS_CODE[AssertionStatus.NOT_MENTIONED]
    pred_codes = []
    for p, index, pc in zip(preds, row_maps, pred_cols, strict=True):
        codes = np.full((n, f), blank, dtype=np.int64)
        src_rows = [index.get(gold.study_uids[i]) for i in rows]
        cols = [pc[keys[j]] for j in scored]
        present = [k for k, r in enumerate(src_rows) if r is not None]
        if present:
            sub = p.values[np.ix_([src_rows[k] for k in present], cols)]
            codes[present] = status_codes(sub)
        pred_codes.append(codes)

    primary = _choose_primary(primary, gold)
    scores, reps = score_arrays(gold_codes, pred_codes, gold.kind, n_bootstrap=n_bootstrap, seed=seed,
                                confidence=confidence, min_support=min_support)
    names = [p.name for p in preds]
    ref = 0
    if reference is not None:
        if reference not in names:
            raise ConfigError(f"unknown reference labeler {reference!r} (have {names})")
        ref = names.index(reference)
    comparisons = compare_arrays(gold_codes, pred_codes, scores, reps, reference=ref, confidence=confidence) \
        if len(preds) > 1 else []

    # error list
    errors: list[ErrorRow] = []
    obs = tuple(gold.observations[j] for j in scored)
    for li, (p, index, pc) in enumerate(zip(preds, row_maps, pred_cols, strict=True)):
        cols = [pc[keys[j]] for j in scored]
        if gold.kind == "binary":
            coded = np.isin(pred_codes[li], [_STATUS_CODE[AssertionStatus.PRESENT],
                                             _STATUS_CODE[AssertionStatus.UNCERTAIN]]).astype(np.int64)
            wrong = coded != gold_codes
        else:
            wrong = pred_codes[li] != gold_codes
        for jj, o in enumerate(obs):
            for k in np.flatnonzero(wrong[:, jj]).tolist():
                gi = rows[k]
                kind = _error_kind(gold.kind, int(gold_codes[k, jj]), int(pred_codes[li][k, jj]))
                if kind is None:  # pragma: no cover - wrong[] says they disagree
                    continue
                src = index.get(gold.study_uids[gi])
                ev = p.evidence.get((src, cols[jj])) if src is not None else None
                text = gold.texts[gi] if (with_text and gold.texts is not None) else None
                sentence = _sentence(text, ev)
                if sentence is None and text is not None and gold.targets is not None:
                    sentence = " ".join(text.split())  # sentence-level gold: the row is the sentence
                g = str(int(gold_codes[k, jj])) if gold.kind == "binary" else _code_text(int(gold_codes[k, jj]))
                errors.append(ErrorRow(p.name, o, gold.study_uids[gi], kind, g, _code_text(int(pred_codes[li][k, jj])),
                                       ev, sentence))

    kg = 2 if gold.kind == "binary" else len(STATUS_ORDER)
    gold_counts = np.stack([np.bincount(gold_codes[:, j], minlength=kg) for j in range(f)]) if n else \
        np.zeros((f, kg), dtype=np.int64)
    settings = {"n_bootstrap": n_bootstrap, "seed": seed, "confidence": confidence, "min_support": min_support,
                "missing": missing, "with_text": with_text, "resampling": "percentile bootstrap over gold rows",
                "paired_tests": "paired bootstrap on shared resamples; exact McNemar per observation (Holm)"}
    return EvalReport(
        gold_name=gold.name, gold_format=gold.format or gold.kind, kind=gold.kind, observations=obs, n=n,
        gold_counts=gold_counts, gold_notes=gold.notes,
        labelers=tuple(LabelerEvaluation(p.name, p.source, p.provenance, a, s, p.sha256)
                       for p, a, s in zip(preds, alignments, scores, strict=True)),
        comparisons=tuple(comparisons), errors=tuple(errors), warnings=tuple(warnings), primary=primary,
        settings=settings, reference=ref, with_text=with_text,
    )


def _choose_primary(primary: str, gold: GoldSet) -> str:
    allowed = [f"{t}.f1" for t in tasks_for(gold.kind)] + ["kappa", "accuracy"] + \
        (["weighted_f1"] if gold.kind == "status" else [])
    if primary == "auto":
        if gold.kind == "binary":
            return "coded.f1"
        return "negative.f1" if gold.targets is not None else "weighted_f1"
    if primary not in allowed:
        raise ConfigError(f"unknown metric {primary!r} for {gold.kind} gold (choose from {', '.join(allowed)})")
    return primary


def write_report(report: EvalReport, out_dir: str | Path, *, overwrite: bool = False, html: bool = True
                 ) -> dict[str, Path]:
    """Write ``evaluation.json``, ``evaluation.md``, ``errors.csv`` and ``evaluation.html`` into ``out_dir``.

    Refuses to replace existing files unless ``overwrite``. Returns the paths by kind.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} exists and is not a folder")
    paths = {k: out / v for k, v in REPORT_FILES.items() if html or k != "html"}
    existing = [p.name for p in paths.values() if p.exists()]
    if existing and not overwrite:
        raise ConfigError(f"{out}: {', '.join(existing)} exist(s); pass --overwrite to replace", code="output_exists")
    out.mkdir(parents=True, exist_ok=True)
    paths["json"].write_text(report.to_json(), encoding="utf-8")
    paths["markdown"].write_text(report.to_markdown(), encoding="utf-8")
    columns = list(ERROR_COLUMNS) + (["sentence"] if report.with_text else [])
    with paths["errors"].open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(report.error_rows())
    if html:
        from .report_html import render_html

        paths["html"].write_text(render_html(report), encoding="utf-8")
    return paths


def evaluate_paths(
    gold_path: str | Path,
    *,
    predictions: Mapping[str, str | Path] | None = None,
    labelers: Mapping[str, Any] | None = None,
    gold_format: str = "auto",
    id_column: str | None = None,
    text_columns: Sequence[str] | None = None,
    rename: Mapping[str, str] | None = None,
    observations: Sequence[str] | None = None,
    mapping: str | Path | None = None,
    tier: Literal["core", "ext"] = "core",
    blank: Literal["error", "negative"] = "error",
    pred_id_column: str = "study_uid",
    **options: Any,
) -> EvalReport:
    """Load a gold file and labels files, run labelers, and :func:`evaluate` them (``labeler evaluate``).

    Without ``observations``, the gold's observation columns are those that some labels file or
    labeler predicts (matched with :func:`~labeler.gold.normalize_name` after ``rename``); the
    other gold columns are reported in the warnings. Labelers come first, then files (the first
    is the reference of paired comparisons unless ``reference`` is given). ``options`` go to
    :func:`evaluate`.
    Gold options are those of :func:`~labeler.gold.load_gold`.
    """
    from .gold import detect_gold_format, load_gold, table_columns
    from .predictions import file_sha256, labeler_column_names, load_predictions, prediction_columns

    predictions = dict(predictions or {})
    labelers = dict(labelers or {})
    if not predictions and not labelers:
        raise ConfigError("nothing to evaluate: give --pred FILE and/or --labeler NAME")
    fmt = detect_gold_format(gold_path) if gold_format == "auto" else gold_format
    extra_warnings: list[str] = []
    if observations is None and fmt in ("chexpert", "binary"):
        known: set[str] = set()
        for path in predictions.values():
            known |= {normalize_name(c) for c in prediction_columns(path, id_column=pred_id_column)}
        for lab in labelers.values():
            for oid, disp in labeler_column_names(lab).items():
                known |= {normalize_name(oid), normalize_name(disp)}
        id_col = id_column or "study_uid"
        skip = {id_col, *(text_columns or ())}
        renamed = [(c, dict(rename or {}).get(c, c)) for c in table_columns(gold_path) if c not in skip]
        observations = [n for _, n in renamed if normalize_name(n) in known]
        unmatched = [c for c, n in renamed if normalize_name(n) not in known]
        if not observations:
            raise DataError(f"{Path(gold_path).name}: no gold column matches a predicted observation "
                            f"(gold columns: {[c for c, _ in renamed][:20]}); map names with --rename 'GOLD=OURS'")
        if unmatched:
            extra_warnings.append(f"{len(unmatched)} gold column(s) match no predicted observation, not scored: "
                                  f"{unmatched[:20]}")
    gold = load_gold(gold_path, fmt, id_column=id_column, observations=observations, rename=rename,
                     text_columns=text_columns, mapping=mapping, tier=tier, blank=blank)
    items: dict[str, Any] = dict(labelers)  # labelers first: the first one is the default reference
    for name, path in predictions.items():
        if name in items:
            raise ConfigError(f"two predictions are called {name!r}; name files with --pred NAME=PATH")
        items[name] = load_predictions(path, name=name, id_column=pred_id_column, observations=gold.observations)
    report = evaluate(gold, items, **options)
    return dataclasses.replace(report, warnings=tuple(extra_warnings) + report.warnings,
                               gold_sha256=file_sha256(gold_path))
