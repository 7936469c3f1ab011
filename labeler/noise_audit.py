"""How wrong is each label? Per-report confidences and per-observation noise rates, without gold.

:func:`audit_corpus` is the library function under ``labeler noise`` and ``labeler label
--with-confidence``. For a corpus it

1. labels every report with the rule labeler (the labels under audit);
2. builds signals that read the reports differently (:mod:`labeler.signals`): the rules
   restricted to the impression and to the findings, a NegEx-style window assertion, and the
   out-of-fold probabilities of a trained labeler (``baseline.tfidf``; any labeler with
   ``fit``/``predict_proba`` plugs in through :data:`DEFAULT_MODELS`);
3. per observation, fits a Dawid–Skene label model to the signals (not to the audited labels:
   they are assessed against the others), whose posteriors give each label's **confidence** —
   the probability that the emitted label is right, in the classes negative (absent or not
   mentioned) / positive / uncertain — and the estimated joint of (label, true class), from
   which come the **noise rates** ``P(label wrong | label)``, the flip matrices and the expected
   precision and recall, with bootstrap intervals;
4. runs confident learning (cleanlab) on the out-of-fold probabilities as a second estimate and
   flags cleanlab's label issues;
5. with a gold set, measures the same quantities directly and recalibrates the confidences on it
   (:func:`calibrate_on_gold`).

The review list ranks labels by the probability that a reader deciding coded / not coded would
decide otherwise than the label (:attr:`NoiseAudit.suspicion`; a hedged finding is coded with
probability ``NoiseConfig.hedged_coded``), or, with ``NoiseConfig(review="status")``, by
``1 - confidence``.

The cost is that of the signals: one rule pass, the weak labelers (a few ms per report), and
``n_splits`` fits of the trained labeler (the TF-IDF baseline: seconds per thousand reports).
The whole corpus is held in memory (the label model and cross-fitting need all of it).
"""

from __future__ import annotations

import datetime as _dt
import functools
import logging
import platform
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._version import __version__
from .errors import ConfigError, DataError
from .labelers.base import make_labeler
from .noise import (
    NoiseEstimate,
    PlattCalibrator,
    calibration,
    estimate_noise,
    excess_agreement,
    find_label_issues,
    label_confidence,
    measured_joint,
    signal_summary,
)
from .records import Report, ReportResult, RowError
from .signals import RuleSignals, SignalMatrix, cross_val_predict_proba, label_matrix, proba_votes
from .vocab import (
    ABSTAIN,
    CODED_CLASSES,
    NEGATIVE_CLASS,
    NOISE_CLASSES,
    POSITIVE_CLASS,
    UNCERTAIN_CLASS,
    AssertionStatus,
    status_to_chexpert,
    statuses_to_classes,
)

__all__ = [
    "DEFAULT_RULE_SIGNALS",
    "DEFAULT_MODELS",
    "NoiseConfig",
    "ObservationNoise",
    "NoiseAudit",
    "collect_signals",
    "audit_signals",
    "audit_corpus",
    "audit_matrix",
    "signal_labelers",
    "GoldCalibration",
    "calibrate_on_gold",
    "REVIEW_COLUMNS",
    "review_rows",
    "write_review",
    "read_gold",
    "noise_path",
    "NoiseRunSummary",
    "noise",
    "confidence_columns",
    "estimate_dict",
]

log = logging.getLogger(__name__)

#: rule-derived weak labelers in the label model. ``keyword`` (negation-free) is available but left
#: out: it is ``negex`` without triggers, so the two err together and Dawid–Skene mistakes their
#: shared errors for a class of its own.
DEFAULT_RULE_SIGNALS: tuple[str, ...] = ("rules.impression", "rules.findings", "negex")
#: trainable labelers whose out-of-fold probabilities are signals (registered names). The neural
#: classifier joins by adding ``"classifier"`` here.
DEFAULT_MODELS: tuple[str, ...] = ("baseline.tfidf",)
#: not coded (negative) vs coded (positive or uncertain), for binary gold such as IU's MeSH codes
CODED_GROUPS: tuple[tuple[int, ...], ...] = ((NEGATIVE_CLASS,), CODED_CLASSES)


@dataclass(frozen=True)
class NoiseConfig:
    """How the noise audit runs.

    Parameters
    ----------
    rule_signals : tuple of str, default=DEFAULT_RULE_SIGNALS
        Rule-derived weak labelers (:data:`labeler.signals.RULE_SIGNALS`).
    models : tuple of str, default=DEFAULT_MODELS
        Registered trainable labelers used out-of-fold (each is built with ``rules``,
        ``label_sections`` and ``seed``).
    n_splits : int, default=5
        Cross-fitting folds of the trained labelers.
    n_bootstrap : int, default=200
        Bootstrap resamples for the intervals (0: no intervals).
    confidence_level : float, default=0.95
    min_class_count : int, default=10
        A class given fewer times gets a "tiny class" warning (and confident learning leaves out
        classes given fewer than 5 times).
    pooled_models : tuple of str, default=()
        Registered trainable labelers cross-fitted like ``models`` whose out-of-fold probabilities
        join the confidence pool (``pool_models``) without voting in the label model. For a model
        trained on the rules' own labels (``classifier``): its errors follow the rules' too closely
        for the label model to treat it as an independent voter, but as an estimate of each label's
        true class it still ranks the rules' errors (``evaluation/noise_iu.py``).
    pool_models : bool, default=True
        Each label's confidence from the label model's posterior averaged with the out-of-fold
        probabilities of every model signal, ``pooled_models`` included (a linear opinion pool of
        estimators of the same quantity); ``False``: the label model's posterior alone. The noise
        rates always come from the label model.
    review : {"decision", "status"}, default="decision"
        What the review list ranks by (:attr:`NoiseAudit.suspicion`). ``"decision"``: the
        probability that a reader deciding coded / not coded (positive or uncertain = coded, as
        binary labels and binary gold are read) would decide otherwise than the label; a hedged
        finding is read through ``hedged_coded``. ``"status"``: the probability that the label's
        class (negative / positive / uncertain) is wrong, ``1 - confidence`` — for consumers that
        keep uncertain as a class of its own.
    hedged_coded : float, default=0.5
        For ``review="decision"``: the probability that a reader codes a finding the report
        hedges ("possible pneumonia"). The text does not decide it, and readers' conventions
        differ (CheXpert's U-ones / U-zeros; the IU coders coded 38 % of the findings the rules
        call uncertain), so the default assumes neither: 0.5. ``1.0`` reads hedged findings as
        coded (U-ones), ``0.0`` as not coded (U-zeros). With binary gold
        (:func:`calibrate_on_gold`) the decision confidence is recalibrated on the gold instead.
    seed : int, default=0
        Seeds the folds, the trained labelers and the bootstrap.
    """

    rule_signals: tuple[str, ...] = DEFAULT_RULE_SIGNALS
    models: tuple[str, ...] = DEFAULT_MODELS
    n_splits: int = 5
    n_bootstrap: int = 200
    confidence_level: float = 0.95
    min_class_count: int = 10
    pooled_models: tuple[str, ...] = ()
    pool_models: bool = True
    review: str = "decision"
    hedged_coded: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        from .labelers.base import REGISTRY
        from .signals import RULE_SIGNALS

        unknown = [s for s in self.rule_signals if s not in RULE_SIGNALS]
        if unknown:
            raise ConfigError(f"unknown rule signal(s) {unknown}; choose from {list(RULE_SIGNALS)}",
                              code="unknown_signal")
        unknown = [m for m in (*self.models, *self.pooled_models) if m not in REGISTRY]
        if unknown:
            raise ConfigError(f"unknown model signal(s) {unknown}; registered: {sorted(REGISTRY)}",
                              code="unknown_signal")
        both = sorted(set(self.models) & set(self.pooled_models))
        if both:
            raise ConfigError(f"model signal(s) {both} given both as voting and as pooled-only signals",
                              code="unknown_signal")
        if self.pooled_models and not self.pool_models:
            raise ConfigError("pooled-only model signals need pool_models=True (they feed nothing else)")
        if self.n_splits < 2:
            raise ConfigError("n_splits must be >= 2")
        if self.n_bootstrap < 0:
            raise ConfigError("n_bootstrap must be >= 0")
        if not 0 < self.confidence_level < 1:
            raise ConfigError("confidence_level must lie in (0, 1)")
        if not self.rule_signals and not self.models:
            raise ConfigError("the noise audit needs at least one signal")
        if self.review not in ("decision", "status"):
            raise ConfigError(f"review must be decision or status, not {self.review!r}")
        if not 0.0 <= self.hedged_coded <= 1.0:
            raise ConfigError(f"hedged_coded is a probability, got {self.hedged_coded}")

    def to_dict(self) -> dict[str, Any]:
        return {"rule_signals": list(self.rule_signals), "models": list(self.models), "n_splits": self.n_splits,
                "n_bootstrap": self.n_bootstrap, "confidence_level": self.confidence_level,
                "min_class_count": self.min_class_count, "pooled_models": list(self.pooled_models),
                "pool_models": self.pool_models, "review": self.review, "hedged_coded": self.hedged_coded,
                "seed": self.seed}


