"""Gold-standard label sets: loaders that turn a gold file into one array, keyed by study UID.

Two kinds of gold exist in this field:

* ``status`` gold holds a status per observation (CheXpert-style ``1 / 0 / -1 / blank``);
* ``binary`` gold only says whether an observation was *coded* (the IU/Open-i MeSH codes, where
  coders coded findings judged present **or possible**); predictions are compared as
  "positive or uncertain" against coded.

:class:`GoldSet` holds either kind as plain arrays (statuses stay :class:`AssertionStatus`
values until the metric code converts them).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from .errors import DataError
from .ingest import join_text_columns
from .vocab import AssertionStatus

__all__ = [
    "GoldSet",
    "MeshRule",
    "AssertionItem",
    "load_mesh_mapping",
    "load_iu_mesh_gold",
    "mesh_codes_to_observations",
    "load_negex",
]


@dataclass(frozen=True)
class GoldSet:
    """Gold labels for ``N`` reports and ``F`` observations.

    Attributes
    ----------
    study_uids : tuple of str, shape (N,)
    observations : tuple of str, shape (F,)
        Display names (the output-contract column names, e.g. ``"Pleural Effusion"``).
    values : ndarray of shape (N, F)
        ``kind == "binary"``: int 0/1 (coded or not). ``kind == "status"``: ``AssertionStatus`` objects.
    kind : {"binary", "status"}
    texts : tuple of str or None
        Report texts when the gold file carries them (so a labeler can be run on the gold).
    name : str
        A short name for reports (file name).
    """

    study_uids: tuple[str, ...]
    observations: tuple[str, ...]
    values: np.ndarray
    kind: Literal["binary", "status"]
    texts: tuple[str, ...] | None = None
    name: str = "gold"

    def __post_init__(self) -> None:
        n, f = len(self.study_uids), len(self.observations)
        if self.values.shape != (n, f):
            raise ValueError(f"values has shape {self.values.shape}, expected {(n, f)}")
        if len(set(self.study_uids)) != n:
            raise ValueError("study_uids must be unique")

    def support(self) -> dict[str, int]:
        """Number of positive (binary) or mentioned (status) reports per observation."""
        if self.kind == "binary":
            counts = self.values.sum(axis=0)
        else:
            counts = (self.values != AssertionStatus.NOT_MENTIONED).sum(axis=0)
        return {o: int(c) for o, c in zip(self.observations, counts)}


@dataclass(frozen=True)
class MeshRule:
    """One row of a MeSH → observation mapping table."""

    observation: str
    tier: str
    mesh_head: str
    qualifier: re.Pattern[str]


def load_mesh_mapping(path: str | Path, tiers: tuple[str, ...] = ("core",)) -> list[MeshRule]:
    """Read a mapping TSV (columns ``label, tier, mesh_head, qualifier_regex``), keeping ``tiers``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"mapping file not found: {path}")
    rules: list[MeshRule] = []
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh, delimiter="\t")
        needed = {"label", "tier", "mesh_head", "qualifier_regex"}
        if reader.fieldnames is None or not needed <= set(reader.fieldnames):
            raise DataError(f"{path.name}: mapping needs columns {sorted(needed)}, has {reader.fieldnames}")
        for lineno, row in enumerate(reader, start=2):
            if row["tier"] not in tiers:
                continue
            try:
                pattern = re.compile(row["qualifier_regex"] or ".*")
            except re.error as exc:
                raise DataError(f"{path.name} line {lineno}: bad qualifier_regex: {exc}") from None
            rules.append(MeshRule(row["label"], row["tier"], row["mesh_head"].strip().lower(), pattern))
    return rules


