"""``labeler label``: label a report archive."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ..batch import LabelerSpec, RunSummary, label_corpus
from ..errors import ConfigError, ExitCode
from ..export import output_format_for, probability_columns
from ..ingest import IngestOptions, input_size
from ..labelers.base import REGISTRY
from . import app, command_line, err_console, print_error_reasons, setup_logging, split_list

__all__ = ["label_command", "labeler_params", "labeler_spec", "parse_params", "print_summary"]


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


def labeler_params(rules: Path | None, sections: str | None, model: Path | None,
                   extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Constructor parameters from the shared options ``--rules``, ``--sections``, ``--model``, ``--param``."""
    params: dict[str, Any] = dict(extra or {})
    if rules is not None:
        params["rules"] = rules
    if sections:
        params["label_sections"] = split_list(sections)
    if model is not None:
        params["model"] = model
    return params


def labeler_spec(name: str, rules: Path | None, sections: str | None, model: Path | None,
                 extra: dict[str, Any] | None = None) -> LabelerSpec:
    """The (name, parameters) of a labeler from command-line options; workers rebuild it from this."""
    return LabelerSpec(name, labeler_params(rules, sections, model, extra))


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
            f" · skipped: {summary.n_skipped} · {summary.seconds:.1f} s, setup {summary.setup_seconds:.1f} s"
            f" ({summary.reports_per_second:.0f} reports/s)")
    console.print(line)
    print_error_reasons(console, summary.error_reasons, summary.errors_file)
    console.print(f"wrote {summary.output} and {summary.meta_file}")


