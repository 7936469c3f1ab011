"""Signals for noise estimation: labelers that read a report *differently* from the rules.

A label model can tell how often the rules are wrong only from signals whose errors differ from
the rules' own. This module builds them and turns them into arrays (the adapter layer between
:class:`~labeler.records.ReportResult` and :mod:`labeler.noise`):

* **rule-derived weak labelers**, computed from one pass of the rule labeler (its sections,
  sentences and mentions), each deciding differently:

  - ``rules.impression`` / ``rules.findings``: the rules' own assertions, aggregated over one
    section only (what ``RuleLabeler(label_sections=["impression"])`` gives, without a second
    pass). Silence is no evidence here: they abstain where the section says nothing of an
    observation, and everywhere when the report has no such section.
  - ``keyword``: negation-free — every mention counts as present (phrases that assert a status
    themselves, such as "normal heart size", keep it). It cannot see negation or hedging.
  - ``negex``: a NegEx-style assertion (Chapman et al., 2001): the ruleset's negation,
    uncertainty and hypothetical trigger *phrases*, reaching a mention only within a fixed
    window of words on the trigger's side, with no terminators, pseudo-triggers or token
    patterns. It errs where ConText's scoping is what gets a sentence right, and vice versa.

  The derived observations (``No Finding``) and implications are re-derived for every signal by
  the ruleset's own aggregation policy.

* **out-of-fold probabilities** of any trainable labeler (``fit(reports, labels=...)`` and
  ``predict_proba(reports) -> (N, F, S)``), through :func:`cross_val_predict_proba`: each report
  is predicted by a model that never saw its label, as confident learning requires.

Everything here reads report text only to decide; nothing logs it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._text import normalize_phrase, phrases_to_regex
from .records import Assertion, Report, ReportResult
from .vocab import ABSTAIN, STATUS_ORDER, AssertionStatus, status_proba_to_class_proba, statuses_to_classes

__all__ = [
    "RULE_SIGNALS",
    "RuleSignals",
    "SignalMatrix",
    "cross_val_predict_proba",
    "proba_votes",
    "label_matrix",
]

log = logging.getLogger(__name__)

#: the rule-derived weak labelers, in label-matrix column order
RULE_SIGNALS: tuple[str, ...] = ("rules.impression", "rules.findings", "keyword", "negex")
_SECTION_SIGNALS = {"rules.impression": "impression", "rules.findings": "findings"}
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class _Trigger:
    category: str
    regex: re.Pattern[str]
    allowed: frozenset[str] | None
    excluded: frozenset[str]

    def applies(self, observation: str) -> bool:
        if self.allowed is not None and observation not in self.allowed:
            return False
        return observation not in self.excluded


def _phrase_regex(phrases: Iterable[str]) -> re.Pattern[str] | None:
    keys = sorted({normalize_phrase(p) for p in phrases if normalize_phrase(p)})
    if not keys:
        return None
    return re.compile(r"(?<![a-z0-9])(?:" + phrases_to_regex(keys) + r")(?![a-z0-9])")


class RuleSignals:
    """Weak labelers derived from the rule labeler's results (see the module docstring).

    Parameters
    ----------
    labeler : RuleLabeler
        The rule labeler whose results the signals re-read (its ruleset supplies the trigger
        phrases and the aggregation policy).
    signals : sequence of str, default=RULE_SIGNALS
        Which of :data:`RULE_SIGNALS` to compute, in this order.
    window : int, default=5
        ``negex``: words between a trigger and the mention it reaches, at most.

    Examples
    --------
    >>> from labeler import Report, RuleLabeler
    >>> lab = RuleLabeler()
    >>> rep = Report("1", "FINDINGS: No pleural effusion. IMPRESSION: Possible small effusion.")
    >>> sig = RuleSignals(lab)
    >>> st = sig.statuses(rep.text, next(lab.label([rep])))
    >>> j = lab.observations.index("pleural_effusion")
    >>> [s.value if s is not None else None for s in st[:, j]]
    ['uncertain', 'absent', 'present', 'uncertain']
    """

    def __init__(self, labeler: Any, signals: Sequence[str] = RULE_SIGNALS, *, window: int = 5) -> None:
        unknown = [s for s in signals if s not in RULE_SIGNALS]
        if unknown:
            raise ValueError(f"unknown rule signal(s) {unknown}; choose from {list(RULE_SIGNALS)}")
        if window < 1:
            raise ValueError("window must be >= 1")
        self.labeler = labeler
        self.signals = tuple(signals)
        self.window = window
        ruleset = labeler.ruleset
        self.observations: tuple[str, ...] = tuple(labeler.observations)
        self._aggregator = labeler.stages[-1]
        agg = ruleset.aggregation
        self._effects = {c: e for c, e in agg.modifier_effects.items()}
        self._priority = {c: i for i, c in enumerate(agg.modifier_priority)}
        fwd: list[_Trigger] = []
        bwd: list[_Trigger] = []
        for mf in ruleset.modifiers.values():
            effect = self._effects.get(mf.category)
            if effect not in ("absent", "uncertain", "ignore") or mf.category not in self._priority:
                continue
            for rule in mf.rules:
                rx = _phrase_regex(rule.phrases)
                if rx is None:
                    continue
                trig = _Trigger(mf.category, rx,
                                frozenset(rule.allowed_observations) if rule.allowed_observations else None,
                                frozenset(rule.excluded_observations or ()))
                if rule.direction in ("forward", "bidirectional"):
                    fwd.append(trig)
                if rule.direction in ("backward", "bidirectional"):
                    bwd.append(trig)
        self._forward = tuple(fwd)
        self._backward = tuple(bwd)

    @property
    def names(self) -> tuple[str, ...]:
        """Signal names, in label-matrix column order."""
        return self.signals

    def abstains_when_not_mentioned(self, name: str) -> bool:
        """Whether *not mentioned* from this signal is an abstention (section-restricted signals)."""
        return name in _SECTION_SIGNALS

    # -- the signals ---------------------------------------------------------------------------
    def _aggregate(self, result: ReportResult, assertions: Sequence[Assertion]) -> dict[str, AssertionStatus]:
        labels = self._aggregator.aggregate(result.sections, result.sentences, result.mentions, tuple(assertions))
        return {lab.observation: lab.status for lab in labels}

    def _section(self, result: ReportResult, section: str) -> dict[str, AssertionStatus] | None:
        in_section = {i for i, s in enumerate(result.sentences) if result.sections[s.section].name == section}
        if not in_section:
            return None
        kept = [a for a in result.assertions if result.mentions[a.mention].sentence in in_section]
        return self._aggregate(result, kept)

    def _keyword(self, result: ReportResult) -> dict[str, AssertionStatus]:
        assertions = [Assertion(i, m.fixed_status or AssertionStatus.PRESENT, None, True)
                      for i, m in enumerate(result.mentions)]
        return self._aggregate(result, assertions)

    def _negex_status(self, text: str, result: ReportResult, index: int) -> tuple[AssertionStatus, bool]:
        m = result.mentions[index]
        if m.fixed_status is not None:
            return m.fixed_status, True
        sent = result.sentences[m.sentence]
        left_words = _WORD.findall(text[sent.start:m.start].lower())[-self.window:]
        right_words = _WORD.findall(text[m.end:sent.end].lower())[: self.window]
        left, right = " ".join(left_words), " ".join(right_words)
        best: str | None = None
        for triggers, scope in ((self._forward, left), (self._backward, right)):
            if not scope:
                continue
            for trig in triggers:
                if trig.applies(m.observation) and trig.regex.search(scope):
                    if best is None or self._priority[trig.category] < self._priority[best]:
                        best = trig.category
        if best is None:
            return AssertionStatus.PRESENT, True
        effect = self._effects[best]
        if effect == "ignore":
            return AssertionStatus.NOT_MENTIONED, False
        return AssertionStatus(effect), True

    def _negex(self, text: str, result: ReportResult) -> dict[str, AssertionStatus]:
        assertions = []
        for i in range(len(result.mentions)):
            status, counted = self._negex_status(text, result, i)
            assertions.append(Assertion(i, status, None, counted))
        return self._aggregate(result, assertions)

    def statuses(self, text: str, result: ReportResult) -> np.ndarray:
        """Statuses of every signal for one report: object array ``(m, F)``; ``None`` = abstain.

        ``text`` is the report text ``result`` was labeled from (``negex`` reads its words).
        A result with errors (the rules failed on the report) gives abstentions throughout.
        """
        out = np.full((len(self.signals), len(self.observations)), None, dtype=object)
        if result.errors:
            return out
        for s, name in enumerate(self.signals):
            if name in _SECTION_SIGNALS:
                got = self._section(result, _SECTION_SIGNALS[name])
            elif name == "keyword":
                got = self._keyword(result)
            else:
                got = self._negex(text, result)
            if got is None:
                continue
            for j, obs in enumerate(self.observations):
                out[s, j] = got.get(obs, AssertionStatus.NOT_MENTIONED)
        return out

    def classes(self, statuses: np.ndarray) -> np.ndarray:
        """Noise classes of :meth:`statuses` output stacked over reports: ``(N, m, F)`` → ``(N, F, m)``.

        Section-restricted signals abstain where they say *not mentioned*.
        """
        st = np.asarray(statuses, dtype=object)
        if st.ndim != 3 or st.shape[1] != len(self.signals):
            raise ValueError(f"statuses must have shape (N, {len(self.signals)}, F), got {st.shape}")
        out = np.empty(st.shape, dtype=np.int64)
        for s, name in enumerate(self.signals):
            out[:, s, :] = statuses_to_classes(st[:, s, :], abstain_not_mentioned=self.abstains_when_not_mentioned(name))
        return np.transpose(out, (0, 2, 1))


def proba_votes(proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Status probabilities ``(N, F, S)`` → (class probabilities ``(N, F, K)``, argmax votes ``(N, F)``).

    A row of zeros (no prediction) votes :data:`~labeler.vocab.ABSTAIN` and gets uniform class
    probabilities.
    """
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 3 or p.shape[2] != len(STATUS_ORDER):
        raise ValueError(f"proba must have shape (N, F, {len(STATUS_ORDER)}), got {p.shape}")
    cls = status_proba_to_class_proba(p)
    total = cls.sum(axis=2, keepdims=True)
    empty = total[..., 0] <= 0
    cls = np.where(total > 0, cls / np.where(total > 0, total, 1.0), 1.0 / cls.shape[2])
    votes = cls.argmax(axis=2).astype(np.int64)
    votes[empty] = ABSTAIN
    return cls, votes


