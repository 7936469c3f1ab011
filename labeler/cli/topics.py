"""``labeler topics fit | show | assign | drift``: LDA topic modelling of report corpora.

Thin wrappers over :mod:`labeler.topics`; data goes to files, summaries to stderr.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ..errors import ConfigError, ExitCode
from ..export import write_json
from ..ingest import IngestOptions
from . import app, command_line, err_console, print_error_reasons, setup_logging, split_list

topics_app = typer.Typer(
    help=("Topic modelling (LDA, gensim) of report corpora: what an archive holds, which reports do not "
          "belong (off-domain flag), how two corpora differ (drift). Needs the [topics] extra."),
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(topics_app, name="topics")

Corpus = Annotated[Path, typer.Argument(help="CSV/TSV/JSONL/Parquet file, or a folder of .txt files (stem = id).")]
ModelDir = Annotated[Path, typer.Option("--model", "-m", help="Topic model directory (from `labeler topics fit`).")]
IdColumn = Annotated[str, typer.Option(help="Column holding the study UID / report id.")]
TextColumn = Annotated[Optional[list[str]], typer.Option(
    "--text-column", "-t", help="Text column; repeat to join several, each under its name as header "
                                "(e.g. -t findings -t impression). Default: text.")]
InputFormat = Annotated[str, typer.Option(help="auto | csv | tsv | jsonl | parquet | txt.")]
Duplicates = Annotated[str, typer.Option(help="Duplicate ids: error | keep-first | merge.")]
MaxChars = Annotated[int, typer.Option(help="Reports longer than this go to the errors file.")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")]
LogLevel = Annotated[str, typer.Option(help="debug | info | warning | error.")]
Seed = Annotated[int, typer.Option("--seed", help="Random seed (results are reproducible for a fixed seed).")]


def _ingest(id_column: str, text_column: list[str] | None, input_format: str, duplicates: str = "error",
            max_chars: int = 100_000) -> IngestOptions:
    return IngestOptions(id_column=id_column, text_columns=tuple(text_column or ("text",)), format=input_format,
                         duplicates=duplicates, max_chars=max_chars)  # type: ignore[arg-type]


def _parse_grid(value: str) -> int | tuple[int, ...]:
    """``"10"`` -> 10; ``"5,8,10"`` -> (5, 8, 10); ``"4-12"`` or ``"4-12:2"`` -> a range."""
    try:
        if "," in value:
            return tuple(int(v) for v in value.split(",") if v.strip())
        if "-" in value.strip("-"):
            span, _, step = value.partition(":")
            lo, hi = (int(x) for x in span.split("-"))
            return tuple(range(lo, hi + 1, int(step) if step else 1))
        return int(value)
    except ValueError:
        raise ConfigError(f"--k must be a number, a list (5,8,10) or a range (4-12 or 4-20:2), got {value!r}") from None


def _sections(value: str) -> tuple[str, ...] | None:
    if value.strip().lower() == "all":
        return None
    secs = tuple(split_list(value) or ())
    if not secs:
        raise ConfigError("--sections needs section names or 'all'")
    return secs


def _topic_table(topics: list[dict[str, Any]], title: str) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for col, just in (("topic", "right"), ("share", "right"), ("coherence", "right"), ("top words", "left")):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for t in topics:
        table.add_row(str(t["topic"]), f"{100 * t['prevalence']:.1f}%",
                      "" if t.get("coherence") is None else f"{t['coherence']:.3f}", ", ".join(t["words"]))
    return table


@topics_app.command("fit")
def fit_command(
    corpus: Corpus,
    output: Annotated[Path, typer.Option("--output", "-o", help="Model directory to write, e.g. models/topics-iu.")],
    k: Annotated[str, typer.Option("--k", help="Number of topics: one (10), a list (5,8,10) or a range (4-20:2); "
                                               "with several, the most coherent is kept.")] = "5,8,10,12,15,20",
    coherence: Annotated[str, typer.Option(help="Coherence measure that chooses k: c_v | u_mass.")] = "c_v",
    select: Annotated[str, typer.Option(help="How the curve chooses k: max (highest coherence) | one-se (smallest "
                                             "k within one standard error of the best).")] = "max",
    passes: Annotated[int, typer.Option(help="Passes over the corpus per fit.")] = 20,
    iterations: Annotated[int, typer.Option(help="Max per-report inference iterations.")] = 100,
    min_df: Annotated[int, typer.Option(help="Drop terms in fewer reports (also keeps rare identifiers out).")] = 3,
    max_df: Annotated[float, typer.Option(help="Drop terms in more than this share of reports.")] = 0.5,
    bigrams: Annotated[bool, typer.Option("--bigrams/--no-bigrams", help="Detect bigrams (gensim Phrases).")] = True,
    sections: Annotated[str, typer.Option(help="Comma-separated sections to model, or 'all'.")] =
        "findings,impression,technique,addendum",
    stop_word: Annotated[Optional[list[str]], typer.Option("--stop-word", help="Extra stop word (repeat).")] = None,
    offdomain_quantile: Annotated[float, typer.Option(
        help="Off-domain threshold: this quantile of a normal fitted robustly (median, MAD) to the training "
             "corpus's scores.")] = 0.99,
    refit_inliers: Annotated[bool, typer.Option("--refit-inliers/--no-refit-inliers", help=(
        "Refit at the chosen k without the training reports the model flags off-domain (strays in the "
        "corpus then cannot hide by teaching the model their words)."))] = True,
    workers: Annotated[int, typer.Option(help="LdaMulticore worker processes.")] = 1,
    seed: Seed = 0,
    html: Annotated[bool, typer.Option("--html/--no-html", help="Write report.html into the model directory.")] = True,
    id_column: IdColumn = "study_uid",
    text_column: TextColumn = None,
    input_format: InputFormat = "auto",
    duplicates: Duplicates = "error",
    max_chars: MaxChars = 100_000,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    log_level: LogLevel = "warning",
) -> int:
    """Fit an LDA topic model on CORPUS, choosing k by coherence; save it to OUTPUT.

    OUTPUT holds manifest.json (params, coherence curve, seed, training fingerprint),
    dictionary.txt, phrases.json, lda.npz, fit.meta.json and report.html. Exit code 3 when
    some input rows could not be read (see OUTPUT/fit.errors.jsonl).
    """
    from ..topics import TopicModel, fit_topics

    setup_logging(log_level)
    model = TopicModel(
        n_topics=_parse_grid(k), coherence=coherence, k_selection=select.replace("-", "_"), passes=passes, iterations=iterations, min_df=min_df,
        max_df=max_df, bigrams=bigrams, sections=_sections(sections), extra_stop_words=tuple(stop_word or ()),
        offdomain_quantile=offdomain_quantile, refit_inliers=refit_inliers, workers=workers, random_state=seed)
    opts = _ingest(id_column, text_column, input_format, duplicates, max_chars)
    console = err_console()
    if quiet:
        summary = fit_topics(corpus, output, model=model, ingest=opts, overwrite=overwrite, html=html,
                             command=command_line())
    else:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        grid = model.grid
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      TimeElapsedColumn(), console=console, transient=True) as progress:
            task = progress.add_task("reading and tokenizing", total=len(grid))

            def on_progress(stage: str, done: int, total: int) -> None:
                if stage == "fit":
                    k_now = grid[done] if done < len(grid) else grid[-1]
                    desc = f"fitting k={k_now}" if done < len(grid) else "fitted"
                    progress.update(task, completed=done, description=desc)
                elif stage == "refit":
                    progress.update(task, description="refitting without off-domain training reports")
                elif stage == "score":
                    progress.update(task, description="scoring training reports")

            summary = fit_topics(corpus, output, model=model, ingest=opts, overwrite=overwrite, html=html,
                                 on_progress=on_progress, command=command_line())
    if not quiet:
        from rich.table import Table

        curve = Table(title=f"Coherence ({summary.coherence})", title_justify="left")
        curve.add_column("k", justify="right")
        curve.add_column("coherence", justify="right")
        curve.add_column("seconds", justify="right")
        for c in summary.curve:
            mark = " *" if c["k"] == summary.chosen_k else ""
            curve.add_row(f"{c['k']}{mark}", f"{c['coherence']:.4f}", f"{c['seconds']:.1f}")
        console.print(curve)
        topics = [{"topic": i, "prevalence": p, "coherence": c, "words": w[:8]}
                  for i, (p, c, w) in enumerate(zip(summary.prevalence, summary.topic_coherence, summary.top_terms))]
        console.print(_topic_table(topics, f"Topics (k = {summary.chosen_k})"))
        console.print(f"reports: {summary.n_reports} · errors: {summary.n_errors} · left out of the refit as "
                      f"off-domain: {summary.n_excluded_offdomain} (ids in fit.meta.json) · off-domain threshold "
                      f"{summary.offdomain_threshold:.3f} nats/token · {summary.seconds:.1f} s")
        print_error_reasons(console, summary.error_reasons, summary.errors_file)
        console.print(f"wrote {summary.output}" + (f" and {summary.html_file}" if summary.html_file else ""))
    return ExitCode.PARTIAL if summary.n_errors else ExitCode.OK


@topics_app.command("show")
def show_command(
    model: Annotated[Path, typer.Argument(help="Topic model directory.")],
    n_words: Annotated[int, typer.Option(help="Top words per topic.")] = 10,
    labels: Annotated[Optional[Path], typer.Option(help="Labels file keyed by study_uid (e.g. `labeler label` "
                                                       "CSV/Parquet/JSONL): adds the label-topic lift table.")] = None,
    label_column: Annotated[Optional[list[str]], typer.Option(help="Label column to use (repeat; default: all "
                                                                   "1/0/-1/blank columns).")] = None,
    labels_id_column: Annotated[str, typer.Option(help="Id column of the labels file.")] = "study_uid",
    uncertain_positive: Annotated[bool, typer.Option("--uncertain-positive", help="Count -1 (uncertain) as "
                                                                                   "having the label.")] = False,
    assignments: Annotated[Optional[Path], typer.Option(help="Topic assignments (`labeler topics assign` "
                                                             "output) of the labeled reports.")] = None,
    corpus: Annotated[Optional[Path], typer.Option(help="Or: the labeled reports' corpus (transformed now).")] = None,
    n_bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for the lift intervals.")] = 1000,
    seed: Seed = 0,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write everything as JSON here.")] = None,
    html: Annotated[Optional[Path], typer.Option(help="Write an HTML page (coherence curve, top-word bars, "
                                                      "lift heatmap) here.")] = None,
    id_column: IdColumn = "study_uid",
    text_column: TextColumn = None,
    input_format: InputFormat = "auto",
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    log_level: LogLevel = "warning",
) -> int:
    """Top words, prevalence and coherence of each topic; with --labels, which topics carry which labels.

    Lift = P(label | topic) / P(label), with bootstrap confidence intervals; e.g. the topic that
    carries Support Devices or post-operative reports.
    """
    from ..topics import show_topics

    setup_logging(log_level)
    for p in (output, html):
        if p is not None and p.exists() and not overwrite:
            raise ConfigError(f"output exists: {p} (pass --overwrite to replace)", code="output_exists")
    opts = _ingest(id_column, text_column, input_format)
    fitted, overview = show_topics(model, n_words=n_words, labels=labels, label_columns=label_column,
                                   labels_id_column=labels_id_column, uncertain_as_positive=uncertain_positive,
                                   assignments=assignments, corpus=corpus, ingest=opts, n_bootstrap=n_bootstrap,
                                   random_state=seed)
    if output is not None:
        write_json(output, overview.to_dict())
    if html is not None:
        from ..topics.report import topics_html

        html.write_text(topics_html(fitted, title=f"Topics of {model.name}", lift=overview.lift,
                                    n_words=n_words), encoding="utf-8")
    if not quiet:
        console = err_console()
        topics = [{"topic": t["topic"], "prevalence": t["prevalence"], "coherence": t["coherence"],
                   "words": [w["term"] for w in t["top_terms"]]} for t in overview.topics]
        console.print(_topic_table(topics, f"Topics of {model} (k = {fitted.n_topics_})"))
        if overview.lift is not None:
            from rich.table import Table

            src = overview.lift_source or {}
            table = Table(title=f"Label-topic lift (lift > 1, {int(100 * overview.lift.confidence)}% CI excludes 1; "
                                f"{src.get('n_matched')} of {src.get('n_labeled')} labeled reports matched)",
                          title_justify="left")
            for col in ("label", "topic", "lift", "CI", "n"):
                table.add_column(col)
            names = {t["topic"]: t["name"] for t in overview.topics}
            for row in overview.lift.rows(significant_only=True):
                if row["lift"] is None or row["lift"] <= 1:
                    continue
                table.add_row(row["label"], f"{row['topic']} {names[row['topic']]}", f"{row['lift']:.2f}",
                              f"{row['ci_low']:.2f}-{row['ci_high']:.2f}", str(row["n_positive"]))
            console.print(table)
        for p in (output, html):
            if p is not None:
                console.print(f"wrote {p}")
    return ExitCode.OK


@topics_app.command("assign")
def assign_command(
    corpus: Corpus,
    model: ModelDir,
    output: Annotated[Path, typer.Option("--output", "-o", help="Output file (.csv or .parquet), one row per "
                                                                "report keyed by study_uid.")],
    format: Annotated[Optional[str], typer.Option("--format", "-f", help="csv | parquet (default: from the "
                                                                          "extension).")] = None,
    threshold: Annotated[Optional[float], typer.Option(help="Off-domain score threshold (default: the model's, "
                                                            "calibrated on its training corpus).")] = None,
    offdomain_topic: Annotated[Optional[list[int]], typer.Option(
        "--offdomain-topic", help="Topic id judged off-domain (repeat): reports dominated by it are flagged.")] = None,
    chunk_size: Annotated[int, typer.Option(help="Reports per processing chunk.")] = 1024,
    id_column: IdColumn = "study_uid",
    text_column: TextColumn = None,
    input_format: InputFormat = "auto",
    duplicates: Duplicates = "error",
    max_chars: MaxChars = 100_000,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    log_level: LogLevel = "warning",
) -> int:
    """Per-report topic distribution, dominant topic, off-domain score and flag, keyed by study_uid.

    Columns: study_uid, topic_0..topic_{K-1}, dominant_topic, dominant_weight, n_tokens, oov_rate,
    offdomain_score (nats/token; higher = stranger to the model), offdomain (1/0). Writes
    OUTPUT.meta.json and, when rows fail, OUTPUT.errors.jsonl (exit code 3).
    """
    from ..topics import assign_topics

    setup_logging(log_level)
    opts = _ingest(id_column, text_column, input_format, duplicates, max_chars)
    kwargs: dict[str, Any] = dict(ingest=opts, output_format=format, overwrite=overwrite, threshold=threshold,
                                  offdomain_topics=tuple(offdomain_topic or ()), chunk_size=chunk_size,
                                  command=command_line())
    console = err_console()
    if quiet:
        summary = assign_topics(corpus, model, output, **kwargs)
    else:
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        with Progress(SpinnerColumn(), TextColumn("assigning topics: {task.fields[n]} reports"), TimeElapsedColumn(),
                      console=console, transient=True) as progress:
            task = progress.add_task("assign", total=None, n=0)
            summary = assign_topics(corpus, model, output,
                                    on_progress=lambda n: progress.update(task, n=n), **kwargs)
        from rich.markup import escape

        meta = json.loads(Path(summary.meta_file).read_text(encoding="utf-8"))
        names = meta.get("topic_names", [])
        from rich.table import Table

        table = Table(title=f"Dominant topic ({summary.n_assigned} reports)", title_justify="left")
        table.add_column("topic", justify="right")
        table.add_column("reports", justify="right")
        table.add_column("top words")
        for t, n in sorted(summary.dominant_counts.items(), key=lambda kv: -kv[1]):
            table.add_row(str(t), str(n), names[t] if t < len(names) else "")
        console.print(table)
        console.print(f"off-domain: {summary.n_flagged} flagged ({100 * summary.flagged_rate:.2f}%) at threshold "
                      f"{summary.threshold:.3f} ({escape(summary.threshold_source)}) · no tokens: {summary.n_empty}")
        console.print(f"rows read: {summary.n_rows} · assigned: {summary.n_assigned} · errors: {summary.n_errors} · "
                      f"skipped: {summary.n_skipped} · {summary.seconds:.1f} s")
        print_error_reasons(console, summary.error_reasons, summary.errors_file)
        console.print(f"wrote {summary.output} and {summary.meta_file}")
    return ExitCode.PARTIAL if summary.n_errors else ExitCode.OK


@topics_app.command("drift")
def drift_command(
    a: Annotated[Path, typer.Argument(help="Reference corpus A.")],
    b: Annotated[Path, typer.Argument(help="Corpus B, compared with A.")],
    model: ModelDir,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the result as JSON here.")] = None,
    html: Annotated[Optional[Path], typer.Option(help="Write an HTML page with the comparison here.")] = None,
    n_permutations: Annotated[int, typer.Option(help="Permutations of A+B for the p-value.")] = 1000,
    n_baseline: Annotated[int, typer.Option(help="Random half/half splits of A for the A-vs-A baseline.")] = 200,
    n_bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for each topic's share change.")] = 1000,
    min_shift: Annotated[float, typer.Option(help="Smallest share change (absolute) for a topic to count as "
                                                  "moved.")] = 0.01,
    seed: Seed = 0,
    id_column: IdColumn = "study_uid",
    text_column: TextColumn = None,
    input_format: InputFormat = "auto",
    b_id_column: Annotated[Optional[str], typer.Option(help="Id column of B (default: --id-column).")] = None,
    b_text_column: Annotated[Optional[list[str]], typer.Option(help="Text column of B (repeat; default: "
                                                                    "--text-column).")] = None,
    b_input_format: Annotated[Optional[str], typer.Option(help="Input format of B (default: --input-format).")] = None,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    log_level: LogLevel = "warning",
) -> int:
    """Compare the topic mixtures of corpora A and B under one model: Jensen-Shannon divergence against an
    A-vs-A baseline (random halves of A) and a permutation test, and the topics that moved.
    """
    from ..topics import drift_topics

    setup_logging(log_level)
    for p in (output, html):
        if p is not None and p.exists() and not overwrite:
            raise ConfigError(f"output exists: {p} (pass --overwrite to replace)", code="output_exists")
    opts_a = _ingest(id_column, text_column, input_format)
    opts_b = _ingest(b_id_column or id_column, b_text_column or text_column, b_input_format or input_format)
    report = drift_topics(a, b, model, ingest_a=opts_a, ingest_b=opts_b, n_baseline=n_baseline,
                          n_permutations=n_permutations, n_bootstrap=n_bootstrap, min_shift=min_shift,
                          random_state=seed)
    if output is not None:
        write_json(output, {**report.to_dict(), "command": command_line()})
    if html is not None:
        from ..topics import TopicModel
        from ..topics.report import topics_html

        html.write_text(topics_html(TopicModel.load(model), title=f"Drift: {a.name} vs {b.name}",
                                    drift=report.result, drift_labels=(a.name, b.name)), encoding="utf-8")
    if not quiet:
        r = report.result
        console = err_console()
        console.print(f"A = {a.name} ({r.n_a} reports), B = {b.name} ({r.n_b} reports)")
        console.print(f"Jensen-Shannon divergence {r.js:.4f} bits · A-vs-A baseline: 95th percentile "
                      f"{r.baseline_q95:.4f} (ratio {r.ratio:.1f}) · permutation p = {r.permutation_p:.4g}")
        from rich.table import Table

        table = Table(title="Topics that moved (share change beyond sampling noise)", title_justify="left")
        for col in ("topic", "top words", "share A", "share B", "change"):
            table.add_column(col)
        for s in r.moved:
            table.add_row(str(s.topic), report.topic_names[s.topic], f"{100 * s.share_a:.1f}%",
                          f"{100 * s.share_b:.1f}%", f"{100 * s.delta:+.1f} pts")
        console.print(table if r.moved else "no topic moved beyond sampling noise")
        for p in (output, html):
            if p is not None:
                console.print(f"wrote {p}")
    if (report.n_errors_a or report.n_errors_b) and not quiet:
        err_console().print(f"unreadable rows left out: A {report.n_errors_a}, B {report.n_errors_b}")
    return ExitCode.OK
