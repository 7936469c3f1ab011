"""``labeler label``: label a report archive."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ..batch import RunSummary, label_corpus
from ..errors import ConfigError, ExitCode
from ..export import probability_columns, output_format_for
from ..ingest import IngestOptions, input_size
from ..labelers.base import Labeler, make_labeler
from . import app, err_console, setup_logging

__all__ = ["label_command", "build_labeler", "parse_params", "print_summary"]


def parse_params(items: list[str] | None) -> dict[str, Any]:
    """``KEY=VALUE`` strings (``--param``) → constructor arguments; values are JSON when they parse
    (numbers, true/false, null), else strings.

    >>> parse_params(["policy=gate", "threshold=0.7"])
    {'policy': 'gate', 'threshold': 0.7}
    """
    import json

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key.isidentifier():
            raise ConfigError(f"--param takes KEY=VALUE, got {item!r}", code="bad_param")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def build_labeler(name: str, rules: Path | None, sections: str | None, model: Path | None,
                  extra: dict[str, Any] | None = None) -> Labeler:
    """A labeler from command-line options (``--labeler``, ``--rules``, ``--sections``, ``--model``, ``--param``)."""
    params: dict[str, Any] = dict(extra or {})
    if rules is not None:
        params["rules"] = rules
    if sections:
        params["label_sections"] = [s.strip() for s in sections.split(",") if s.strip()]
    if model is not None:
        params["model"] = model
    try:
        return make_labeler(name, **params)
    except TypeError as exc:  # an option this labeler does not take
        raise ConfigError(f"labeler {name!r}: {exc}", code="bad_param") from None


def print_summary(summary: RunSummary) -> None:
    """The run summary table, on stderr."""
    from rich.table import Table

    console = err_console()
    table = Table(title=f"Labels ({summary.n_labeled} reports)", title_justify="left")
    table.add_column("observation")
    for col in ("1", "0", "-1", "blank"):
        table.add_column(col, justify="right")
    for name, c in summary.label_counts.items():
        table.add_row(name, str(c["1"]), str(c["0"]), str(c["-1"]), str(c[""]))
    console.print(table)
    line = (f"rows read: {summary.n_rows} · labeled: {summary.n_labeled} · errors: {summary.n_errors}"
            f" · skipped: {summary.n_skipped} · {summary.seconds:.1f} s ({summary.reports_per_second:.0f} reports/s)")
    console.print(line)
    if summary.error_reasons:
        reasons = ", ".join(f"{k}: {v}" for k, v in summary.error_reasons.items())
        console.print(f"errors by reason: {reasons} -> {summary.errors_file}")
    console.print(f"wrote {summary.output} and {summary.meta_file}")


@app.command("label")
def label_command(
    input: Annotated[Path, typer.Argument(help="CSV/TSV/JSONL/Parquet file, or a folder of .txt files (stem = id).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Labels file (.csv, .jsonl or .parquet).")],
    format: Annotated[Optional[str], typer.Option("--format", "-f", help="csv | jsonl | parquet (default: from the output extension).")] = None,
    id_column: Annotated[str, typer.Option(help="Column holding the study UID / report id (carried verbatim).")] = "study_uid",
    text_column: Annotated[Optional[list[str]], typer.Option("--text-column", "-t", help="Text column; repeat to join several, each under its name as header (e.g. -t findings -t impression). Default: text.")] = None,
    input_format: Annotated[str, typer.Option(help="auto | csv | tsv | jsonl | parquet | txt.")] = "auto",
    labeler: Annotated[str, typer.Option("--labeler", "-l", help="Registered labeler: rules (default), classifier, ensemble.")] = "rules",
    rules: Annotated[Optional[Path], typer.Option(help="Ruleset directory (default: the packaged CheXpert-14 rules).")] = None,
    sections: Annotated[Optional[str], typer.Option(help="Comma-separated sections that produce labels (default: the ruleset's, findings,impression).")] = None,
    model: Annotated[Optional[Path], typer.Option(help="Model directory, for --labeler classifier/ensemble (train one with 'labeler train').")] = None,
    param: Annotated[Optional[list[str]], typer.Option("--param", "-p", help="Labeler option KEY=VALUE (repeatable), e.g. -p policy=gate -p threshold=0.7 for the ensemble.")] = None,
    probabilities: Annotated[Optional[bool], typer.Option("--probabilities/--no-probabilities", help="Add <Name>__p_pos/__p_neg/__p_unc/__p_none columns. Default: on for JSONL/Parquet with a probabilistic labeler (classifier, ensemble), off for CSV.")] = None,
    duplicates: Annotated[str, typer.Option(help="Duplicate ids: error | keep-first | merge.")] = "error",
    max_chars: Annotated[int, typer.Option(help="Reports longer than this go to the errors file.")] = 100_000,
    chunk_size: Annotated[int, typer.Option(help="Reports per processing chunk.")] = 512,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary table.")] = False,
    log_level: Annotated[str, typer.Option(help="debug | info | warning | error.")] = "warning",
) -> int:
    """Label every report of INPUT and write one row per report, keyed by study_uid.

    Writes OUTPUT, OUTPUT.meta.json (provenance, counts) and, when some rows fail,
    OUTPUT.errors.jsonl (row, id, reason). Exit code 3 when some rows failed.
    """
    setup_logging(log_level)
    opts = IngestOptions(
        id_column=id_column,
        text_columns=tuple(text_column or ("text",)),
        format=input_format,
        duplicates=duplicates,  # type: ignore[arg-type]
        max_chars=max_chars,
    )
    lab = build_labeler(labeler, rules, sections, model, parse_params(param))
    if probabilities is None:
        probabilities = bool(getattr(lab, "probabilistic", False)) and output_format_for(output, format) != "csv"
    extra = probability_columns() if probabilities else []
    command = "labeler " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    if quiet:
        summary = label_corpus(input, output, lab, ingest=opts, output_format=format, overwrite=overwrite,
                               chunk_size=chunk_size, extra_columns=extra, command=command)
    else:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        total = max(input_size(input), 1)
        columns = (TextColumn("labeling"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                   TextColumn("{task.fields[n]} reports · {task.fields[rate]}/s"), TimeRemainingColumn())
        with Progress(*columns, console=err_console(), transient=True) as progress:
            task = progress.add_task("label", total=total, n=0, rate="-")
            start = [0.0]

            def on_progress(bytes_read: int, n_labeled: int) -> None:
                import time

                if not start[0]:
                    start[0] = time.perf_counter()
                elapsed = time.perf_counter() - start[0]
                rate = f"{n_labeled / elapsed:.0f}" if elapsed > 0 else "-"
                progress.update(task, completed=min(bytes_read, total), n=n_labeled, rate=rate)

            summary = label_corpus(input, output, lab, ingest=opts, output_format=format, overwrite=overwrite,
                                   chunk_size=chunk_size, extra_columns=extra, on_progress=on_progress,
                                   command=command)
        print_summary(summary)
    if summary.n_errors:
        return ExitCode.PARTIAL
    return ExitCode.OK