ProgressFn = Callable[[str, int, int], None]


def _strip(result: ReportResult) -> ReportResult:
    """Keep the labels (with their evidence offsets), drop the intermediate records."""
    return result.replace(sections=(), sentences=(), mentions=(), assertions=())


def collect_signals(
    reports: Sequence[Report],
    rule_labeler: Any,
    config: NoiseConfig | None = None,
    *,
    audited: Any = None,
    on_progress: ProgressFn | None = None,
) -> tuple[SignalMatrix, list[ReportResult]]:
    """Label ``reports`` with the rules and compute every signal of ``config``.

    ``audited``: another labeler whose labels are audited instead of the rules' (a classifier, an
    ensemble: any labeler of the same observations). The signals stay the same — they come from the
    rules and the models trained on the rules' labels, and none of them is the audited labeler —
    only the labels whose confidence and noise rates are estimated change.

    Returns the signal arrays and the rule results (stripped to their labels and evidence).
    Reports the rules (or the audited labeler) fail on are left out of both; their ids are
    logged (never their text).
    """
    cfg = config or NoiseConfig()
    reports = list(reports)
    if not reports:
        raise DataError("no reports to audit", code="empty_input")
    observations = tuple(rule_labeler.observations)
    sig = RuleSignals(rule_labeler, cfg.rule_signals) if cfg.rule_signals else None
    kept: list[Report] = []
    results: list[ReportResult] = []
    rule_votes: list[np.ndarray] = []
    n = len(reports)
    for i, (report, res) in enumerate(zip(reports, rule_labeler.label(reports)), start=1):
        if res.errors:
            log.warning("noise audit: rules failed on study_uid=%s; left out", report.study_uid)
            continue
        if sig is not None:
            rule_votes.append(sig.statuses(report.text, res))
        kept.append(report)
        results.append(res)
        if on_progress is not None and (i % 256 == 0 or i == n):
            on_progress("rules", i, n)
    if not kept:
        raise DataError("the rules failed on every report", code="labeling_failed")
    label_source = results
    if audited is not None:
        theirs = tuple(getattr(audited, "observations", observations))
        if theirs != observations:
            raise ConfigError(f"the audited labeler labels {list(theirs)}, the rules {list(observations)}: "
                              "audit it with the ruleset it was built on (--rules)", code="label_set_mismatch")
        audited_results = list(audited.label(kept))
        ok = [not r.errors and r.study_uid == k.study_uid for r, k in zip(audited_results, kept)]
        for k, good in zip(kept, ok):
            if not good:
                log.warning("noise audit: the audited labeler failed on study_uid=%s; left out", k.study_uid)
        if not any(ok):
            raise DataError("the audited labeler failed on every report", code="labeling_failed")

        def pick(items: list[Any]) -> list[Any]:
            return [x for x, good in zip(items, ok) if good]

        kept, results, rule_votes, label_source = pick(kept), pick(results), pick(rule_votes), pick(audited_results)

    statuses = np.array([[res.label(o).status for o in observations] for res in label_source], dtype=object)
    labels = statuses_to_classes(statuses)
    columns: list[np.ndarray] = []
    names: list[str] = []
    if sig is not None:
        columns.append(sig.classes(np.stack(rule_votes)))
        names += list(sig.names)
    pred_probs: dict[str, np.ndarray] = {}
    rules_path = getattr(rule_labeler, "rules", None)
    sections = getattr(rule_labeler, "label_sections", None)
    for name in (*cfg.models, *cfg.pooled_models):
        if len(kept) < cfg.n_splits:
            raise DataError(f"the {name} signal needs at least n_splits={cfg.n_splits} reports, got {len(kept)}",
                            code="too_few_reports")

        def factory(name: str = name) -> Any:
            return make_labeler(name, rules=rules_path, label_sections=sections, seed=cfg.seed)

        def fold_progress(done: int, total: int, name: str = name) -> None:
            if on_progress is not None:
                on_progress(name, done, total)

        proba = cross_val_predict_proba(factory, kept, labels=results, n_splits=cfg.n_splits, seed=cfg.seed,
                                        on_progress=fold_progress)
        cls, votes = proba_votes(proba)
        pred_probs[name] = cls
        if name in cfg.models:  # pooled-only signals do not vote
            columns.append(votes)
            names.append(name)
    L = label_matrix(columns)
    matrix = SignalMatrix(tuple(r.study_uid for r in kept), observations, labels, statuses, tuple(names), L,
                          pred_probs)
    return matrix, [_strip(r) for r in results]


def _reader_agrees(posteriors: np.ndarray, labels: np.ndarray, hedged_coded: float) -> np.ndarray:
    """P(a reader's coded / not-coded decision agrees with the label's), posteriors (..., K), labels (...).

    The reader codes a finding with probability ``P(positive) + hedged_coded * P(uncertain)``."""
    p_coded = posteriors[..., POSITIVE_CLASS] + hedged_coded * posteriors[..., UNCERTAIN_CLASS]
    coded = np.isin(labels, CODED_CLASSES)
    return np.clip(np.where(coded, p_coded, 1.0 - p_coded), 0.0, 1.0)