@app.command("label")
def label_command(
    input: Annotated[Path, typer.Argument(help="CSV/TSV/JSONL/Parquet file, a folder of such part files, or a folder of .txt files (stem = id).")],
    output: Annotated[str, typer.Option("--output", "-o", help="Labels file (.csv, .jsonl or .parquet); a path ending in / writes partitioned output (part files, needs --format).")],
    format: Annotated[Optional[str], typer.Option("--format", "-f", help="csv | jsonl | parquet (default: from the output extension).")] = None,
    id_column: Annotated[str, typer.Option(help="Column holding the study UID / report id (carried verbatim).")] = "study_uid",
    text_column: Annotated[Optional[list[str]], typer.Option("--text-column", "-t", help="Text column; repeat to join several, each under its name as header (e.g. -t findings -t impression). Default: text.")] = None,
    input_format: Annotated[str, typer.Option(help="auto | csv | tsv | jsonl | parquet | txt.")] = "auto",
    encoding: Annotated[str, typer.Option(help="Input encoding (ASCII-compatible for CSV/TSV/JSONL); rows not valid in it go to the errors file.")] = "utf-8",
    labeler: Annotated[str, typer.Option("--labeler", "-l", help="Registered labeler: rules (default), classifier, ensemble.")] = "rules",
    rules: Annotated[Optional[Path], typer.Option(help="Ruleset directory (default: the packaged CheXpert-14 rules).")] = None,
    sections: Annotated[Optional[str], typer.Option(help="Comma-separated sections that produce labels (default: the ruleset's, findings,impression).")] = None,
    model: Annotated[Optional[Path], typer.Option(help="Model directory, for --labeler classifier/ensemble (train one with 'labeler train').")] = None,
    param: Annotated[Optional[list[str]], typer.Option("--param", "-p", help="Labeler option KEY=VALUE (repeatable), e.g. -p policy=gate -p threshold=0.7 for the ensemble.")] = None,
    probabilities: Annotated[Optional[bool], typer.Option("--probabilities/--no-probabilities", help="Add <Name>__p_pos/__p_neg/__p_unc/__p_none columns. Default: on for JSONL/Parquet with a probabilistic labeler (classifier, ensemble), off for CSV.")] = None,
    duplicates: Annotated[str, typer.Option(help="Duplicate ids: error | keep-first | merge.")] = "error",
    max_chars: Annotated[int, typer.Option(help="Reports longer than this go to the errors file.")] = 100_000,
    chunk_size: Annotated[int, typer.Option(help="Reports per chunk: the unit of work, commit and resume.")] = 512,
    workers: Annotated[int, typer.Option("--workers", "-w", help="Worker processes, each with its own labeler (1: this process; 0: one per CPU core). With --engine dask and no --scheduler: LocalCluster size.")] = 1,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run of the same command (committed chunks are kept; the result equals an uninterrupted run).")] = False,
    engine: Annotated[str, typer.Option(help="local | dask.")] = "local",
    scheduler: Annotated[Optional[str], typer.Option(help="Dask scheduler address (tcp://host:8786) or scheduler file, for --engine dask; 'local' or omitted: a LocalCluster of --workers processes.")] = None,
    with_confidence: Annotated[bool, typer.Option("--with-confidence", help="Add <Name>__conf columns (JSONL: a conf object): the probability that each label of --labeler is right, estimated without gold by 'labeler noise' (also writes OUTPUT.noise.json). Costs a first pass over the input: the rules, weak labelers and a cross-fitted TF-IDF classifier, several times the rules' time.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs (and an interrupted run's parts).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary table.")] = False,
    log_level: Annotated[str, typer.Option(help="debug | info | warning | error.")] = "warning",
) -> int:
    """Label every report of INPUT and write one row per report, keyed by study_uid.

    Writes OUTPUT, OUTPUT.meta.json (provenance, counts) and, when some rows fail,
    OUTPUT.errors.jsonl (row, id, reason). Exit code 3 when some rows failed.

    Archive runs: chunks are committed to OUTPUT.parts/ as they finish, so a run that is
    killed continues with the same command plus --resume. --workers N labels in N processes;
    --engine dask --scheduler tcp://HOST:8786 on a Dask cluster.
    """
    setup_logging(log_level)
    opts = IngestOptions(
        id_column=id_column,
        text_columns=tuple(text_column or ("text",)),
        format=input_format,
        duplicates=duplicates,  # type: ignore[arg-type]
        max_chars=max_chars,
        encoding=encoding,
    )
    spec = labeler_spec(labeler, rules, sections, model, parse_params(param))
    in_process = workers == 1 and engine == "local"
    # Built here only when this process labels (label_corpus otherwise builds it once, before any output).
    lab = spec.build() if in_process or with_confidence else None
    if probabilities is None:
        probabilities = (bool(getattr(REGISTRY.get(labeler), "probabilistic", False))
                         and output_format_for(output, format) != "csv")
    command = command_line()
    extra: list[Any] = list(probability_columns()) if probabilities else []
    if with_confidence:
        from ..noise_audit import confidence_columns
        from .noise import progress_printer

        extra += confidence_columns(input, output, lab, ingest=opts, overwrite=overwrite or resume,
                                    on_progress=progress_printer(quiet))
    kwargs: dict[str, Any] = dict(ingest=opts, output_format=format, overwrite=overwrite, chunk_size=chunk_size,
                                  command=command, workers=workers, resume=resume, engine=engine,
                                  scheduler=scheduler, extra_columns=extra)
    try:
        if quiet:
            summary = label_corpus(input, output, lab if in_process else spec, **kwargs)
        else:
            with _progress_bar(input) as on_progress:
                summary = label_corpus(input, output, lab if in_process else spec, on_progress=on_progress, **kwargs)
    except KeyboardInterrupt:
        err_console().print("interrupted: committed chunks are kept; rerun the same command with --resume")
        raise
    if not quiet:
        if summary.already_complete:
            err_console().print(f"nothing to resume: {summary.output} is complete")
        print_summary(summary)
    if summary.n_errors:
        return ExitCode.PARTIAL
    return ExitCode.OK


@contextlib.contextmanager
def _progress_bar(input: Path) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar on stderr: input bytes done, reports labeled, reports/s and ETA."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    total = max(input_size(input), 1)
    columns = (TextColumn("labeling"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
               TextColumn("{task.fields[n]} reports · {task.fields[rate]} reports/s"), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, console=err_console(), transient=True) as progress:
        task = progress.add_task("label", total=total, n=0, rate="-")
        base: list[float] = []

        def on_progress(bytes_done: int, n_labeled: int) -> None:
            now = time.perf_counter()
            if not base:  # the first call: what a resumed run already had
                base.extend((now, n_labeled))
                progress.reset(task, total=total, completed=min(bytes_done, total), n=n_labeled, rate="-")
                return
            elapsed = now - base[0]
            rate = f"{(n_labeled - base[1]) / elapsed:.0f}" if elapsed > 0 else "-"
            progress.update(task, completed=min(bytes_done, total), n=n_labeled, rate=rate)

        yield on_progress
