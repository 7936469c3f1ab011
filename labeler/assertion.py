"""Stage 4: assert each mention present / absent / uncertain with medspaCy's ConText.

The modifier rules come from ``assertion/*.yaml`` (negation, uncertainty, hypothetical,
historical, pseudo-triggers, terminators) and are handed to medspaCy's ``ConText`` component as
``ConTextRule`` objects; medspaCy's default rules are not loaded (its ``": no"`` rule points
backwards, so ``FINDINGS: No pneumothorax`` on one line would not be negated).

Speed: only sentences that hold a mention are tokenised, all of a report's in one spaCy ``Doc``
with our sentence boundaries set on it (each sentence is its own ConText scope), so no sentence
splitter runs inside spaCy and ConText runs once per report. When several
modifiers reach a mention, the category listed first in ``aggregation.yaml``'s
``modifier_priority`` decides, the nearest modifier breaking ties.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .records import Assertion, Mention, Modifier, ReportResult, Sentence
from .ruleset import Ruleset
from .vocab import AssertionStatus

__all__ = ["AssertionEngine", "TargetAssertion", "context_rules"]

_GROUP = "labeler_targets"
#: joins the sentences of one report into one Doc; each sentence stays its own ConText scope
_SEGMENT_SEP = "\n\n"
_EFFECT_STATUS = {
    "absent": AssertionStatus.ABSENT,
    "uncertain": AssertionStatus.UNCERTAIN,
    "present": AssertionStatus.PRESENT,
}


@dataclass(frozen=True, slots=True)
class TargetAssertion:
    """The status of one target span, the deciding modifier, the others that reached it."""

    status: AssertionStatus
    modifier: Modifier | None
    counted: bool
    others: tuple[Modifier, ...]


def context_rules(ruleset: Ruleset) -> list[Any]:
    """The ruleset's modifier rules as medspaCy ``ConTextRule`` objects (rule id in ``metadata``)."""
    from medspacy.context import ConTextRule

    rules = []
    for mf in ruleset.modifiers.values():
        category = mf.category.upper()
        terminated_by = {c.upper() for c in mf.terminated_by}
        for rule in mf.rules:
            common: dict[str, Any] = {
                "category": category,
                "direction": rule.direction.upper(),
                "max_scope": rule.max_scope,
                "terminated_by": set(terminated_by) or None,
                "metadata": {"rule_id": rule.id},
            }
            if rule.allowed_observations is not None:
                common["allowed_types"] = {o.upper() for o in rule.allowed_observations}
            if rule.excluded_observations is not None:
                common["excluded_types"] = {o.upper() for o in rule.excluded_observations}
            for phrase in rule.phrases:
                rules.append(ConTextRule(literal=phrase.lower(), **common))
            for pattern in rule.patterns:
                rules.append(ConTextRule(literal=rule.id, pattern=pattern, **common))
            for token_pattern in rule.token_patterns:
                rules.append(ConTextRule(literal=rule.id, pattern=list(token_pattern), **common))
    return rules


def _build_context(ruleset: Ruleset) -> tuple[Any, Any]:
    """A blank English tokenizer pipeline and a medspaCy ConText loaded with the ruleset's rules."""
    import spacy
    from medspacy.context import ConText

    nlp = spacy.blank("en")
    context = ConText(
        nlp,
        rules=None,
        span_attrs=None,
        input_span_type="group",
        span_group_name=_GROUP,
        prune_on_modifier_overlap=True,
    )
    rules = context_rules(ruleset)
    if rules:
        context.add(rules)
    return nlp, context