def mesh_codes_to_observations(codes: str, rules: list[MeshRule]) -> set[str]:
    """Observations coded by a ``;``-separated MeSH code string (``head/qualifier/...``).

    >>> rules = [MeshRule("Cardiomegaly", "core", "cardiomegaly", re.compile(".*"))]
    >>> mesh_codes_to_observations("Cardiomegaly/borderline;Aorta/tortuous", rules)
    {'Cardiomegaly'}
    """
    found: set[str] = set()
    for code in codes.split(";"):
        code = code.strip()
        if not code:
            continue
        head, _, qualifier = code.partition("/")
        head = head.strip().lower()
        qualifier = qualifier.strip().lower()
        for rule in rules:
            if rule.mesh_head == head and rule.qualifier.search(qualifier):
                found.add(rule.observation)
    return found


def load_iu_mesh_gold(
    reports_csv: str | Path,
    mapping_tsv: str | Path,
    *,
    tier: Literal["core", "ext"] = "core",
    observations: tuple[str, ...] | None = None,
    id_column: str = "uid",
    text_columns: tuple[str, ...] = ("findings", "impression"),
) -> GoldSet:
    """Binary gold from IU/Open-i reports coded with MeSH (``MeSH`` and ``Problems`` columns).

    ``tier="core"`` keeps the strict mapping rows; ``"ext"`` adds the CheXpert-convention rows.
    Reports coded ``No Indexing`` are left out. ``No Finding`` is coded where ``Problems`` is
    exactly ``normal``. ``texts`` holds the given text columns joined with their headers.
    """
    rules = load_mesh_mapping(mapping_tsv, ("core",) if tier == "core" else ("core", "ext"))
    try:
        df = pd.read_csv(reports_csv, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError) as exc:
        raise DataError(f"cannot read {reports_csv}: {exc}") from None
    missing = {id_column, "MeSH", "Problems", *text_columns} - set(df.columns)
    if missing:
        raise DataError(f"{Path(reports_csv).name}: missing columns {sorted(missing)}")
    df = df[df["MeSH"].str.strip() != "No Indexing"]
    obs = observations or tuple(dict.fromkeys(["No Finding", *[r.observation for r in rules]]))
    index = {o: j for j, o in enumerate(obs)}
    values = np.zeros((len(df), len(obs)), dtype=np.int64)
    texts = []
    for i, row in enumerate(df.itertuples(index=False)):
        rec = row._asdict()
        for o in mesh_codes_to_observations(rec["MeSH"], rules):
            if o in index:
                values[i, index[o]] = 1
        if "No Finding" in index and rec["Problems"].strip().lower() == "normal":
            values[i, index["No Finding"]] = 1
        texts.append(join_text_columns({c: rec[c] for c in text_columns}))
    return GoldSet(tuple(df[id_column]), obs, values, "binary", tuple(texts), Path(reports_csv).name)


@dataclass(frozen=True)
class AssertionItem:
    """One annotated sentence: a target phrase in a sentence and its gold negation status."""

    item_id: str
    sentence: str
    target: str
    negated: bool
    temporality: str = ""
    experiencer: str = ""


def load_negex(path: str | Path) -> list[AssertionItem]:
    """Read the NegEx/ConText annotated-sentence file (tab-separated, with a header line).

    Columns: line number, condition, sentence, negation status (Affirmed/Negated/Possible),
    temporality, experiencer.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"NegEx file not found: {path}")
    items: list[AssertionItem] = []
    with path.open(encoding="utf-8", errors="replace") as fh:
        header = fh.readline()
        if "\t" not in header:
            raise DataError(f"{path.name}: expected a tab-separated file with a header line")
        for lineno, line in enumerate(fh, start=2):
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 4:
                if line.strip():
                    raise DataError(f"{path.name} line {lineno}: expected at least 4 tab-separated fields")
                continue
            status = parts[3].strip().lower()
            if status not in ("affirmed", "negated", "possible"):
                raise DataError(f"{path.name} line {lineno}: unknown negation status {parts[3]!r}")
            items.append(AssertionItem(parts[0].strip(), parts[2], parts[1].strip(), status == "negated",
                                       parts[4].strip() if len(parts) > 4 else "",
                                       parts[5].strip() if len(parts) > 5 else ""))
    return items
