"""``labeler explain``: why a report got its labels (sentence, rule id, modifier)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import ConfigError, ExitCode
from ..explain import render_explanation
from ..ingest import IngestOptions, read_reports
from ..labelers.rules import RuleLabeler
from ..records import Report
from . import app, split_list


@app.command("explain")
def explain_command(
    input: Annotated[Optional[Path], typer.Argument(help="Input file/folder (as for 'label'). Omit with --text.")] = None,
    study_uid: Annotated[Optional[list[str]], typer.Option("--id", help="Explain these ids (repeatable). Default: the first 5.")] = None,
    text: Annotated[Optional[str], typer.Option("--text", help="Explain this text instead of an input file.")] = None,
    id_column: Annotated[str, typer.Option(help="Id column.")] = "study_uid",
    text_column: Annotated[Optional[list[str]], typer.Option("--text-column", "-t", help="Text column(s).")] = None,
    rules: Annotated[Optional[Path], typer.Option(help="Ruleset directory.")] = None,
    sections: Annotated[Optional[str], typer.Option(help="Comma-separated labeled sections.")] = None,
    limit: Annotated[int, typer.Option(help="How many reports when no --id is given.")] = 5,
) -> int:
    """Print each label with its evidence: the sentence ([mention], {modifier}), rule id and modifier.

    Prints report text to stdout: use it on your own terminal, not in logs.
    """
    lab = RuleLabeler(rules, split_list(sections))
    if text is not None:
        reports = [Report("text", text)]
    elif input is not None:
        opts = IngestOptions(id_column=id_column, text_columns=tuple(text_column or ("text",)), duplicates="keep-first")
        wanted = set(study_uid or ())
        reports = []
        for item in read_reports(input, opts):
            if isinstance(item, Report) and (not wanted or item.study_uid in wanted):
                reports.append(item)
                if not wanted and len(reports) >= limit:
                    break
        missing = wanted - {r.study_uid for r in reports}
        if missing:
            typer.echo(f"not found: {', '.join(sorted(missing))}", err=True)
    else:
        raise ConfigError("give an INPUT file or --text")
    for report in reports:
        typer.echo(render_explanation(lab.label_one(report), report.text, lab.ruleset))
        typer.echo("")
    return ExitCode.OK