class AssertionEngine:
    """ConText assertion for mentions. Build with :meth:`from_ruleset`.

    Holds a spaCy tokenizer and a medspaCy ``ConText`` (neither pickles well): build one per
    process, e.g. in each worker, not once and ship it.
    """

    requires = frozenset({"mentions"})
    assigns = frozenset({"assertions"})

    def __init__(self, nlp: Any, context: Any, effects: dict[str, str], priority: Sequence[str]) -> None:
        self.nlp = nlp
        self.context = context
        self.effects = dict(effects)
        self.priority = {cat.upper(): i for i, cat in enumerate(priority)}

    @classmethod
    def from_ruleset(cls, ruleset: Ruleset) -> AssertionEngine:
        nlp, context = _build_context(ruleset)
        agg = ruleset.aggregation
        return cls(nlp, context, agg.modifier_effects, agg.modifier_priority)

    # -- core -------------------------------------------------------------------------------------
    def assert_targets(self, text: str, targets: Sequence[tuple[int, int, str]]) -> list[TargetAssertion]:
        """Assert target spans ``(start, end, observation)`` inside one sentence ``text``.

        ``text`` is the ConText scope (one sentence). Returns one :class:`TargetAssertion` per
        target, in order, modifier offsets relative to ``text``. The NegEx evaluation calls this.
        """
        return self.assert_segments([(text, targets)])[0]

    def assert_segments(
        self, segments: Sequence[tuple[str, Sequence[tuple[int, int, str]]]]
    ) -> list[list[TargetAssertion]]:
        """Assert the targets of several sentences with one tokenisation and one ConText pass.

        Each segment is ``(sentence text, targets)``; a segment is its own ConText scope (its own
        spaCy sentence). Modifier offsets in the result are relative to each segment's text.
        """
        offsets = []
        pos = 0
        for text, _ in segments:
            offsets.append(pos)
            pos += len(text) + len(_SEGMENT_SEP)
        doc = self.nlp.make_doc(_SEGMENT_SEP.join(text for text, _ in segments))
        if len(doc) == 0:
            return [[TargetAssertion(AssertionStatus.PRESENT, None, True, ()) for _ in tg] for _, tg in segments]
        starts = set(offsets)
        for tok in doc:
            tok.is_sent_start = tok.idx in starts
        doc[0].is_sent_start = True
        spans = []
        for offset, (_, targets) in zip(offsets, segments):
            for start, end, obs in targets:
                spans.append(doc.char_span(offset + start, offset + end, label=obs.upper(), alignment_mode="expand"))
        doc.spans[_GROUP] = [sp for sp in spans if sp is not None]
        self.context(doc)
        out: list[list[TargetAssertion]] = []
        k = 0
        for offset, (_, targets) in zip(offsets, segments):
            row = []
            for _ in targets:
                row.append(self._decide(doc, spans[k], offset))
                k += 1
            out.append(row)
        return out

    def _decide(self, doc: Any, span: Any, offset: int) -> TargetAssertion:
        if span is None:
            return TargetAssertion(AssertionStatus.PRESENT, None, True, ())
        mods = []
        for cm in span._.modifiers:
            if cm.category not in self.priority:
                continue
            ms, me = cm.modifier_span
            if ms < span.end and span.start < me:
                # a trigger inside the target ("no" in "neck supple, no lymphadenopathy") does not
                # modify it; medspaCy's own overlap test misses a modifier contained in the target
                continue
            distance = span.start - me if me <= span.start else ms - span.end
            mods.append((self.priority[cm.category], max(distance, 0), cm, doc[ms:me]))
        if not mods:
            return TargetAssertion(AssertionStatus.PRESENT, None, True, ())
        mods.sort(key=lambda x: (x[0], x[1]))
        converted = [
            Modifier(cm.rule.metadata["rule_id"], cm.category.lower(), mspan.start_char - offset,
                     mspan.end_char - offset)
            for _, _, cm, mspan in mods
        ]
        best = converted[0]
        effect = self.effects.get(best.category, "ignore")
        if effect == "ignore":
            return TargetAssertion(AssertionStatus.NOT_MENTIONED, best, False, tuple(converted[1:]))
        return TargetAssertion(_EFFECT_STATUS[effect], best, True, tuple(converted[1:]))

    # -- pipeline stage ---------------------------------------------------------------------------
    def assert_mentions(
        self, text: str, sentences: tuple[Sentence, ...], mentions: tuple[Mention, ...]
    ) -> tuple[Assertion, ...]:
        """One :class:`Assertion` per mention (same order), modifier offsets relative to ``text``."""
        by_sentence: dict[int, list[int]] = {}
        for i, m in enumerate(mentions):
            if m.fixed_status is None:
                by_sentence.setdefault(m.sentence, []).append(i)
        out: list[Assertion | None] = [None] * len(mentions)
        order = list(by_sentence.items())
        segments = []
        for si, idxs in order:
            sent = sentences[si]
            segments.append((text[sent.start: sent.end],
                             [(mentions[i].start - sent.start, mentions[i].end - sent.start, mentions[i].observation)
                              for i in idxs]))
        results = self.assert_segments(segments) if segments else []
        for (si, idxs), row in zip(order, results):
            base = sentences[si].start
            for i, ta in zip(idxs, row):
                out[i] = Assertion(
                    i, ta.status, _shift(ta.modifier, base), ta.counted,
                    tuple(_shift(o, base) for o in ta.others),  # type: ignore[misc]
                )
        for i, m in enumerate(mentions):
            if out[i] is None:
                out[i] = Assertion(i, m.fixed_status or AssertionStatus.PRESENT, None, True)
        return tuple(a for a in out if a is not None)

    def __call__(self, result: ReportResult, text: str) -> ReportResult:
        return result.replace(assertions=self.assert_mentions(text, result.sentences, result.mentions))


def _shift(mod: Modifier | None, offset: int) -> Modifier | None:
    if mod is None:
        return None
    return Modifier(mod.rule_id, mod.category, mod.start + offset, mod.end + offset)