@dataclass(frozen=True)
class ObservationNoise:
    """The noise audit of one observation.

    Attributes
    ----------
    observation : str
        Observation id.
    name : str
        Display name.
    estimate : NoiseEstimate
        Dawid–Skene estimate over the classes negative / positive / uncertain.
    coded : NoiseEstimate
        The same, over not coded (negative) / coded (positive or uncertain).
    confident_learning : NoiseEstimate or None
        Confident learning's estimate on the first model signal's out-of-fold probabilities.
    signals : dict
        Per signal: ``coverage``, ``agreement`` with the audited labels, estimated ``accuracy``.
    warnings : tuple of str
        When not to trust the estimate (tiny classes, correlated signals, estimators that disagree).
    n_issues : int
        Labels confident learning flags as issues.
    """

    observation: str
    name: str
    estimate: NoiseEstimate
    coded: NoiseEstimate
    confident_learning: NoiseEstimate | None
    signals: dict[str, dict[str, float]]
    warnings: tuple[str, ...]
    n_issues: int = 0
    excess_agreement: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class NoiseAudit:
    """Per-report confidences and per-observation noise estimates of a corpus.

    Attributes
    ----------
    signals : SignalMatrix
    names : tuple of str, shape (F,)
        Display names of the observations.
    confidence : ndarray of shape (N, F)
        Probability that each emitted label is right (its class: negative / positive / uncertain).
    posteriors : ndarray of shape (N, F, K)
        Probabilities of the true class: the label model's posterior, averaged with the model
        signals' out-of-fold probabilities when ``config.pool_models``.
    cl_issue : ndarray of bool, shape (N, F)
        Labels confident learning flags.
    per_observation : tuple of ObservationNoise
    config : NoiseConfig
    provenance : dict
    calibrated : bool
        True when ``confidence`` was recalibrated on gold (:func:`calibrate_on_gold`).
    derived : tuple of str
        Observations the ruleset derives from the others (No Finding): left out of the report-level
        score, which their own labels would count twice.
    gold_decision : ndarray of shape (N, F) or None
        Set by :func:`calibrate_on_gold` with binary gold: its probability that each label's
        coded / not-coded decision is right (NaN for observations the gold does not have);
        :meth:`decision_confidence` returns it where set.
    """

    signals: SignalMatrix
    names: tuple[str, ...]
    confidence: np.ndarray
    posteriors: np.ndarray
    cl_issue: np.ndarray
    per_observation: tuple[ObservationNoise, ...]
    config: NoiseConfig
    provenance: dict[str, Any] = field(default_factory=dict)
    calibrated: bool = False
    gold: dict[str, Any] | None = None
    derived: tuple[str, ...] = ()
    gold_decision: np.ndarray | None = None

    @property
    def study_uids(self) -> tuple[str, ...]:
        return self.signals.study_uids

    @property
    def observations(self) -> tuple[str, ...]:
        return self.signals.observations

    @property
    def suspicion(self) -> np.ndarray:
        """Probability that each label is wrong in the review's terms (``config.review``), shape (N, F).

        ``"decision"`` (default): ``1 - decision_confidence()``, a reader deciding coded / not coded
        would decide otherwise; ``"status"``: ``1 - confidence``, the label's class is wrong.
        """
        if self.config.review == "status":
            return 1.0 - self.confidence
        return 1.0 - self.decision_confidence()

    @property
    def report_suspicion(self) -> np.ndarray:
        """Probability that at least one label of a report is wrong (:attr:`suspicion`), shape (N,).

        Over the primary observations, labels taken as independent. A derived observation (No
        Finding) is a function of the others: its label is wrong when one of theirs is, so
        multiplying its confidence in would count the same evidence twice.
        """
        return self.report_suspicion_among()

    def report_suspicion_among(self, observations: Sequence[str] | None = None) -> np.ndarray:
        """:attr:`report_suspicion` counting only the labels of ``observations`` (``None``: all)."""
        cols = (list(range(len(self.observations))) if observations is None
                else [self.observations.index(o) for o in observations])
        derived = set(self.derived)
        primary = [j for j in cols if self.observations[j] not in derived] or cols
        return 1.0 - np.prod(np.clip(1.0 - self.suspicion[:, primary], 0.0, 1.0), axis=1)

    def decision_confidence(self) -> np.ndarray:
        """Probability that a reader's coded / not-coded decision agrees with each label's, shape (N, F).

        A label is coded when positive or uncertain (how binary labels and binary gold read it).
        The reader codes a finding with probability ``P(positive) + hedged_coded * P(uncertain)``
        under :attr:`posteriors`: a hedged finding is coded with probability
        ``config.hedged_coded`` (0.5 by default: the text does not decide it). After
        :func:`calibrate_on_gold` with binary gold, the gold's values (:attr:`gold_decision`)
        replace these for every observation the gold has.
        """
        raw = _reader_agrees(self.posteriors, self.signals.labels, self.config.hedged_coded)
        if self.gold_decision is None:
            return raw
        return np.where(np.isnan(self.gold_decision), raw, self.gold_decision)

    def most_likely(self) -> np.ndarray:
        """Most probable true class per report and observation, shape (N, F)."""
        return self.posteriors.argmax(axis=2)

    def confidence_of(self, study_uid: str, observation: str) -> float:
        """Confidence of one label (``KeyError`` for an unknown study or observation)."""
        i = self.row_index[study_uid]
        return float(self.confidence[i, self.observations.index(observation)])

    @functools.cached_property
    def row_index(self) -> dict[str, int]:
        """``{study_uid: row}``."""
        return {u: i for i, u in enumerate(self.study_uids)}

    def ranked(self, *, by: str = "label", top: int | None = None, min_suspicion: float = 0.0,
               observations: Sequence[str] | None = None) -> list[tuple[int, int]]:
        """``(report index, observation index)`` pairs for review, most suspicious first.

        Parameters
        ----------
        by : {"label", "report", "observation"}, default="label"
            ``label``: every (report, observation) by its suspicion; ``report``: reports by the
            probability that any of their labels is wrong (:attr:`report_suspicion`), each
            report's labels together;
            ``observation``: grouped by observation (output order), each group by suspicion.
        top : int, default=None
            At most this many labels (``label``, per observation for ``observation``) or reports
            (``report``).
        min_suspicion : float, default=0.0
            Leave out labels whose suspicion is below this.
        observations : sequence of str, default=None
            Restrict to these observation ids.
        """
        if by not in ("label", "report", "observation"):
            raise ConfigError(f"--by must be label, report or observation, not {by!r}")
        cols = list(range(len(self.observations)))
        if observations is not None:
            unknown = sorted(set(observations) - set(self.observations))
            if unknown:
                raise ConfigError(f"unknown observation(s) {unknown}")
            cols = [j for j, o in enumerate(self.observations) if o in set(observations)]
        sus = self.suspicion
        out: list[tuple[int, int]] = []
        if by == "label":
            flat = [(i, j) for j in cols for i in np.flatnonzero(sus[:, j] >= min_suspicion)]
            flat.sort(key=lambda ij: (-sus[ij], ij[0], ij[1]))
            out = flat[:top] if top is not None else flat
        elif by == "observation":
            for j in cols:
                rows = np.flatnonzero(sus[:, j] >= min_suspicion)
                rows = rows[np.argsort(-sus[rows, j], kind="stable")]
                out += [(int(i), j) for i in (rows[:top] if top is not None else rows)]
        else:
            rep = self.report_suspicion_among([self.observations[j] for j in cols])
            order = np.argsort(-rep, kind="stable")
            n_reports = 0
            for i in order:
                pairs = [(int(i), j) for j in cols if sus[i, j] >= min_suspicion]
                if not pairs:
                    continue
                pairs.sort(key=lambda ij: -sus[ij])
                out += pairs
                n_reports += 1
                if top is not None and n_reports >= top:
                    break
        return [(int(i), int(j)) for i, j in out]

    # -- output ---------------------------------------------------------------------------------
    def table(self) -> list[dict[str, Any]]:
        """One summary row per observation (what ``labeler noise`` prints)."""
        rows = []
        for ob in self.per_observation:
            est = ob.estimate
            ci = est.interval("error_rate")
            pw = est.p_wrong_given_label
            counts = est.label_counts
            rows.append({
                "observation": ob.name,
                "n_positive": int(counts[1]), "n_negative": int(counts[0]), "n_uncertain": int(counts[2]),
                "error_rate": est.error_rate,
                "error_rate_ci": None if ci is None else (float(ci[0]), float(ci[1])),
                "p_wrong_positive": _num(pw[1]), "p_wrong_negative": _num(pw[0]), "p_wrong_uncertain": _num(pw[2]),
                "cl_error_rate": None if ob.confident_learning is None else ob.confident_learning.error_rate,
                "warnings": list(ob.warnings),
            })
        return rows

    def _confidence_source(self) -> str:
        if self.calibrated:
            return ", recalibrated on gold"
        if self.config.pool_models and self.signals.pred_probs:
            return ", from the label model averaged with the model signals' out-of-fold probabilities (no gold)"
        return ", from the label model (no gold)"

    def _suspicion_definition(self) -> str:
        if self.config.review == "status":
            return "review list: 1 - confidence"
        if self.gold_decision is not None:
            how = ("recalibrated on binary gold (per observation: hedged findings read as the gold codes them, "
                   "then Platt scaling)")
        else:
            how = f"a hedged finding coded with probability {self.config.hedged_coded}"
        return f"review list: P(a reader deciding coded / not coded decides otherwise than the label), {how}"

    def to_dict(self) -> dict[str, Any]:
        """The ``<out>.noise.json`` document (numbers and ids only, no report text)."""
        return {
            **self.provenance,
            "definition": {
                "classes": list(NOISE_CLASSES),
                "confidence": "probability that the emitted label's class (negative = absent or not mentioned, "
                              "positive, uncertain) is the report's true one"
                              + self._confidence_source(),
                "joint": "joint[i][j] = P(label = i, true = j)",
                "noise_matrix": "noise_matrix[i][j] = P(label = i | true = j) (cleanlab)",
                "inverse_noise_matrix": "inverse_noise_matrix[i][j] = P(true = i | label = j) (cleanlab)",
                "p_wrong_given_label": "P(true != k | label = k) per class k",
                "coded": "the same over not coded (negative) / coded (positive or uncertain)",
                "suspicion": self._suspicion_definition(),
                "intervals": f"{self.config.confidence_level:.0%} percentile bootstrap over reports, "
                             f"{self.config.n_bootstrap} resamples",
            },
            "config": self.config.to_dict(),
            "n_reports": len(self.study_uids),
            "signals": list(self.signals.signal_names),
            "calibrated_on_gold": self.calibrated,
            "gold": self.gold,
            "observations": [_observation_dict(ob) for ob in self.per_observation],
        }