def label_matrix(columns: Sequence[np.ndarray]) -> np.ndarray:
    """Stack per-signal class arrays ``(N, F)`` (or blocks ``(N, F, m_i)``) into ``L`` of shape ``(N, F, m)``."""
    blocks = []
    for c in columns:
        a = np.asarray(c, dtype=np.int64)
        blocks.append(a[:, :, None] if a.ndim == 2 else a)
    if not blocks:
        raise ValueError("no signal columns")
    return np.concatenate(blocks, axis=2)


@dataclass(frozen=True)
class SignalMatrix:
    """The signals of a corpus, as arrays.

    Attributes
    ----------
    study_uids : tuple of str, shape (N,)
    observations : tuple of str, shape (F,)
        Observation ids.
    labels : ndarray of shape (N, F), int
        Noise classes of the audited labels (the rules').
    statuses : ndarray of shape (N, F), object
        The audited labels as :class:`~labeler.vocab.AssertionStatus`.
    signal_names : tuple of str, shape (m,)
    L : ndarray of shape (N, F, m), int
        Votes of every signal (:data:`~labeler.vocab.ABSTAIN` where it abstains).
    pred_probs : dict of str to ndarray of shape (N, F, K)
        Out-of-fold class probabilities of the model signals, by signal name (the voting ones, in
        ``signal_names``, then any pooled-only ones).
    """

    study_uids: tuple[str, ...]
    observations: tuple[str, ...]
    labels: np.ndarray
    statuses: np.ndarray
    signal_names: tuple[str, ...]
    L: np.ndarray
    pred_probs: dict[str, np.ndarray]

    def __post_init__(self) -> None:
        n, f = len(self.study_uids), len(self.observations)
        if self.labels.shape != (n, f) or self.statuses.shape != (n, f):
            raise ValueError(f"labels and statuses must have shape {(n, f)}")
        if self.L.shape != (n, f, len(self.signal_names)):
            raise ValueError(f"L must have shape {(n, f, len(self.signal_names))}, got {self.L.shape}")
        for name, p in self.pred_probs.items():
            if p.shape[:2] != (n, f):
                raise ValueError(f"pred_probs[{name!r}] must have shape ({n}, {f}, K), got {p.shape}")


