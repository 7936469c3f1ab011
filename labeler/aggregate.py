"""Stage 5: mention assertions → one label per observation, with evidence.

The policy is data (``aggregation.yaml``); the default is CheXpert's: within an observation
*present* beats *uncertain* beats *absent*; an observation never mentioned is *not mentioned*;
``No Finding`` is derived (present when no other observation, Support Devices excepted, is
present or uncertain); implications lift one observation from another's status.
"""

from __future__ import annotations

from dataclasses import dataclass

from .records import Assertion, Evidence, Label, Mention, ReportResult, Section, Sentence
from .ruleset import DerivedRule, Implication, Ruleset
from .vocab import AssertionStatus

__all__ = ["Aggregator"]


@dataclass(frozen=True)
class Aggregator:
    """Report-level labels from mention assertions. Build with :meth:`from_ruleset`."""

    observations: tuple[str, ...]
    rank: dict[AssertionStatus, int]
    derived: tuple[DerivedRule, ...]
    implications: tuple[Implication, ...]

    requires = frozenset({"assertions"})
    assigns = frozenset({"labels"})

    @classmethod
    def from_ruleset(cls, ruleset: Ruleset) -> Aggregator:
        agg = ruleset.aggregation
        rank = {AssertionStatus(s): i for i, s in enumerate(agg.precedence)}
        rank[AssertionStatus.NOT_MENTIONED] = len(rank)
        return cls(ruleset.all_observations, rank, tuple(agg.derived), tuple(agg.implications))

    def _better(self, a: AssertionStatus, b: AssertionStatus) -> AssertionStatus:
        return a if self.rank[a] <= self.rank[b] else b

    def aggregate(
        self,
        sections: tuple[Section, ...],
        sentences: tuple[Sentence, ...],
        mentions: tuple[Mention, ...],
        assertions: tuple[Assertion, ...],
    ) -> tuple[Label, ...]:
        """One :class:`Label` per observation of the ruleset (exported first, then helpers)."""
        evidence: dict[str, list[Evidence]] = {}
        status: dict[str, AssertionStatus] = {}
        for a in assertions:
            m = mentions[a.mention]
            sent = sentences[m.sentence]
            ev = Evidence(a.status, m.rule_id, sections[sent.section].name, sent.start, sent.end,
                          m.start, m.end, a.modifier)
            evidence.setdefault(m.observation, []).append(ev)
            if a.counted:
                prev = status.get(m.observation, AssertionStatus.NOT_MENTIONED)
                status[m.observation] = self._better(a.status, prev)

        rule_of: dict[str, str] = {}
        for imp in self.implications:
            src = status.get(imp.if_observation, AssertionStatus.NOT_MENTIONED)
            if src.value in imp.statuses:
                target = AssertionStatus(imp.then_status)
                prev = status.get(imp.then_observation, AssertionStatus.NOT_MENTIONED)
                if self._better(target, prev) is target and target is not prev:
                    status[imp.then_observation] = target
                    rule_of[imp.then_observation] = imp.id

        derived_obs = {d.observation for d in self.derived}
        for d in self.derived:
            blocking = set(d.blocking_statuses)
            ignored = set(d.ignore) | derived_obs
            blocked = any(
                st.value in blocking for obs, st in status.items() if obs not in ignored
            )
            status[d.observation] = AssertionStatus(d.otherwise if blocked else d.status)
            rule_of[d.observation] = d.id

        labels = []
        for obs in self.observations:
            st = status.get(obs, AssertionStatus.NOT_MENTIONED)
            evs = evidence.get(obs, [])
            evs.sort(key=lambda e: (e.status is not st, e.mention_start))
            labels.append(Label(obs, st, tuple(evs), rule_of.get(obs)))
        return tuple(labels)

    def __call__(self, result: ReportResult, text: str) -> ReportResult:
        return result.replace(
            labels=self.aggregate(result.sections, result.sentences, result.mentions, result.assertions)
        )