def _num(x: Any, digits: int = 6) -> float | None:
    if x is None:
        return None
    v = float(x)
    return None if not np.isfinite(v) else round(v, digits)


def _matrix(a: np.ndarray | None) -> list[list[float | None]] | None:
    if a is None:
        return None
    return [[_num(v) for v in row] for row in np.asarray(a)]


def _per_class(a: np.ndarray, names: Sequence[str] = NOISE_CLASSES) -> dict[str, float | None]:
    return {n: _num(v) for n, v in zip(names, np.asarray(a))}


def estimate_dict(est: NoiseEstimate, names: Sequence[str] = NOISE_CLASSES) -> dict[str, Any]:
    """A :class:`NoiseEstimate` as JSON: values with intervals, per class where it applies."""

    def with_ci(quantity: str, value: Any) -> Any:
        ci = est.interval(quantity)
        arr = np.asarray(value)
        if arr.ndim == 0:
            return {"value": _num(arr), "ci": None if ci is None else [_num(ci[0]), _num(ci[1])]}
        if arr.ndim == 1:
            return {n: {"value": _num(arr[k]), "ci": None if ci is None else [_num(ci[0][k]), _num(ci[1][k])]}
                    for k, n in enumerate(names)}
        return {"value": _matrix(arr), "ci_low": None if ci is None else _matrix(ci[0]),
                "ci_high": None if ci is None else _matrix(ci[1])}

    return {
        "method": est.method,
        "label_counts": {n: int(c) for n, c in zip(names, est.label_counts)},
        "error_rate": with_ci("error_rate", est.error_rate),
        "p_wrong_given_label": with_ci("p_wrong_given_label", est.p_wrong_given_label),
        "precision": with_ci("precision", est.precision),
        "recall": with_ci("recall", est.recall),
        "true_prior": with_ci("true_prior", est.true_prior),
        "joint": _matrix(est.joint),
        "noise_matrix": with_ci("noise_matrix", est.noise_matrix),
        "inverse_noise_matrix": with_ci("inverse_noise_matrix", est.inverse_noise_matrix),
    }


def _observation_dict(ob: ObservationNoise) -> dict[str, Any]:
    out: dict[str, Any] = {
        "observation": ob.name,
        "id": ob.observation,
        "estimate": estimate_dict(ob.estimate),
        "coded": estimate_dict(ob.coded, ("not_coded", "coded")),
        "confident_learning": None if ob.confident_learning is None else estimate_dict(ob.confident_learning),
        "n_label_issues": ob.n_issues,
        "signals": ob.signals,
        "excess_agreement": ob.excess_agreement,
        "warnings": list(ob.warnings),
    }
    return out


def _warnings(est: NoiseEstimate, cl: NoiseEstimate | None, excess: dict[str, float], n_covote: dict[str, int],
              converged: bool, min_count: int) -> list[str]:
    out = []
    for k, name in enumerate(NOISE_CLASSES):
        c = int(est.label_counts[k])
        if 0 < c < min_count:
            out.append(f"tiny class: only {c} {name} label(s); P(wrong | {name}) is unreliable")
    if not converged:
        out.append("the label model did not converge; estimates are unreliable")
    for pair, value in excess.items():
        if value > 0.1 and n_covote.get(pair, 0) >= 30:
            out.append(f"correlated signals: {pair} agree {value:.0%} more often than the label model explains; "
                       f"estimates may be optimistic")
    if cl is not None:
        a, b = est.error_rate, cl.error_rate
        if abs(a - b) > max(0.01, 0.5 * max(a, b)):
            out.append(f"estimators disagree: label model {a:.2%} vs confident learning {b:.2%} errors")
    return out


def _have_cleanlab() -> bool:
    try:
        import cleanlab  # noqa: F401
    except ImportError:
        return False
    return True


