"""Training a classifier labeler from a report archive: the library function under ``labeler train``.

:func:`train` reads any corpus :mod:`labeler.ingest` reads, labels it with the rule labeler (weak
supervision), fits a :class:`~labeler.labelers.classifier.ClassifierLabeler`, optionally uses a
gold set — to fine-tune the classifier, or to fit the ensemble's stacker — and saves the model
directory with its model card. :func:`load_gold_table` reads a gold file.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .errors import ConfigError, DataError
from .gold import GoldSet
from .ingest import IngestOptions, join_text_columns, read_reports
from .records import Report, RowError
from .vocab import AssertionStatus, chexpert_to_status

__all__ = ["TrainSummary", "train", "load_gold_table"]

log = logging.getLogger(__name__)

ProgressFn = Callable[[str, int, int, dict[str, Any]], None]


@dataclass
class TrainSummary:
    """What a training run did (the model card holds the full record)."""

    output: str
    architecture: str
    n_reports: int
    n_row_errors: int
    n_excluded_gold: int = 0
    gold: str | None = None
    gold_use: str | None = None
    epochs_run: int = 0
    best_epoch: int = 0
    seconds: float = 0.0
    validation: dict[str, Any] = field(default_factory=dict)
    weights_sha256: str = ""
    stacker: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_gold_table(
    path: str | Path,
    observations: Sequence[str],
    *,
    kind: Literal["status", "binary"] = "status",
    id_column: str = "study_uid",
    text_columns: Sequence[str] = ("text",),
    name: str | None = None,
) -> GoldSet:
    """Read a gold file (CSV/TSV/JSONL/Parquet) with ids, report text and one column per observation.

    Parameters
    ----------
    path : str or Path
    observations : sequence of str
        Column names to read (display names such as ``"Pleural Effusion"``, or ids); columns the
        file lacks are left out of the gold set, at least one must be there.
    kind : {"status", "binary"}, default="status"
        ``status``: CheXpert cells ``1 / 0 / -1 / blank``. ``binary``: ``1`` coded, ``0`` or blank not.
    id_column, text_columns
        As for ``labeler label`` (several text columns are joined under their names as headers).
    """
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise DataError(f"gold file not found: {p}")
    suffix = p.suffix.lower()
    try:
        if suffix in (".jsonl", ".ndjson"):
            df = pd.read_json(p, lines=True, dtype=False)
        elif suffix in (".parquet", ".pq"):
            df = pd.read_parquet(p)
        else:
            df = pd.read_csv(p, sep="\t" if suffix in (".tsv", ".tab") else ",", dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read gold file {p.name}: {exc}") from None
    missing = [c for c in (id_column, *text_columns) if c not in df.columns]
    if missing:
        raise DataError(f"gold file {p.name} lacks column(s) {missing}")
    cols = [o for o in observations if o in df.columns]
    if not cols:
        raise DataError(f"gold file {p.name} has none of the observation columns ({', '.join(observations)})")
    ids = [str(v) for v in df[id_column]]
    if len(set(ids)) != len(ids):
        raise DataError(f"gold file {p.name} repeats ids in column {id_column!r}")
    texts = []
    for rec in df[list(text_columns)].to_dict("records"):
        texts.append(join_text_columns(rec) if len(text_columns) > 1 else str(rec[text_columns[0]] or ""))
    values = np.empty((len(df), len(cols)), dtype=object if kind == "status" else np.int64)
    for j, c in enumerate(cols):
        for i, v in enumerate(df[c].tolist()):
            try:
                if kind == "status":
                    values[i, j] = chexpert_to_status(v)
                else:
                    st = chexpert_to_status(v)
                    if st is AssertionStatus.UNCERTAIN:
                        raise ValueError(v)
                    values[i, j] = int(st is AssertionStatus.PRESENT)
            except ValueError:
                expected = "1, 0, -1 or blank" if kind == "status" else "1, 0 or blank"
                raise DataError(f"gold file {p.name} row {i + 1}, column {c!r}: {v!r} is not {expected}") from None
    return GoldSet(tuple(ids), tuple(cols), values, kind, tuple(texts), name or p.name)


def train(
    input_path: str | Path,
    output_dir: str | Path,
    *,
    architecture: str = "bigru",
    rules: str | Path | None = None,
    label_sections: Sequence[str] | None = None,
    ingest: IngestOptions | None = None,
    gold: GoldSet | None = None,
    gold_use: Literal["fine-tune", "stack"] = "fine-tune",
    overwrite: bool = False,
    params: dict[str, Any] | None = None,
    on_progress: ProgressFn | None = None,
) -> TrainSummary:
    """Train a classifier labeler on the rule labels of a corpus and save it to ``output_dir``.

    Parameters
    ----------
    input_path : str or Path
        Any input ``labeler label`` reads. Rows that cannot be read are counted, not fatal.
    output_dir : str or Path
        The model directory (weights, ``model.json``, ``MODEL_CARD.md``, ``stacker.json``).
    architecture : {"bigru", "transformer"}, default="bigru"
    rules, label_sections
        The ruleset that labels the corpus (and whose labeled sections the classifier reads).
    ingest : IngestOptions, default=None
    gold : GoldSet, default=None
        Human labels with texts (see :func:`load_gold_table`).
    gold_use : {"fine-tune", "stack"}, default="fine-tune"
        ``fine-tune``: continue training the classifier on the gold. ``stack``: fit the ensemble's
        stacker on it (``labeler label --labeler ensemble`` then uses it); gold reports are then
        removed from the weak-supervision corpus (same id or same text) so that the classifier's
        probabilities on them are out-of-sample.
    overwrite : bool, default=False
        Replace an existing model directory.
    params : dict, default=None
        Other :class:`ClassifierLabeler` constructor arguments (epochs, seed, device, n_threads ...).
    on_progress : callable(stage, done, total, info), default=None
    """
    from .labelers.classifier import CARD_JSON, ClassifierLabeler
    from .labelers.ensemble import EnsembleLabeler

    out = Path(output_dir)
    if (out / CARD_JSON).exists() and not overwrite:
        raise ConfigError(f"model directory {out} already holds a model (pass --overwrite to replace it)",
                          code="output_exists")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} exists and is not a directory")
    if gold_use not in ("fine-tune", "stack"):
        raise ConfigError(f"gold_use must be 'fine-tune' or 'stack', not {gold_use!r}")
    params = dict(params or {})
    for key in ("model", "rules", "label_sections", "architecture"):
        if key in params:
            raise ConfigError(f"pass {key} as its own argument, not in params")
    clf = ClassifierLabeler(rules=rules, label_sections=label_sections, architecture=architecture, **params)
    clf.hyperparameters()  # validate before reading the corpus

    reports: list[Report] = []
    n_row_errors = 0
    for item in read_reports(input_path, ingest or IngestOptions()):
        if isinstance(item, RowError):
            n_row_errors += item.fatal
        else:
            reports.append(item)
    n_excluded = 0
    if gold is not None and gold_use == "stack":
        gold_ids = set(gold.study_uids)
        gold_texts = set(gold.texts or ())
        kept = [r for r in reports if r.study_uid not in gold_ids and r.text not in gold_texts]
        n_excluded = len(reports) - len(kept)
        reports = kept
        if n_excluded:
            log.info("left %d gold reports out of the weak-supervision corpus", n_excluded)
    if not reports:
        raise DataError(f"no report to train on in {input_path}")
    start = time.perf_counter()
    clf.fit(reports, on_progress=on_progress)
    if gold is not None and gold_use == "fine-tune":
        clf.fine_tune(gold, on_progress=on_progress)
    clf.save(out)
    stacker = False
    if gold is not None and gold_use == "stack":
        ens = EnsembleLabeler(classifier=clf, rules=rules, label_sections=label_sections)
        ens.fit(gold)
        ens.save_stacker(out / "stacker.json")
        stacker = True
    card = clf.card_ or {}
    return TrainSummary(
        output=str(out),
        architecture=architecture,
        n_reports=len(reports),
        n_row_errors=int(n_row_errors),
        n_excluded_gold=n_excluded,
        gold=gold.name if gold is not None else None,
        gold_use=gold_use if gold is not None else None,
        epochs_run=card["training"]["epochs_run"],
        best_epoch=card["training"]["best_epoch"],
        seconds=round(time.perf_counter() - start, 2),
        validation=card["metrics"]["validation"],
        weights_sha256=card["weights"]["sha256"],
        stacker=stacker,
    )