def _subset_labels(labels: Any, idx: np.ndarray) -> Any:
    if labels is None:
        return None
    if isinstance(labels, np.ndarray):
        return labels[idx]
    return [labels[i] for i in idx]


def cross_val_predict_proba(
    factory: Callable[[], Any],
    reports: Sequence[Report],
    *,
    labels: Any = None,
    n_splits: int = 5,
    seed: int = 0,
    on_progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Out-of-fold status probabilities ``(N, F, S)`` of a trainable labeler.

    The reports are split into ``n_splits`` folds (shuffled with ``seed``); for each fold a fresh
    labeler from ``factory()`` is fitted on the other folds (``fit(reports, labels=...)``) and
    predicts the fold (``predict_proba``). Any labeler with those two methods plugs in — the
    TF-IDF baseline, the neural classifier.

    Parameters
    ----------
    factory : callable() -> labeler
        Builds an unfitted labeler (e.g. ``lambda: make_labeler("baseline.tfidf", seed=0)``).
    reports : sequence of Report
    labels : array of shape (N, F), sequence of ReportResult, or None, default=None
        Training labels, indexed like ``reports`` (``None``: the labeler's default, usually the rules).
    n_splits : int, default=5
    seed : int, default=0
    on_progress : callable(fold_done, n_splits), default=None

    Returns
    -------
    ndarray of shape (N, F, S)
        Statuses in :data:`labeler.vocab.STATUS_ORDER`.
    """
    from sklearn.model_selection import KFold

    reports = list(reports)
    n = len(reports)
    if n_splits < 2:
        raise ValueError("n_splits must be >= 2")
    if n < n_splits:
        raise ValueError(f"cross-validation needs at least n_splits={n_splits} reports, got {n}")
    if labels is not None and len(labels) != n:
        raise ValueError(f"labels has {len(labels)} entries for {n} reports")
    out: np.ndarray | None = None
    folds = KFold(n_splits=n_splits, shuffle=True, random_state=seed).split(np.arange(n))
    for k, (train, test) in enumerate(folds, start=1):
        model = factory()
        model.fit([reports[i] for i in train], labels=_subset_labels(labels, train))
        proba = np.asarray(model.predict_proba([reports[i] for i in test]), dtype=np.float64)
        if out is None:
            out = np.zeros((n, *proba.shape[1:]), dtype=np.float64)
        out[test] = proba
        log.debug("cross-validation fold %d/%d done", k, n_splits)
        if on_progress is not None:
            on_progress(k, n_splits)
    if out is None:  # pragma: no cover - n >= n_splits >= 2 always yields folds
        raise ValueError("no folds")
    return out