def audit_signals(matrix: SignalMatrix, names: Sequence[str] | None = None, config: NoiseConfig | None = None,
                  *, provenance: dict[str, Any] | None = None, derived: Sequence[str] = ()) -> NoiseAudit:
    """Fit the label model and confident learning per observation; confidences and noise estimates.

    Parameters
    ----------
    matrix : SignalMatrix
    names : sequence of str, default=None
        Display names (``None``: the observation ids).
    config : NoiseConfig, default=None
    provenance : dict, default=None
        Engine / labeler / ruleset identity, copied into :meth:`NoiseAudit.to_dict`.
    derived : sequence of str, default=()
        Observations derived from the others (see :attr:`NoiseAudit.derived`).
    """
    cfg = config or NoiseConfig()
    names = tuple(names or matrix.observations)
    n, f, m = matrix.L.shape
    k = len(NOISE_CLASSES)
    confidence = np.zeros((n, f))
    posteriors = np.zeros((n, f, k))
    cl_issue = np.zeros((n, f), dtype=bool)
    # confident learning reads the first voting model signal
    cl_name = next((s for s in matrix.signal_names if s in matrix.pred_probs), None)
    if cl_name is not None and not _have_cleanlab():
        log.warning("cleanlab is not installed (pip install 'radlabeler[noise]'): confident learning is skipped")
        cl_name = None
    per_obs = []
    for j, obs in enumerate(matrix.observations):
        labels = matrix.labels[:, j]
        L = matrix.L[:, j, :]
        pp = matrix.pred_probs[cl_name][:, j, :] if cl_name is not None else None
        # the rules' label is the aggregate of its section-restricted variants, already in L:
        # letting it vote too would count that evidence twice
        est = estimate_noise(labels, L, k, pred_probs=pp, n_bootstrap=cfg.n_bootstrap,
                             confidence_level=cfg.confidence_level, seed=cfg.seed, labels_in_model=False)
        fit = est.extras["label_model"]
        post = np.asarray(est.extras["posteriors"], dtype=np.float64)
        if cfg.pool_models and matrix.pred_probs:
            # linear opinion pool: the label model and each model signal estimate the same
            # P(true class); averaging them is better calibrated and ranks errors better than
            # either alone (evaluation/noise_iu.py)
            post = np.mean([post] + [np.asarray(p[:, j, :], dtype=np.float64) for p in matrix.pred_probs.values()],
                           axis=0)
        confidence[:, j] = np.clip(label_confidence(labels, post), 0.0, 1.0)
        posteriors[:, j, :] = post
        cl = est.extras.get("confident_learning")
        n_issues = 0
        if pp is not None:
            issues = find_label_issues(labels, pp)
            cl_issue[:, j] = issues.mask
            n_issues = int(issues.mask.sum())
        summary = signal_summary(labels, L, est.extras["posteriors"])
        signals = {s: {"coverage": _num(summary["coverage"][l], 4), "agreement": _num(summary["agreement"][l], 4),
                       "accuracy": _num(summary["accuracy"][l], 4)}
                   for l, s in enumerate(matrix.signal_names)}
        ex = excess_agreement(L, k)
        excess: dict[str, float] = {}
        n_covote: dict[str, int] = {}
        for a in range(m):
            for b in range(a + 1, m):
                if np.isfinite(ex[a, b]):
                    key = f"{matrix.signal_names[a]} & {matrix.signal_names[b]}"
                    excess[key] = round(float(ex[a, b]), 4)
                    n_covote[key] = int(((L[:, a] != ABSTAIN) & (L[:, b] != ABSTAIN)).sum())
        warns = _warnings(est, cl, excess, n_covote, fit.converged, cfg.min_class_count)
        per_obs.append(ObservationNoise(obs, names[j], est, est.collapse(CODED_GROUPS), cl, signals, tuple(warns),
                                        n_issues, excess))
    return NoiseAudit(matrix, names, confidence, posteriors, cl_issue, tuple(per_obs), cfg, dict(provenance or {}),
                      derived=tuple(o for o in derived if o in matrix.observations))


def audit_provenance(rule_labeler: Any, config: NoiseConfig, audited: Any = None) -> dict[str, Any]:
    """Engine, labeler, ruleset and configuration of an audit (for outputs). ``labeler`` is the
    audited one; with another labeler than the rules, ``signals_from`` is the rule labeler."""
    extra = {"signals_from": rule_labeler.info().to_dict()} if audited is not None else {}
    return {
        "engine_version": __version__,
        "labeler": (audited if audited is not None else rule_labeler).info().to_dict(),
        **extra,
        "noise_config": config.to_dict(),
        "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
    }


def audit_corpus(reports: Iterable[Report], rule_labeler: Any, config: NoiseConfig | None = None, *,
                 audited: Any = None, on_progress: ProgressFn | None = None) -> tuple[NoiseAudit, list[ReportResult]]:
    """The whole audit of a corpus: signals, label model, confident learning (no gold).

    Returns the audit and the rule results (labels with evidence) of the audited reports.
    ``audited``: audit that labeler's labels instead of the rules' (see :func:`collect_signals`).

    Examples
    --------
    >>> from labeler import Report, RuleLabeler
    >>> texts = ["IMPRESSION: Small left pleural effusion.", "IMPRESSION: No pleural effusion.",
    ...          "FINDINGS: Possible effusion. IMPRESSION: No effusion.", "IMPRESSION: Clear lungs."] * 5
    >>> reports = [Report(str(i), t) for i, t in enumerate(texts)]
    >>> audit, _ = audit_corpus(reports, RuleLabeler(), NoiseConfig(n_bootstrap=0, n_splits=2))
    >>> audit.confidence.shape
    (20, 14)
    >>> bool(((audit.confidence >= 0) & (audit.confidence <= 1)).all())
    True
    """
    cfg = config or NoiseConfig()
    matrix, results = collect_signals(list(reports), rule_labeler, cfg, audited=audited, on_progress=on_progress)
    return audit_matrix(matrix, rule_labeler, cfg, audited=audited), results


def audit_matrix(matrix: SignalMatrix, rule_labeler: Any, config: NoiseConfig | None = None, *,
                 audited: Any = None) -> NoiseAudit:
    """:func:`audit_signals` with the rule labeler's display names, derived observations and provenance
    (the second half of :func:`audit_corpus`, for a matrix whose labels were replaced)."""
    cfg = config or NoiseConfig()
    ruleset = getattr(rule_labeler, "ruleset", None)
    names = [ruleset.display_name(o) for o in matrix.observations] if ruleset is not None else None
    derived = [d.observation for d in ruleset.aggregation.derived] if ruleset is not None else []
    return audit_signals(matrix, names, cfg, provenance=audit_provenance(rule_labeler, cfg, audited),
                         derived=derived)


def signal_labelers(labeler: Any = None, rules: str | Path | None = None,
                    label_sections: Sequence[str] | None = None) -> tuple[Any, Any]:
    """(the rule labeler whose signals the audit reads, the labeler audited or ``None`` for the rules').

    ``labeler``: ``None`` (the rules of ``rules`` / ``label_sections``), a rule labeler, or any other
    labeler — then the signals come from the rules of its own ruleset (its ``rules`` /
    ``label_sections``) unless ``rules`` / ``label_sections`` are given.
    """
    from .labelers.rules import RuleLabeler

    if isinstance(labeler, RuleLabeler):
        return labeler, None
    if labeler is None:
        return RuleLabeler(rules, label_sections), None
    return RuleLabeler(rules if rules is not None else getattr(labeler, "rules", None),
                       label_sections if label_sections is not None else getattr(labeler, "label_sections", None)
                       ), labeler


# --------------------------------------------------------------------------------------------
# with gold


@dataclass(frozen=True)
class GoldCalibration:
    """Gold-measured noise and the recalibrated confidences of an audit.

    Attributes
    ----------
    audit : NoiseAudit
        The audit with ``confidence`` recalibrated (reports in the gold set get cross-fitted
        values: their own gold label never calibrates their confidence).
    measured : dict of str to NoiseEstimate
        Per observation id: the joint of (label, gold) counted on the gold reports.
    check : dict
        Per observation: on the gold reports, the error rate measured, estimated without gold, and
        estimated after cross-fitted calibration, and calibration errors (ECE) before and after;
        ``corpus_error_rate_calibrated``: the recalibrated estimate over the whole audited corpus.
    kind : {"binary", "status"}
    """

    audit: NoiseAudit
    measured: dict[str, NoiseEstimate]
    check: dict[str, dict[str, Any]]
    kind: str

    @property
    def decision_confidence(self) -> np.ndarray | None:
        """Binary gold only (else ``None``): the probability that each label's coded / not-coded
        decision is right, shape (N, F), hedged findings read as the gold codes them, and
        Platt-rescaled where the observation has enough gold positives
        (``check[obs]["recalibrated"]``); NaN for observations the gold does not have. The
        audit's :attr:`NoiseAudit.gold_decision`."""
        return self.audit.gold_decision


