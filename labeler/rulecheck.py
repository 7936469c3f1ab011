"""Run the examples written inside rule files (the rules' own tests).

Finding files carry sentences with the status their observation must get; assertion files carry
sentences with a target phrase and the status ConText must give it. ``labeler rules test`` and
the test suite both call :func:`run_rule_examples`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .labelers.rules import RuleLabeler
from .records import Report

__all__ = ["ExampleOutcome", "run_rule_examples"]


@dataclass(frozen=True)
class ExampleOutcome:
    """One example: where it is written, what it expects, what the engine said."""

    file: str
    text: str
    target: str | None
    expected: str
    got: str

    @property
    def passed(self) -> bool:
        return self.expected == self.got


def run_rule_examples(rules: str | Path | None = None) -> list[ExampleOutcome]:
    """Run every finding and assertion example of a ruleset (default: the packaged one)."""
    labeler = RuleLabeler(rules)
    rs = labeler.ruleset
    engine = labeler.stages[3]
    outcomes: list[ExampleOutcome] = []
    for obs, ff in rs.findings.items():
        for ex in ff.examples:
            res = labeler.label_one(Report("example", ex.text))
            got = "error" if res.errors else res.label(obs).status.value
            outcomes.append(ExampleOutcome(f"findings/{obs}.yaml", ex.text, None, ex.expect, got))
    for name, mf in rs.modifiers.items():
        for aex in mf.examples:
            m = re.search(re.escape(aex.target), aex.text, re.IGNORECASE)
            if m is None:
                outcomes.append(ExampleOutcome(f"assertion/{name}.yaml", aex.text, aex.target, aex.expect,
                                               "target not in text"))
                continue
            (ta,) = engine.assert_targets(aex.text, [(m.start(), m.end(), aex.observation or "target")])
            outcomes.append(ExampleOutcome(f"assertion/{name}.yaml", aex.text, aex.target, aex.expect,
                                           ta.status.value))
    return outcomes
