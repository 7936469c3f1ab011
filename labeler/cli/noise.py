"""``labeler noise``: how wrong is each label (the rules', or another labeler's) — a review list and
per-observation noise rates."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ..errors import ConfigError, ExitCode
from ..ingest import IngestOptions
from ..noise_audit import DEFAULT_MODELS, DEFAULT_RULE_SIGNALS, NoiseAudit, NoiseConfig, NoiseRunSummary, noise
from . import app, command_line, err_console, setup_logging, split_list
from .label import labeler_spec, parse_params

__all__ = ["noise_command", "print_noise_table", "progress_printer"]


def _names(csv: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(split_list(csv) or ()))


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def print_noise_table(audit: NoiseAudit, gold: Any = None) -> None:
    """The per-observation noise table, on stderr (percentages)."""
    from rich.table import Table

    console = err_console()
    level = f"{audit.config.confidence_level:.0%}"
    whose = (audit.provenance.get("labeler") or {}).get("name", "rules")
    table = Table(title=f"Label noise, % ({len(audit.study_uids)} reports, {whose} labels)", title_justify="left")
    headers = ["observation", "+", "0", "?", "error", f"{level} CI", "wrong|+", "wrong|0", "wrong|?", "CL"]
    if gold is not None:
        headers += ["gold", "calib"]
    for col in headers:
        table.add_column(col, justify="left" if col == "observation" else "right")
    for row, ob in zip(audit.table(), audit.per_observation):
        ci = row["error_rate_ci"]
        cells = [row["observation"] + (" !" if row["warnings"] else ""), str(row["n_positive"]),
                 str(row["n_negative"]), str(row["n_uncertain"]), _pct(row["error_rate"]),
                 f"{_pct(ci[0])}-{_pct(ci[1])}" if ci else "-", _pct(row["p_wrong_positive"]),
                 _pct(row["p_wrong_negative"]), _pct(row["p_wrong_uncertain"]), _pct(row["cl_error_rate"])]
        if gold is not None:
            chk = gold.check.get(ob.observation, {})
            cells += [_pct(chk.get("measured_error_rate")), _pct(chk.get("corpus_error_rate_calibrated"))]
        table.add_row(*cells)
    console.print(table)
    how = "recalibrated on gold" if audit.calibrated else "estimated without gold"
    console.print(f"+ positive, 0 negative (absent or blank), ? uncertain labels; error = share of labels wrong, "
                  f"wrong|x = P(label wrong | label x), {how} (label model over "
                  f"{', '.join(audit.signals.signal_names)}"
                  + (f"; confidences also average {', '.join(audit.config.pooled_models)}"
                     if audit.config.pooled_models else "")
                  + "); CL = confident learning's error estimate"
                  + ("; gold = measured on the gold reports, calib = recalibrated estimate over the whole corpus"
                     if gold is not None else ""))
    if audit.config.review == "decision":
        console.print("review list: labels a reader deciding coded / not coded would decide otherwise first; "
                      + ("hedged findings as the binary gold calibrates them" if audit.gold_decision is not None
                         else f"a hedged finding counts as coded with p = {audit.config.hedged_coded:g}")
                      + " (--review-for, --hedged-coded)")
    else:
        console.print("review list: labels whose class (negative / positive / uncertain) is least likely right first")
    n_warn = sum(1 for ob in audit.per_observation if ob.warnings)
    if n_warn:
        console.print(f"! {n_warn} observation(s) with warnings (tiny classes, correlated signals, estimators "
                      "that disagree): see 'warnings' in the noise file")


def progress_printer(quiet: bool) -> Any:
    """A stage-progress callback that prints one line per stage change on stderr (or nothing)."""
    if quiet:
        return None
    console = err_console()
    last: dict[str, int] = {}

    def on_progress(stage: str, done: int, total: int) -> None:
        if stage == "rules":
            if done == total:
                console.print(f"rules and weak labelers: {done} reports")
        elif stage == "read":
            console.print(f"read {done} reports")
        elif last.get(stage) != done:
            console.print(f"{stage}: cross-fitting fold {done}/{total}")
        last[stage] = done

    return on_progress


@app.command("noise")
def noise_command(
    input: Annotated[Path, typer.Argument(help="CSV/TSV/JSONL/Parquet file, or a folder of .txt files (stem = id).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Review list (.csv): labels most likely wrong first. OUTPUT.noise.json gets the per-observation noise rates.")],
    id_column: Annotated[str, typer.Option(help="Column holding the study UID / report id.")] = "study_uid",
    text_column: Annotated[Optional[list[str]], typer.Option("--text-column", "-t", help="Text column; repeat to join several (as for 'labeler label'). Default: text.")] = None,
    input_format: Annotated[str, typer.Option(help="auto | csv | tsv | jsonl | parquet | txt.")] = "auto",
    rules: Annotated[Optional[Path], typer.Option(help="Ruleset directory (default: the packaged CheXpert-14 rules).")] = None,
    sections: Annotated[Optional[str], typer.Option(help="Comma-separated sections that produce labels (default: the ruleset's).")] = None,
    labeler: Annotated[str, typer.Option("--labeler", "-l", help="Whose labels to audit: rules (default), or another registered labeler (classifier, ensemble, with --model); the signals always come from the rules of --rules.")] = "rules",
    model: Annotated[Optional[Path], typer.Option(help="Model directory, for --labeler classifier/ensemble.")] = None,
    param: Annotated[Optional[list[str]], typer.Option("--param", "-p", help="Option KEY=VALUE of the audited labeler (repeatable), as for 'labeler label'.")] = None,
    duplicates: Annotated[str, typer.Option(help="Duplicate ids: error | keep-first | merge.")] = "error",
    max_chars: Annotated[int, typer.Option(help="Reports longer than this go to the errors file.")] = 100_000,
    by: Annotated[str, typer.Option(help="Review order: label (each label by suspicion) | report (reports by P(any label wrong), their labels together) | observation (grouped by observation).")] = "label",
    review_for: Annotated[str, typer.Option(help="What 'wrong' means in the review list: decision (a reader deciding coded / not coded, positive or uncertain = coded, would decide otherwise; for binary labels) | status (the label's class negative/positive/uncertain is wrong: suspicion = 1 - confidence).")] = "decision",
    hedged_coded: Annotated[float, typer.Option(help="With --review-for decision: probability that a reader codes a finding the report hedges ('possible pneumonia'); 0.5 assumes no convention, 1 = U-ones, 0 = U-zeros. Binary --gold replaces it by a recalibration.")] = 0.5,
    top: Annotated[int, typer.Option(help="Rows in the review list: labels (--by label), reports (--by report) or labels per observation (--by observation).")] = 1000,
    min_suspicion: Annotated[float, typer.Option(help="Leave out labels less likely wrong than this.")] = 0.0,
    gold: Annotated[Optional[Path], typer.Option(help="Gold labels file (study_uid + observation columns, 1/0/-1/blank): adds measured noise and recalibrates the confidences on it.")] = None,
    gold_kind: Annotated[str, typer.Option(help="status (CheXpert statuses) | binary (1 = coded: present or possible; 0/blank = not).")] = "status",
    gold_id_column: Annotated[str, typer.Option(help="Id column of the gold file.")] = "study_uid",
    rule_signals: Annotated[str, typer.Option(help="Rule-derived weak labelers in the label model, comma-separated: rules.impression, rules.findings, negex, keyword (negation-free; left out by default: it errs together with negex).")] = ",".join(DEFAULT_RULE_SIGNALS),
    model_signals: Annotated[str, typer.Option(help="Registered trainable labelers used out of fold, comma-separated (the first also feeds confident learning); e.g. baseline.tfidf,classifier. Empty: none.")] = ",".join(DEFAULT_MODELS),
    pooled_signals: Annotated[str, typer.Option(help="Trainable labelers cross-fitted like --model-signals whose out-of-fold probabilities are averaged into the confidences without voting in the label model, comma-separated; e.g. classifier (a BiGRU per fold: minutes; sharper confidences).")] = "",
    folds: Annotated[int, typer.Option(help="Cross-fitting folds of the trained signals.")] = 5,
    n_bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for the intervals (0: none).")] = 200,
    seed: Annotated[int, typer.Option(help="Seeds folds, models and bootstrap.")] = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress or table.")] = False,
    log_level: Annotated[str, typer.Option(help="debug | info | warning | error.")] = "warning",
) -> int:
    """Estimate how wrong each label is (the rules', or --labeler's), without gold; list the labels to review.

    With --labeler classifier|ensemble --model DIR the labels audited are that labeler's; the
    signals, and the evidence sentences of the review list, still come from the rules.

    Signals that read the reports differently from the rules (the rules on the impression only
    and on the findings only, a NegEx-style window assertion, a TF-IDF classifier cross-fitted on
    the rules' labels) are combined per observation by a Dawid-Skene label model; confident
    learning (cleanlab) on the classifier's out-of-fold probabilities gives a second estimate.
    Writes OUTPUT (review CSV: study_uid, observation, label, confidence, the disagreeing signals,
    the evidence sentence with its rule id) and OUTPUT.noise.json (per observation: error rate,
    P(wrong | positive/negative/uncertain), flip matrices, expected precision/recall, with
    bootstrap intervals). The review file holds report sentences: keep it where the reports are.

    The review list ranks labels by the probability that a reader deciding coded / not coded
    would decide otherwise (--review-for decision): a hedged finding is coded with probability
    --hedged-coded (0.5: the text does not decide it), unless binary --gold recalibrates it.
    """
    setup_logging(log_level)
    opts = IngestOptions(id_column=id_column, text_columns=tuple(text_column or ("text",)), format=input_format,
                         duplicates=duplicates, max_chars=max_chars)  # type: ignore[arg-type]
    cfg = NoiseConfig(_names(rule_signals), _names(model_signals), n_splits=folds, n_bootstrap=n_bootstrap,
                      pooled_models=_names(pooled_signals), review=review_for, hedged_coded=hedged_coded, seed=seed)
    label_sections = split_list(sections)
    audited = None
    if labeler != "rules":
        audited = labeler_spec(labeler, rules, sections, model, parse_params(param)).build()
    elif model is not None or param:
        raise ConfigError("--model and --param are for the audited labeler: pass --labeler classifier or ensemble")
    command = command_line()
    summary: NoiseRunSummary = noise(
        input, output, ingest=opts, rules=rules, label_sections=label_sections, labeler=audited, config=cfg,
        gold_path=gold,
        gold_kind=gold_kind, gold_key=gold_id_column, by=by, top=top, min_suspicion=min_suspicion,
        overwrite=overwrite, on_progress=progress_printer(quiet), command=command)
    if not quiet and summary.audit is not None:
        print_noise_table(summary.audit, summary.gold)
        console = err_console()
        console.print(f"reports audited: {summary.n_reports} · errors: {summary.n_errors} · "
                      f"{summary.seconds:.1f} s")
        console.print(f"wrote {summary.output} ({summary.n_review_rows} rows) and {summary.noise_file}")
    return ExitCode.PARTIAL if summary.n_errors else ExitCode.OK