def _gold_classes(values: np.ndarray, kind: str) -> np.ndarray:
    """Gold values ``(G,)`` → classes: binary 0/1 → not coded / coded; status → noise classes."""
    if kind == "binary":
        return np.asarray(values, dtype=np.int64)
    return statuses_to_classes(values)


def calibrate_on_gold(audit: NoiseAudit, gold_uids: Sequence[str], gold_values: np.ndarray, kind: str, *,
                      observations: Sequence[str] | None = None, n_folds: int = 5, min_gold: int = 10,
                      seed: int = 0) -> GoldCalibration:
    """Measure noise on a gold set and recalibrate the audit's confidences on it.

    Parameters
    ----------
    audit : NoiseAudit
    gold_uids : sequence of str, shape (G,)
        Study ids of the gold reports (ids not in the audit are ignored, and counted).
    gold_values : ndarray of shape (G, F_gold)
        ``kind="binary"``: 1 coded (present or possible) / 0 not; ``kind="status"``: statuses.
    kind : {"binary", "status"}
    observations : sequence of str, default=None
        Observation ids of the gold columns (``None``: the audit's, in order).
    n_folds : int, default=5
        Cross-fitting folds for the gold reports' own calibrated confidences and for the check.
    min_gold : int, default=10
        Observations with fewer gold positives (binary) or gold reports are measured, not recalibrated.
    seed : int, default=0

    Notes
    -----
    "Right" is judged in the gold's terms: for binary gold, whether the label's coded / not-coded
    decision matches; for status gold, whether its class (negative / positive / uncertain) does.
    The recalibration is a Platt scaling of the label-model confidence with a per-class offset
    (:class:`labeler.noise.PlattCalibrator`), fitted per observation. With binary gold it rescales
    the coded / not-coded decision confidence (:meth:`NoiseAudit.decision_confidence`) after
    reading hedged findings the gold's way: ``hedged_coded`` becomes, per observation, the share
    of the rules' uncertain labels that the gold codes (smoothed towards 1/2; in the check as
    ``hedged_coded`` with ``n_hedged_gold``).
    """
    if kind not in ("binary", "status"):
        raise ConfigError(f"gold kind must be binary or status, not {kind!r}")
    gold_values = np.asarray(gold_values, dtype=object if kind == "status" else np.int64)
    obs_cols = list(observations) if observations is not None else list(audit.observations)
    if gold_values.ndim != 2 or gold_values.shape != (len(gold_uids), len(obs_cols)):
        raise DataError(f"gold values have shape {gold_values.shape}, expected {(len(gold_uids), len(obs_cols))}")
    unknown = sorted(set(obs_cols) - set(audit.observations))
    if unknown:
        raise DataError(f"gold has observation(s) the audit does not: {unknown}")
    rows = audit.row_index
    pairs = [(g, rows[u]) for g, u in enumerate(gold_uids) if u in rows]
    if not pairs:
        raise DataError("no gold report is in the audited corpus (compare the study ids)", code="gold_no_overlap")
    g_idx = np.array([p[0] for p in pairs])
    a_idx = np.array([p[1] for p in pairs])
    conf = audit.confidence.copy()
    decision = np.full(conf.shape, np.nan) if kind == "binary" else None
    measured: dict[str, NoiseEstimate] = {}
    check: dict[str, dict[str, Any]] = {}
    rng = np.random.default_rng(seed)
    folds = rng.permutation(len(pairs)) % max(2, min(n_folds, len(pairs)))
    decision_raw = audit.decision_confidence() if kind == "binary" else None
    for c, obs in enumerate(obs_cols):
        j = audit.observations.index(obs)
        gold = _gold_classes(gold_values[g_idx, c], kind)
        # every report's label class (binary: coded or not) and confidence in it; the gold rows are a subset
        if decision_raw is not None:
            all_lab = np.isin(audit.signals.labels[:, j], CODED_CLASSES).astype(np.int64)
            all_raw = decision_raw[:, j]
            n_classes = 2
        else:
            all_lab = audit.signals.labels[:, j]
            all_raw = audit.confidence[:, j]
            n_classes = len(NOISE_CLASSES)
        lab, raw = all_lab[a_idx], all_raw[a_idx]
        correct = lab == gold
        est = measured_joint(lab, gold, n_classes, n_bootstrap=audit.config.n_bootstrap,
                             confidence_level=audit.config.confidence_level, seed=seed)
        measured[obs] = est
        support = int(gold.sum()) if kind == "binary" else int((gold != NEGATIVE_CLASS).sum())
        entry: dict[str, Any] = {
            "n_gold": len(pairs), "support": support,
            "measured_error_rate": _num(1.0 - correct.mean()),
            "estimated_error_rate_no_gold": _num(1.0 - raw.mean()),
            "ece_no_gold": _num(calibration(raw, correct).ece),
        }
        fold_raw = {k: raw for k in np.unique(folds)}
        if decision is not None:
            # binary gold: read hedged findings as its readers code them (every observation; a share
            # smoothed towards 1/2, so a few hedged labels move it little); the gold reports' own
            # values come from the other folds' share
            post, labels_j = audit.posteriors[:, j, :], audit.signals.labels[:, j]
            hedged = labels_j[a_idx] == UNCERTAIN_CLASS
            q = _hedged_coded_share(hedged, gold)
            all_raw = _reader_agrees(post, labels_j, q)
            raw = all_raw[a_idx]
            own = np.zeros(len(pairs))
            for k in fold_raw:
                tr = folds != k
                fold_raw[k] = _reader_agrees(post, labels_j, _hedged_coded_share(hedged[tr], gold[tr]))[a_idx]
                own[~tr] = fold_raw[k][~tr]
            decision[:, j] = all_raw
            decision[a_idx, j] = own
            entry.update({"hedged_coded": _num(q), "n_hedged_gold": int(hedged.sum())})
        if support >= min_gold and len(pairs) >= 2 * n_folds:
            oof = np.zeros(len(pairs))
            for k in np.unique(folds):
                tr, te = folds != k, folds == k
                cal = PlattCalibrator(n_classes).fit(fold_raw[k][tr], lab[tr], correct[tr])
                oof[te] = cal.predict(fold_raw[k][te], lab[te])
            full = PlattCalibrator(n_classes).fit(raw, lab, correct)
            new = full.predict(all_raw, all_lab)
            if decision is not None:
                decision[:, j] = new
                decision[a_idx, j] = oof
            if kind == "binary":
                # confidence is of the label's class; a binary recalibration moves the coded decision:
                # keep the class-level share of the coded probability
                new = _binary_to_class_confidence(audit, j, new)
            new[a_idx] = _binary_to_class_confidence(audit, j, oof, a_idx) if kind == "binary" else oof
            conf[:, j] = np.clip(new, 0.0, 1.0)
            corpus_right = decision[:, j] if decision is not None else conf[:, j]
            entry.update({
                "corpus_error_rate_calibrated": _num(1.0 - float(np.mean(corpus_right))),
                "estimated_error_rate_calibrated": _num(1.0 - oof.mean()),
                "ece_calibrated": _num(calibration(oof, correct).ece),
                "recalibrated": True,
            })
        else:
            entry["recalibrated"] = False
        check[obs] = entry
    gold_info = {"kind": kind, "n_gold": int(len(pairs)), "n_gold_not_in_corpus": int(len(gold_uids) - len(pairs)),
                 "observations": {audit.names[audit.observations.index(o)]: {
                     **check[o], "measured": estimate_dict(measured[o], ("not_coded", "coded") if kind == "binary"
                                                           else NOISE_CLASSES)} for o in obs_cols}}
    new_audit = NoiseAudit(audit.signals, audit.names, conf, audit.posteriors, audit.cl_issue, audit.per_observation,
                           audit.config, audit.provenance, calibrated=True, gold=gold_info, derived=audit.derived,
                           gold_decision=decision)
    return GoldCalibration(new_audit, measured, check, kind)


