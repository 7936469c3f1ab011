"""Explain a label: show the sentence, mention, rule and modifier behind every label of a report.

This is the answer to "why did this report get this label?". It prints report text, so it is
meant for the user's own terminal, never for logs.
"""

from __future__ import annotations

from dataclasses import dataclass

from .records import Evidence, ReportResult
from .ruleset import Ruleset
from .vocab import AssertionStatus, status_to_chexpert

__all__ = ["ExplainedLabel", "explain_result", "render_explanation"]


@dataclass(frozen=True)
class ExplainedLabel:
    """One observation's label with its evidence rendered against the report text."""

    observation: str
    name: str
    status: AssertionStatus
    value: int | None
    rule_id: str | None
    evidence: tuple[tuple[Evidence, str], ...]


def _mark(text: str, ev: Evidence) -> str:
    """The evidence sentence with the mention in [brackets] and the modifier in {braces}."""
    spans = [(ev.mention_start, ev.mention_end, "[", "]")]
    if ev.modifier is not None and ev.sentence_start <= ev.modifier.start < ev.sentence_end:
        spans.append((ev.modifier.start, ev.modifier.end, "{", "}"))
    out = text[ev.sentence_start: ev.sentence_end]
    for start, end, left, right in sorted(spans, key=lambda s: -s[0]):
        s, e = start - ev.sentence_start, end - ev.sentence_start
        out = out[:s] + left + out[s:e] + right + out[e:]
    return " ".join(out.split())


def explain_result(result: ReportResult, text: str, ruleset: Ruleset, *, include_unmentioned: bool = False
                   ) -> list[ExplainedLabel]:
    """Labels of ``result`` with evidence sentences marked up (exported observations first)."""
    out = []
    for lab in result.labels:
        if not include_unmentioned and lab.status is AssertionStatus.NOT_MENTIONED and not lab.evidence:
            continue
        name = ruleset.display_name(lab.observation)
        if lab.observation not in ruleset.observations:
            name += " (helper, not exported)"
        out.append(ExplainedLabel(lab.observation, name, lab.status, status_to_chexpert(lab.status), lab.rule_id,
                                  tuple((ev, _mark(text, ev)) for ev in lab.evidence)))
    return out


def render_explanation(result: ReportResult, text: str, ruleset: Ruleset) -> str:
    """Plain-text explanation of one report."""
    lines = [f"study_uid: {result.study_uid}"]
    if result.errors:
        lines.append(f"  errors: {'; '.join(result.errors)}")
    sections = ", ".join(f"{s.name}{'*' if s.labeled else ''}" for s in result.sections)
    lines.append(f"  sections (* = labeled): {sections or 'none'}")
    for item in explain_result(result, text, ruleset):
        value = "blank" if item.value is None else str(item.value)
        derived = f" (derived by {item.rule_id})" if item.rule_id else ""
        lines.append(f"  {item.name}: {item.status.value} -> {value}{derived}")
        for ev, marked in item.evidence:
            mod = f"{ev.modifier.category} {ev.modifier.rule_id}" if ev.modifier else "no modifier"
            lines.append(f"      {ev.status.value:13s} {ev.rule_id} · {mod} · {ev.section}: {marked}")
    return "\n".join(lines)
