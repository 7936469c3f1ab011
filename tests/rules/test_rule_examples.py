"""Every example written inside a rule file runs as a test (rule authors test where they write)."""

import pytest

from labeler.rulecheck import run_rule_examples

OUTCOMES = run_rule_examples()


@pytest.mark.parametrize("outcome", OUTCOMES, ids=[f"{o.file}:{o.text[:40]}" for o in OUTCOMES])
def test_rule_example(outcome):
    assert outcome.got == outcome.expected, f"{outcome.file}: {outcome.text!r} target={outcome.target}"


def test_rule_examples_exist_for_every_finding_file():
    files = {o.file for o in OUTCOMES}
    assert len([f for f in files if f.startswith("findings/")]) == 14