def _hedged_coded_share(hedged: np.ndarray, gold_coded: np.ndarray) -> float:
    """Share of the hedged (uncertain) labels that binary gold codes, smoothed towards 1/2
    (Beta(1, 1): with no hedged label in the gold, the no-convention 0.5)."""
    return float((np.sum(gold_coded[hedged]) + 1.0) / (np.sum(hedged) + 2.0))


def _binary_to_class_confidence(audit: NoiseAudit, j: int, p_decision_right: np.ndarray,
                                rows: np.ndarray | None = None) -> np.ndarray:
    """Turn P(coded decision right) into P(label class right), keeping the label model's split.

    For a negative label the two are the same. For a positive (uncertain) label, the label
    model's share ``P(positive) / P(coded)`` (``P(uncertain) / P(coded)``) of the coded probability
    is kept.
    """
    idx = np.arange(audit.confidence.shape[0]) if rows is None else rows
    labels = audit.signals.labels[idx, j]
    post = audit.posteriors[idx, j, :]
    p_coded = post[:, list(CODED_CLASSES)].sum(axis=1)
    own = label_confidence(labels, post)
    share = np.where(p_coded > 0, own / np.where(p_coded > 0, p_coded, 1.0), 1.0)
    return np.where(labels == NEGATIVE_CLASS, p_decision_right, p_decision_right * share)


# --------------------------------------------------------------------------------------------
# the review list and the `labeler noise` run

#: columns of the review CSV, in order
REVIEW_COLUMNS: tuple[str, ...] = (
    "rank", "study_uid", "observation", "label", "status", "confidence", "suspicion", "report_suspicion",
    "likely", "disagreeing_signals", "cl_issue", "rule_id", "modifier_rule_id", "section", "evidence",
)


def _cell(status: AssertionStatus) -> str:
    v = status_to_chexpert(status)
    return "" if v is None else str(v)


def _sentence(text: str | None, start: int, end: int) -> str:
    if text is None:
        return ""
    return " ".join(text[start:end].split())


