"""``labeler rules ...``: lint, test, show and export the schema of a ruleset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import ExitCode
from ..rulecheck import run_rule_examples
from ..ruleset import lint_ruleset, load_ruleset, ruleset_json_schema
from . import app, err_console

rules_app = typer.Typer(help="Inspect and check rulesets (rules are data: YAML files under rules/).",
                        no_args_is_help=True, rich_markup_mode=None)
app.add_typer(rules_app, name="rules")

RulesDir = Annotated[Optional[Path], typer.Argument(help="Ruleset directory (default: the packaged rules).")]


@rules_app.command("lint")
def lint_command(rules: RulesDir = None) -> int:
    """Validate a ruleset and report likely mistakes (duplicate phrases, missing examples...)."""
    rs = load_ruleset(rules)
    problems = lint_ruleset(rs)
    console = err_console()
    for p in problems:
        console.print(f"- {p}")
    console.print(f"{rs.name} {rs.version}: {len(problems)} problem(s)")
    return ExitCode.PARTIAL if problems else ExitCode.OK


@rules_app.command("test")
def test_command(rules: RulesDir = None) -> int:
    """Run the examples written in the rule files; list the ones that fail."""
    outcomes = run_rule_examples(rules)
    failed = [o for o in outcomes if not o.passed]
    console = err_console()
    for o in failed:
        target = f" [target: {o.target}]" if o.target else ""
        console.print(f"FAIL {o.file}: {o.text!r}{target}: expected {o.expected}, got {o.got}")
    console.print(f"{len(outcomes) - len(failed)}/{len(outcomes)} examples pass")
    return ExitCode.PARTIAL if failed else ExitCode.OK


@rules_app.command("show")
def show_command(rules: RulesDir = None) -> int:
    """Summarise a ruleset: observations, rule counts, version and hash (to stdout, as JSON)."""
    rs = load_ruleset(rules)
    out = {
        **rs.summary(),
        "observations": [
            {
                "id": o,
                "name": rs.display_name(o),
                "exported": o in rs.observations,
                "mention_rules": len(rs.findings[o].mentions) if o in rs.findings else 0,
                "exclusion_rules": len(rs.findings[o].exclusions) if o in rs.findings else 0,
                "derived": o not in rs.findings,
            }
            for o in rs.all_observations
        ],
        "modifier_rules": {name: len(mf.rules) for name, mf in rs.modifiers.items()},
        "label_sections": rs.manifest.label_sections,
    }
    typer.echo(json.dumps(out, indent=2))
    return ExitCode.OK


@rules_app.command("schema")
def schema_command(
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write here instead of stdout.")] = None,
) -> int:
    """Export the JSON Schema of every rule file type (for editors and reviewers)."""
    text = json.dumps(ruleset_json_schema(), indent=2)
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
    return ExitCode.OK
