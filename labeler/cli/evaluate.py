"""``labeler evaluate``: score labelers or labels files against a gold set."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ..errors import ConfigError, ExitCode
from ..evaluate import (
    EvalReport,
    count_noun,
    evaluate_paths,
    format_estimate,
    format_p,
    table_header,
    table_rows,
    write_report,
)
from ..labelers.base import REGISTRY, Labeler, make_labeler
from . import app, err_console, setup_logging, split_list
from .label import labeler_params

__all__ = ["evaluate_command", "parse_pred", "parse_rename", "build_labelers", "print_report"]


def parse_pred(value: str) -> tuple[str, Path]:
    """``NAME=PATH`` or ``PATH`` (named after the file)."""
    if "=" in value and not Path(value).exists():
        name, _, path = value.partition("=")
        if name and "/" not in name and path:
            return name, Path(path)
    return Path(value).name, Path(value)


def parse_rename(values: list[str]) -> dict[str, str]:
    """``--rename 'Airspace Opacity=Lung Opacity'`` options as a mapping."""
    out = {}
    for v in values:
        src, sep, dst = v.partition("=")
        if not sep or not src.strip() or not dst.strip():
            raise ConfigError(f"--rename takes GOLD_COLUMN=OBSERVATION, got {v!r}")
        out[src.strip()] = dst.strip()
    return out


def build_labelers(names: list[str], rules: Path | None, sections: str | None, model: Path | None
                   ) -> dict[str, Labeler]:
    """Labelers by registered name; ``--rules``/``--sections``/``--model`` go to those that take them."""
    params = labeler_params(rules, sections, model)
    used: set[str] = set()
    out: dict[str, Labeler] = {}
    for name in names:
        if name not in REGISTRY:
            make_labeler(name)  # raises the standard "unknown labeler" error
        try:
            accepted = set(inspect.signature(REGISTRY[name]).parameters)
        except (TypeError, ValueError):  # pragma: no cover - builtins without signatures
            accepted = set(params)
        mine = {k: v for k, v in params.items() if k in accepted}
        used |= set(mine)
        key = name if name not in out else f"{name}#{sum(k.split('#')[0] == name for k in out) + 1}"
        out[key] = make_labeler(name, **mine)
    unused = {f"--{'sections' if k == 'label_sections' else k}" for k in set(params) - used}
    if names and unused:
        raise ConfigError(f"{', '.join(sorted(unused))} not taken by labeler(s) {', '.join(names)}")
    return out


def print_report(report: EvalReport) -> None:
    """Headline, per-observation tables, comparisons and warnings, on stderr."""
    from rich.table import Table

    console = err_console()
    metric = table_header(report)[-2]
    head = Table(title=f"{report.gold_name}: {report.n} gold rows, {count_noun(len(report.observations), 'observation')} "
                       f"({report.kind} gold) — {metric}", title_justify="left")
    for col in ("labeler", "macro", "micro", "weighted", "macro kappa", "errors"):
        head.add_column(col, justify="left" if col == "labeler" else "right")
    for i, lab in enumerate(report.labelers):
        h = report.headline(i)
        n_err = sum(1 for e in report.errors if e.labeler == lab.name)
        head.add_row(lab.name, format_estimate(h.get("macro")), format_estimate(h.get("micro")), format_estimate(h.get("weighted")),
                     format_estimate(lab.scores.kappa_macro), str(n_err))
    for i, lab in enumerate(report.labelers):
        table = Table(title=lab.name, title_justify="left")
        for k, col in enumerate(table_header(report)):
            table.add_column(col, justify="left" if k == 0 else "right")
        for row in table_rows(report, i):
            table.add_row(*row)
        console.print(table)
    for c in report.comparisons:
        d = c.metrics[report.primary]
        ref, oth = report.labelers[c.reference].name, report.labelers[c.other].name
        table = Table(title=f"{oth} − {ref}", title_justify="left")
        for col in ("observation", "difference [CI]", "p (bootstrap)", "McNemar p (Holm)"):
            table.add_column(col, justify="left" if col == "observation" else "right")
        from ..metrics import Estimate

        for j, o in enumerate(report.observations):
            table.add_row(o, format_estimate(Estimate(d.diff[j], *d.ci[j])), format_p(d.p_bootstrap[j]), format_p(c.mcnemar_p_holm[j]))
        for avg, (e, p) in d.averages.items():
            table.add_row(avg, format_estimate(e), format_p(p), "")
        console.print(table)
    console.print(head)
    for w in report.warnings:
        console.print(f"warning: {w}", style="yellow")


@app.command("evaluate")
def evaluate_command(
    gold: Annotated[Path, typer.Argument(help="Gold file: CheXpert-style CSV (id + observation columns of 1/0/-1/empty), binary CSV, IU reports.csv with MeSH codes, or NegEx annotations.")],
    pred: Annotated[Optional[list[str]], typer.Option("--pred", "-p", help="Labels file to score, [NAME=]PATH (CSV/JSONL/Parquet of the engine's output contract, or any id + 1/0/-1/empty table). Repeatable.")] = None,
    labeler: Annotated[Optional[list[str]], typer.Option("--labeler", "-l", help="Registered labeler to run on the gold's texts (rules, classifier, ensemble ...). Repeatable.")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Folder for evaluation.json, evaluation.html, evaluation.md and errors.csv.")] = None,
    gold_format: Annotated[str, typer.Option(help="auto | chexpert | binary | iu-mesh | negex.")] = "auto",
    id_column: Annotated[Optional[str], typer.Option(help="Gold id column (default study_uid; uid for iu-mesh).")] = None,
    text_column: Annotated[Optional[list[str]], typer.Option("--text-column", "-t", help="Gold text column(s) labelers run on, joined as 'labeler label -t' joins them (iu-mesh default: findings, impression).")] = None,
    rename: Annotated[Optional[list[str]], typer.Option(help="Gold column name mapping GOLD=OBSERVATION, e.g. 'Airspace Opacity=Lung Opacity'. Repeatable.")] = None,
    observations: Annotated[Optional[str], typer.Option(help="Comma-separated observations to score (default: every gold column something predicts).")] = None,
    mapping: Annotated[Optional[Path], typer.Option(help="MeSH -> observation mapping TSV, for --gold-format iu-mesh.")] = None,
    tier: Annotated[str, typer.Option(help="Mapping tier for iu-mesh: core | ext (core + CheXpert conventions).")] = "core",
    blank: Annotated[str, typer.Option(help="Empty cells of binary gold: error | negative.")] = "error",
    pred_id_column: Annotated[str, typer.Option(help="Id column of the labels files.")] = "study_uid",
    rules: Annotated[Optional[Path], typer.Option(help="Ruleset directory for --labeler rules.")] = None,
    sections: Annotated[Optional[str], typer.Option(help="Comma-separated labeled sections for --labeler rules.")] = None,
    model: Annotated[Optional[Path], typer.Option(help="Model directory for --labeler classifier/ensemble.")] = None,
    metric: Annotated[str, typer.Option(help="Headline metric: auto | coded.f1 | positive.f1 | negative.f1 | uncertain.f1 | blank.f1 | mention.f1 | weighted_f1 | kappa.")] = "auto",
    reference: Annotated[Optional[str], typer.Option(help="Labeler the others are compared with (default: the first given).")] = None,
    n_bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for intervals and paired tests (0: none).")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the resampling (same seed, same intervals).")] = 0,
    confidence: Annotated[float, typer.Option(help="Interval level.")] = 0.95,
    min_support: Annotated[int, typer.Option(help="Observations with fewer gold positives are left out of averages.")] = 1,
    missing: Annotated[str, typer.Option(help="Gold ids a labels file lacks: blank (score as not mentioned) | drop (leave out for all) | error.")] = "blank",
    with_text: Annotated[bool, typer.Option("--with-text", help="Put evidence sentences (report text) into errors.csv and the HTML. Off by default.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing files in --output.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or tables.")] = False,
    log_level: Annotated[str, typer.Option(help="debug | info | warning | error.")] = "warning",
) -> int:
    """Score labelers and labels files against GOLD, side by side, with bootstrap CIs and paired tests.

    Metrics per observation and averaged (macro, micro, support-weighted): precision, recall and F1
    of 'coded' for binary gold (positive or uncertain = coded); of positive / negative / uncertain /
    blank extraction and mention for status gold (CheXpert/CheXbert conventions); Cohen's kappa.
    Writes, with --output, evaluation.json (every number), evaluation.html (self-contained),
    evaluation.md and errors.csv (false positives/negatives with id, evidence offsets and rule ids).
    """
    setup_logging(log_level)
    if tier not in ("core", "ext"):
        raise ConfigError(f"--tier must be core or ext, not {tier!r}")
    if blank not in ("error", "negative"):
        raise ConfigError(f"--blank must be error or negative, not {blank!r}")
    preds: dict[str, Path] = {}
    for value in pred or []:
        name, path = parse_pred(value)
        if name in preds:
            raise ConfigError(f"two labels files are called {name!r}; name them with --pred NAME=PATH")
        preds[name] = path
    labs = build_labelers(list(labeler or []), rules, sections, model)
    obs = split_list(observations)
    if output is not None and not overwrite:
        write_report_check(output)
    kwargs: dict[str, Any] = {
        "predictions": preds, "labelers": labs, "gold_format": gold_format, "id_column": id_column,
        "text_columns": tuple(text_column) if text_column else None, "rename": parse_rename(list(rename or [])),
        "observations": obs, "mapping": mapping, "tier": tier, "blank": blank, "pred_id_column": pred_id_column,
        "n_bootstrap": n_bootstrap, "seed": seed, "confidence": confidence, "min_support": min_support,
        "missing": missing, "primary": metric, "reference": reference, "with_text": with_text,
    }
    if quiet or not labs:
        report = evaluate_paths(gold, **kwargs)
    else:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        with Progress(TextColumn("labeling gold with {task.fields[name]}"), BarColumn(), MofNCompleteColumn(),
                      console=err_console(), transient=True) as progress:
            tasks: dict[str, Any] = {}

            def on_progress(name: str, done: int, total: int) -> None:
                if name not in tasks:
                    tasks[name] = progress.add_task("label", total=total, name=name)
                progress.update(tasks[name], completed=done)

            report = evaluate_paths(gold, on_progress=on_progress, **kwargs)
    if not quiet:
        print_report(report)
    if output is not None:
        paths = write_report(report, output, overwrite=overwrite)
        if not quiet:
            err_console().print("wrote " + ", ".join(str(p) for p in paths.values()))
    return ExitCode.OK


def write_report_check(output: Path) -> None:
    """Fail before the (possibly long) run when --output holds earlier results and no --overwrite."""
    from ..evaluate import REPORT_FILES

    existing = [n for n in REPORT_FILES.values() if (output / n).exists()]
    if existing:
        raise ConfigError(f"{output}: {', '.join(existing)} exist(s); pass --overwrite to replace",
                          code="output_exists")