def review_rows(audit: NoiseAudit, results: Sequence[ReportResult], pairs: Sequence[tuple[int, int]],
                texts: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The review list: one row per (report, observation) pair of ``pairs``, in that order.

    ``evidence`` is the sentence that decided the rules' label (from ``texts``, keyed by study
    uid; empty without it), with its ``rule_id``, ``modifier_rule_id`` and ``section``.
    ``disagreeing_signals`` lists the signals whose vote differs from the label's class.
    ``confidence`` is the label's (its class right); ``suspicion`` and ``report_suspicion`` are
    what the list is ranked by (:attr:`NoiseAudit.suspicion`, ``config.review``).
    """
    sus = audit.suspicion
    rep_sus = audit.report_suspicion
    likely = audit.most_likely()
    out = []
    for rank, (i, j) in enumerate(pairs, start=1):
        obs = audit.observations[j]
        res = results[i]
        lab = res.label(obs)
        status = audit.signals.statuses[i, j]  # the audited label (the rules' unless another labeler's)
        ev = lab.evidence[0] if lab.evidence else None
        label_class = int(audit.signals.labels[i, j])
        disagree = []
        for s, name in enumerate(audit.signals.signal_names):
            v = int(audit.signals.L[i, j, s])
            if v != ABSTAIN and v != label_class:
                disagree.append(f"{name}={NOISE_CLASSES[v]}")
        out.append({
            "rank": rank,
            "study_uid": res.study_uid,
            "observation": audit.names[j],
            "label": _cell(status),
            "status": status.value,
            "confidence": round(float(audit.confidence[i, j]), 4),
            "suspicion": round(float(sus[i, j]), 4),
            "report_suspicion": round(float(rep_sus[i]), 4),
            "likely": NOISE_CLASSES[int(likely[i, j])],
            "disagreeing_signals": "; ".join(disagree),
            "cl_issue": bool(audit.cl_issue[i, j]),
            "rule_id": ev.rule_id if ev is not None else (lab.rule_id or ""),
            "modifier_rule_id": ev.modifier.rule_id if ev is not None and ev.modifier is not None else "",
            "section": ev.section if ev is not None else "",
            "evidence": _sentence((texts or {}).get(res.study_uid), ev.sentence_start, ev.sentence_end)
            if ev is not None else "",
        })
    return out


def write_review(path: str | Path, rows: Sequence[dict[str, Any]]) -> None:
    """Write review rows to a CSV file (:data:`REVIEW_COLUMNS`)."""
    import csv

    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(REVIEW_COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def noise_path(output: str | Path) -> Path:
    """``<out>.noise.json`` beside an output file."""
    out = Path(output)
    return out.with_name(out.name + ".noise.json")


@dataclass
class NoiseRunSummary:
    """What ``labeler noise`` did."""

    input: str
    output: str
    noise_file: str
    n_rows: int = 0
    n_reports: int = 0
    n_errors: int = 0
    n_review_rows: int = 0
    seconds: float = 0.0
    errors_file: str | None = None
    audit: NoiseAudit | None = None
    gold: GoldCalibration | None = None


def _read_corpus(input_path: str | Path, opts: Any, errors: Any) -> tuple[list[Report], int]:
    from .ingest import read_reports

    reports: list[Report] = []
    n_rows = 0
    for item in read_reports(input_path, opts):
        if isinstance(item, Report):
            n_rows += len(item.rows) or 1
            reports.append(item)
        else:
            n_rows += 1
            errors.write(item)
    return reports, n_rows


def read_gold(path: str | Path, audit: NoiseAudit, *, kind: str = "status", key: str = "study_uid"
              ) -> tuple[list[str], np.ndarray, list[str]]:
    """A gold labels file (the output contract: ``1`` / ``0`` / ``-1`` / blank) → (uids, values, observation ids).

    Columns are matched to the audit's observations by display name or id; other columns are an
    error. ``kind="binary"``: ``1`` = coded, ``0`` or blank = not coded (``-1`` is an error);
    ``kind="status"``: the CheXpert statuses.
    """
    from .label_table import read_label_table
    from .vocab import chexpert_to_status

    table = read_label_table(path, key=key)
    by_name = {n: o for n, o in zip(audit.names, audit.observations)}
    by_name.update({o: o for o in audit.observations})
    unknown = [c for c in table.observations if c not in by_name]
    if unknown:
        raise DataError(f"{Path(path).name}: gold column(s) {unknown} are not observations of the audit",
                        code="gold_columns")
    obs = [by_name[c] for c in table.observations]
    values = table.values
    if kind == "binary":
        if np.any(values == -1):
            raise DataError(f"{Path(path).name}: binary gold holds -1 (uncertain); use --gold-kind status",
                            code="gold_values")
        out: np.ndarray = (values == 1).astype(np.int64)
    elif kind == "status":
        out = np.empty(values.shape, dtype=object)
        for idx, v in np.ndenumerate(values):
            out[idx] = chexpert_to_status(None if np.isnan(v) else int(v))
    else:
        raise ConfigError(f"gold kind must be binary or status, not {kind!r}")
    return list(table.keys), out, obs


def noise(
    input_path: str | Path,
    output_path: str | Path,
    *,
    ingest: Any = None,
    rules: str | Path | None = None,
    label_sections: Sequence[str] | None = None,
    labeler: Any = None,
    config: NoiseConfig | None = None,
    gold_path: str | Path | None = None,
    gold_kind: str = "status",
    gold_key: str = "study_uid",
    by: str = "label",
    top: int | None = 1000,
    min_suspicion: float = 0.0,
    overwrite: bool = False,
    on_progress: ProgressFn | None = None,
    command: str | None = None,
) -> NoiseRunSummary:
    """Audit a corpus's labels: write the review list (CSV) and ``<out>.noise.json``.

    Parameters
    ----------
    input_path : str or Path
        Reports, read as ``labeler label`` reads them (``ingest``).
    output_path : str or Path
        Review CSV (:data:`REVIEW_COLUMNS`), most suspicious labels first; ``<out>.noise.json``
        beside it holds the per-observation noise estimates, and ``<out>.errors.jsonl`` any input
        rows that could not be read.
    ingest : IngestOptions, default=None
    rules, label_sections : default=None
        The rule labeler: under audit, and the source of the signals.
    labeler : labeler, default=None
        Audit this labeler's labels instead of the rules' (a classifier or an ensemble of the same
        observations); the signals still come from the rules (:func:`collect_signals`).
    config : NoiseConfig, default=None
    gold_path : str or Path, default=None
        Optional gold labels file keyed by ``gold_key`` (``kind`` binary or status): adds measured
        noise and recalibrates the confidences (:func:`calibrate_on_gold`).
    by, top, min_suspicion : see :meth:`NoiseAudit.ranked`
    overwrite : bool, default=False
    on_progress : callable(stage, done, total), default=None
    command : str, default=None
        Recorded in the noise file.

    Returns
    -------
    NoiseRunSummary
    """
    import time

    from .export import ErrorWriter, sidecar_paths, write_json
    from .ingest import IngestOptions

    start = time.perf_counter()
    opts = ingest or IngestOptions()
    cfg = config or NoiseConfig()
    out = Path(output_path)
    side = noise_path(out)
    errors_path = sidecar_paths(out)["errors"]
    existing = [p for p in (out, side, errors_path) if p.exists()]
    if existing and not overwrite:
        raise ConfigError(f"output exists: {', '.join(map(str, existing))} (pass --overwrite to replace)",
                          code="output_exists")
    if not Path(input_path).exists():
        raise DataError(f"input not found: {input_path}")
    if gold_path is not None and not Path(gold_path).exists():
        raise DataError(f"gold file not found: {gold_path}")
    if top is not None and top < 1:
        raise ConfigError("--top must be >= 1")
    if out.parent and not out.parent.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
    if errors_path.exists():
        errors_path.unlink()
    lab, other = signal_labelers(labeler, rules, label_sections)
    errors = ErrorWriter(errors_path)
    try:
        reports, n_rows = _read_corpus(input_path, opts, errors)
        if on_progress is not None:
            on_progress("read", len(reports), len(reports))
        audit, results = audit_corpus(reports, lab, cfg, audited=other, on_progress=on_progress)
        audited = set(audit.study_uids)
        for report in reports:
            if report.study_uid not in audited:  # the rules (or the audited labeler) failed on it
                for row in report.rows or (0,):
                    errors.write(RowError(row, "labeling_failed", "the labeler failed on this report",
                                          report.study_uid, report.source))
    finally:
        errors.close()
    gold_cal = None
    if gold_path is not None:
        uids, values, obs = read_gold(gold_path, audit, kind=gold_kind, key=gold_key)
        gold_cal = calibrate_on_gold(audit, uids, values, gold_kind, observations=obs, seed=cfg.seed)
        audit = gold_cal.audit
    pairs = audit.ranked(by=by, top=top, min_suspicion=min_suspicion)
    texts = {r.study_uid: r.text for r in reports}
    rows = review_rows(audit, results, pairs, texts)
    write_review(out, rows)
    summary = NoiseRunSummary(str(input_path), str(out), str(side), n_rows=n_rows, n_reports=len(results),
                              n_errors=errors.n_fatal, n_review_rows=len(rows),
                              errors_file=str(errors_path) if errors_path.exists() else None, audit=audit,
                              gold=gold_cal)
    summary.seconds = time.perf_counter() - start
    doc = audit.to_dict()
    doc.update({
        "input": {"path": str(input_path), "rows": n_rows, "reports": len(reports), "audited": len(results),
                  "id_column": opts.id_column, "text_columns": list(opts.text_columns)},
        "review": {"path": str(out), "rows": len(rows), "by": by, "top": top, "min_suspicion": min_suspicion},
        "timing": {"seconds": round(summary.seconds, 3)},
        "command": command,
    })
    write_json(side, doc)
    log.info("noise audit: %d reports, %d review rows, %.1f s", len(results), len(rows), summary.seconds)
    return summary


def confidence_columns(
    input_path: str | Path,
    output_path: str | Path,
    labeler: Any,
    *,
    ingest: Any = None,
    config: NoiseConfig | None = None,
    overwrite: bool = False,
    on_progress: ProgressFn | None = None,
) -> list[Any]:
    """Audit ``input_path`` first and return the ``conf`` extra column for :func:`labeler.batch.label_corpus`.

    What ``labeler label --with-confidence`` does: the audit runs once over the whole input (a
    first pass: the rules, the weak labelers and the cross-fitted baseline), writes
    ``<out>.noise.json``, and the returned :data:`~labeler.export.ExtraColumn` gives each label's
    confidence (``<Name>__conf`` in CSV/Parquet, a ``conf`` object in JSONL) when the labels are
    written in the second pass. Any labeler's labels can be audited: with another labeler than
    the rules (a classifier, an ensemble), the signals come from the rules of its ruleset and the
    audit scores that labeler's labels.
    """
    from .export import sidecar_paths, write_json
    from .ingest import IngestOptions

    side = noise_path(output_path)
    existing = [p for p in (Path(output_path), side, sidecar_paths(output_path)["meta"]) if p.exists()]
    if existing and not overwrite:
        raise ConfigError(f"output exists: {', '.join(map(str, existing))} (pass --overwrite to replace)",
                          code="output_exists")
    if not Path(input_path).exists():
        raise DataError(f"input not found: {input_path}")
    opts = ingest or IngestOptions()
    from .ingest import read_reports

    reports = [r for r in read_reports(input_path, opts) if isinstance(r, Report)]
    rules, other = signal_labelers(labeler)
    audit, _ = audit_corpus(reports, rules, config or NoiseConfig(), audited=other, on_progress=on_progress)
    doc = audit.to_dict()
    doc["input"] = {"path": str(input_path), "reports": len(reports), "audited": len(audit.study_uids)}
    out = Path(output_path)
    if out.parent and not out.parent.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
    write_json(side, doc)
    rows = audit.row_index
    col = {o: j for j, o in enumerate(audit.observations)}
    conf = audit.confidence

    def value(result: ReportResult, observation: str) -> float | None:
        i = rows.get(result.study_uid)
        j = col.get(observation)
        if i is None or j is None:
            return None
        return round(float(conf[i, j]), 4)

    return [("conf", value)]
