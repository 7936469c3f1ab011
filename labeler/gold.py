"""Gold-standard label sets: loaders that turn a gold file into one array, keyed by study UID.

Two kinds of gold exist in this field:

* ``status`` gold holds a status per observation (CheXpert-style ``1 / 0 / -1 / blank``);
* ``binary`` gold only says whether an observation was *coded* (the IU/Open-i MeSH codes, where
  coders coded findings judged present **or possible**); predictions are compared as
  "positive or uncertain" against coded.

:class:`GoldSet` holds either kind as plain arrays (statuses stay :class:`AssertionStatus`
values until the metric code converts them).

Loaders (all raise :class:`~labeler.errors.DataError` with counts for bad files, never a
traceback): :func:`load_chexpert_gold` (id column + observation columns holding
``1 / 0 / -1 / blank``), :func:`load_binary_gold` (``0 / 1``), :func:`load_iu_mesh_gold` (IU
MeSH codes through a mapping table), :func:`load_negex_gold` (NegEx annotated sentences, one
target phrase per sentence), and :func:`load_gold`, which dispatches on a format name.
Gold columns are renamed with ``rename={"Airspace Opacity": "Lung Opacity"}`` where a gold set
calls an observation differently; names are matched to predictions with
:func:`normalize_name` (case, spaces, ``_`` and ``-`` do not matter).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from .errors import ConfigError, DataError
from .ingest import join_text_columns
from .vocab import AssertionStatus, chexpert_to_status

__all__ = [
    "GOLD_FORMATS",
    "GoldSet",
    "MeshRule",
    "AssertionItem",
    "normalize_name",
    "read_table",
    "table_columns",
    "load_gold",
    "load_chexpert_gold",
    "load_binary_gold",
    "load_mesh_mapping",
    "load_iu_mesh_gold",
    "mesh_codes_to_observations",
    "load_negex",
    "load_negex_gold",
    "detect_gold_format",
]

#: gold formats :func:`load_gold` reads
GOLD_FORMATS = ("chexpert", "binary", "iu-mesh", "negex")


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
    targets : tuple of str or None
        Sentence-level assertion gold (NegEx): the target phrase of each row, whose status in
        ``texts[i]`` is the gold (one observation column). ``None`` for report-level gold.
    notes : tuple of str
        What the loader left out or assumed (counts, never report text), shown in reports.
    format : str
        The format the gold was read as (``chexpert``, ``binary``, ``iu-mesh``, ``negex``, ...).
    """

    study_uids: tuple[str, ...]
    observations: tuple[str, ...]
    values: np.ndarray
    kind: Literal["binary", "status"]
    texts: tuple[str, ...] | None = None
    name: str = "gold"
    targets: tuple[str, ...] | None = None
    notes: tuple[str, ...] = ()
    format: str = ""

    def __post_init__(self) -> None:
        n, f = len(self.study_uids), len(self.observations)
        if self.kind not in ("binary", "status"):
            raise ValueError(f"kind must be 'binary' or 'status', not {self.kind!r}")
        if self.values.shape != (n, f):
            raise ValueError(f"values has shape {self.values.shape}, expected {(n, f)}")
        if len(set(self.study_uids)) != n:
            raise ValueError("study_uids must be unique")
        if len(set(self.observations)) != f:
            raise ValueError("observations must be unique")
        for attr in ("texts", "targets"):
            seq = getattr(self, attr)
            if seq is not None and len(seq) != n:
                raise ValueError(f"{attr} has {len(seq)} entries, expected {n}")
        if self.targets is not None and self.texts is None:
            raise ValueError("targets need texts (the sentences they are asserted in)")

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
    n_rows = len(df)
    df = df[df["MeSH"].str.strip() != "No Indexing"]
    notes = [f"{n_rows - len(df)} of {n_rows} reports coded 'No Indexing' left out"]
    _check_ids(df[id_column].tolist(), Path(reports_csv).name, id_column)
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
    if not len(df):
        raise DataError(f"{Path(reports_csv).name}: no coded reports")
    notes.append(f"MeSH mapping {Path(mapping_tsv).name}, tier {tier}; 'No Finding' coded where Problems is 'normal'")
    return GoldSet(tuple(df[id_column]), obs, values, "binary", tuple(texts), Path(reports_csv).name,
                   notes=tuple(notes), format="iu-mesh")


@dataclass(frozen=True)
class AssertionItem:
    """One annotated sentence: a target phrase in a sentence and its gold negation status.

    ``possible`` marks the (rare) ``Possible`` annotation, which is not negated.
    """

    item_id: str
    sentence: str
    target: str
    negated: bool
    temporality: str = ""
    experiencer: str = ""
    possible: bool = False


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
                                       parts[5].strip() if len(parts) > 5 else "", status == "possible"))
    return items


def load_negex_gold(path: str | Path, *, observation: str = "Condition") -> GoldSet:
    """NegEx/ConText annotated sentences as sentence-level ``status`` gold.

    One row per (sentence, condition) pair, keyed by the file's line number: ``texts`` holds the
    sentence, ``targets`` the condition phrase, and the single observation column the gold status
    of that phrase (Affirmed = present, Negated = absent, Possible = uncertain). A labeler with
    an assertion stage is scored on the phrase's status in its sentence; CheXpert's *negative*
    F1 on this gold is the negation F1 NegEx papers report.
    """
    items = load_negex(path)
    if not items:
        raise DataError(f"{Path(path).name}: no annotated sentences")
    ids = [it.item_id for it in items]
    _check_ids(ids, Path(path).name, "line number")
    values = np.empty((len(items), 1), dtype=object)
    for i, it in enumerate(items):
        values[i, 0] = (AssertionStatus.ABSENT if it.negated
                        else AssertionStatus.UNCERTAIN if it.possible else AssertionStatus.PRESENT)
    return GoldSet(tuple(ids), (observation,), values, "status", tuple(it.sentence for it in items), Path(path).name,
                   targets=tuple(it.target for it in items),
                   notes=(f"{len(items)} condition/sentence pairs; Affirmed = present, Negated = absent, "
                          "Possible = uncertain",),
                   format="negex")


# ---------------------------------------------------------------------------------------------
# tabular gold (CheXpert-style status CSV, generic binary CSV)

_NAME_SEP = re.compile(r"[\s_\-]+")


def normalize_name(name: str) -> str:
    """The key observation names are matched on: lower case, runs of space/``_``/``-`` as one space.

    >>> normalize_name("Pleural_Effusion") == normalize_name(" pleural effusion")
    True
    """
    return _NAME_SEP.sub(" ", str(name).strip().lower()).strip()


_TABLE_EXT = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".txt": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
              ".parquet": "parquet", ".pq": "parquet"}


def _table_kind(path: Path) -> str:
    kind = _TABLE_EXT.get(path.suffix.lower())
    if kind is None:
        raise DataError(f"{path.name}: cannot tell the table format from the extension (csv, tsv, jsonl, parquet)")
    return kind


def read_table(path: str | Path, *, nrows: int | None = None) -> pd.DataFrame:
    """Read a CSV/TSV/JSONL/Parquet table as text cells (missing cells are ``""``).

    Raises :class:`DataError` when the file is missing or unreadable.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"file not found: {p}")
    kind = _table_kind(p)
    try:
        if kind in ("csv", "tsv"):
            df = pd.read_csv(p, sep="," if kind == "csv" else "\t", dtype=str, keep_default_na=False, nrows=nrows,
                             encoding="utf-8")
        elif kind == "jsonl":
            df = pd.read_json(p, lines=True, dtype=False, nrows=nrows)
        else:
            df = pd.read_parquet(p)
            if nrows is not None:
                df = df.head(nrows)
    except (OSError, ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {p.name}: {type(exc).__name__}: {str(exc)[:200]}") from None
    except Exception as exc:  # noqa: BLE001 - pyarrow raises its own types for corrupt files
        raise DataError(f"cannot read {p.name}: {type(exc).__name__}") from None
    df.columns = [str(c) for c in df.columns]
    if kind in ("jsonl", "parquet"):
        df = df.astype(object).where(df.notna(), "")
        for col in df.columns:
            df[col] = [_cell_text(v) for v in df[col]]
    return df


def _cell_text(value: Any) -> str:
    """Text of a JSONL/Parquet cell: integers without ``.0``, containers as JSON."""
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def table_columns(path: str | Path) -> list[str]:
    """The column names of a table (header only)."""
    return list(read_table(path, nrows=0 if _table_kind(Path(path)) in ("csv", "tsv") else None).columns)


def _short(value: str) -> str:
    """A cell value fit for an error message: short values verbatim, long ones (text?) withheld."""
    return repr(value) if len(value) <= 12 else f"<{len(value)} characters>"


def _check_ids(ids: Sequence[str], source: str, id_column: str) -> None:
    empty = [i + 1 for i, u in enumerate(ids) if not str(u).strip()]
    if empty:
        raise DataError(f"{source}: {len(empty)} row(s) with an empty {id_column!r} (rows {empty[:5]})")
    seen: dict[str, int] = {}
    for u in ids:
        seen[u] = seen.get(u, 0) + 1
    dups = [u for u, c in seen.items() if c > 1]
    if dups:
        raise DataError(f"{source}: {len(dups)} duplicated id(s) in {id_column!r}, e.g. {dups[:5]}")


def _resolve_columns(
    columns: Sequence[str],
    source: str,
    *,
    id_column: str,
    text_columns: Sequence[str],
    observations: Sequence[str] | None,
    rename: Mapping[str, str] | None,
) -> list[tuple[str, str]]:
    """``(file column, observation name)`` pairs of the observation columns of a gold table."""
    if id_column not in columns:
        raise DataError(f"{source}: no id column {id_column!r}; columns are {list(columns)[:20]} "
                        "(choose one with --id-column)")
    missing_text = [c for c in text_columns if c not in columns]
    if missing_text:
        raise DataError(f"{source}: missing text column(s) {missing_text}")
    rename = dict(rename or {})
    unknown_rename = [c for c in rename if c not in columns]
    if unknown_rename:
        raise DataError(f"{source}: renamed column(s) {unknown_rename} are not in the file")
    candidates = [(c, rename.get(c, c)) for c in columns if c != id_column and c not in text_columns]
    if observations is None:
        pairs = candidates
    else:
        by_key = {normalize_name(name): (col, name) for col, name in candidates}
        missing = [o for o in observations if normalize_name(o) not in by_key]
        if missing:
            raise DataError(f"{source}: missing observation column(s) {missing} (rename gold columns with --rename)")
        pairs = [(by_key[normalize_name(o)][0], o) for o in observations]
    if not pairs:
        raise DataError(f"{source}: no observation columns besides {id_column!r}")
    names = [n for _, n in pairs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise DataError(f"{source}: observation(s) {dup} given by more than one column")
    return pairs


def _decode_columns(df: pd.DataFrame, pairs: Sequence[tuple[str, str]], source: str, decode: Any,
                    expected: str) -> np.ndarray:
    """Decode observation cells; one DataError listing every column with unknown values and counts."""
    values = np.empty((len(df), len(pairs)), dtype=object)
    problems = []
    for j, (col, _) in enumerate(pairs):
        bad_rows: list[int] = []
        bad_values: dict[str, int] = {}
        cells = df[col].tolist()
        decoded: dict[Any, Any] = {}
        for cell in dict.fromkeys(cells):  # decode each distinct value once
            try:
                decoded[cell] = decode(cell)
            except ValueError:
                pass
        for i, cell in enumerate(cells):
            if cell in decoded:
                values[i, j] = decoded[cell]
            else:
                bad_rows.append(i + 1)
                key = _short(str(cell))
                bad_values[key] = bad_values.get(key, 0) + 1
        if bad_rows:
            shown = ", ".join(f"{v} x{c}" for v, c in list(bad_values.items())[:3])
            problems.append(f"{col!r}: {len(bad_rows)} cell(s) ({shown}; rows {bad_rows[:5]})")
    if problems:
        raise DataError(f"{source}: unknown values (expected {expected}) in " + "; ".join(problems))
    return values


def _texts(df: pd.DataFrame, text_columns: Sequence[str]) -> tuple[str, ...] | None:
    if not text_columns:
        return None
    return tuple(join_text_columns({c: rec[c] for c in text_columns}) for rec in df.to_dict("records"))


def load_chexpert_gold(
    path: str | Path,
    *,
    id_column: str = "study_uid",
    observations: Sequence[str] | None = None,
    rename: Mapping[str, str] | None = None,
    text_columns: Sequence[str] = (),
) -> GoldSet:
    """Status gold from a CheXpert-style table: an id column and observation columns holding
    ``1`` (positive), ``0`` (negative), ``-1`` (uncertain) or empty (not mentioned).

    Parameters
    ----------
    path : str or Path
        CSV, TSV, JSONL or Parquet.
    id_column : str, default="study_uid"
    observations : sequence of str, default=None
        Observation columns to read (matched with :func:`normalize_name` after ``rename``);
        ``None`` reads every column except the id and text columns.
    rename : mapping of str to str, default=None
        Gold column -> observation name, for sets that call an observation differently
        (``{"Airspace Opacity": "Lung Opacity"}``).
    text_columns : sequence of str, default=()
        Report text columns (joined as ``labeler label -t`` joins them), so labelers can be run
        on the gold.

    Raises
    ------
    DataError
        Missing id/observation columns, unknown cell values (with counts per column), empty
        or duplicated ids.
    """
    return _load_table_gold(path, "status", id_column, observations, rename, text_columns, blank="error")


_BINARY = {"1": 1, "0": 0, "1.0": 1, "0.0": 0, "true": 1, "false": 0, "yes": 1, "no": 0}


def load_binary_gold(
    path: str | Path,
    *,
    id_column: str = "study_uid",
    observations: Sequence[str] | None = None,
    rename: Mapping[str, str] | None = None,
    text_columns: Sequence[str] = (),
    blank: Literal["error", "negative"] = "error",
) -> GoldSet:
    """Binary gold (coded / not coded) from a table of ``1/0`` (also ``true/false``, ``yes/no``).

    Predictions are compared as *positive or uncertain* = coded. ``blank="negative"`` reads empty
    cells as not coded; by default they are an error. Other parameters as :func:`load_chexpert_gold`.
    """
    if blank not in ("error", "negative"):
        raise ValueError("blank must be 'error' or 'negative'")
    return _load_table_gold(path, "binary", id_column, observations, rename, text_columns, blank=blank)


def _load_table_gold(path: str | Path, kind: Literal["binary", "status"], id_column: str,
                     observations: Sequence[str] | None, rename: Mapping[str, str] | None,
                     text_columns: Sequence[str], *, blank: str) -> GoldSet:
    p = Path(path)
    df = read_table(p)
    pairs = _resolve_columns(list(df.columns), p.name, id_column=id_column, text_columns=text_columns,
                             observations=observations, rename=rename)
    if not len(df):
        raise DataError(f"{p.name}: no rows")
    ids = [str(u).strip() for u in df[id_column].tolist()]
    _check_ids(ids, p.name, id_column)
    if kind == "status":
        values = _decode_columns(df, pairs, p.name, chexpert_to_status, "1, 0, -1 or empty")
    else:
        def decode(cell: Any) -> int:
            text = str(cell).strip().lower()
            if text == "" and blank == "negative":
                return 0
            if text not in _BINARY:
                raise ValueError(text)
            return _BINARY[text]

        expected = "1 or 0" + (" or empty" if blank == "negative" else "")
        values = _decode_columns(df, pairs, p.name, decode, expected).astype(np.int64)
    notes = []
    renamed = [f"{c!r} as {n!r}" for c, n in pairs if c != n]
    if renamed:
        notes.append("gold columns read as: " + ", ".join(renamed))
    return GoldSet(tuple(ids), tuple(n for _, n in pairs), values, kind, _texts(df, text_columns), p.name,
                   notes=tuple(notes), format="chexpert" if kind == "status" else "binary")


def detect_gold_format(path: str | Path) -> str:
    """Guess the gold format: ``negex`` (NegEx header), ``iu-mesh`` (``MeSH`` + ``Problems``
    columns), else ``chexpert``. Binary gold must be asked for by name."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"gold file not found: {p}")
    try:
        with p.open(encoding="utf-8", errors="replace") as fh:
            header = fh.readline()
    except OSError as exc:
        raise DataError(f"cannot read {p.name}: {exc}") from None
    low = header.lower()
    if "\t" in header and "condition" in low and "negation" in low:
        return "negex"
    if p.suffix.lower() in (".csv", ".tsv", ".jsonl", ".parquet", ".pq", ".ndjson", ".tab"):
        cols = set(table_columns(p))
        if {"MeSH", "Problems"} <= cols:
            return "iu-mesh"
    return "chexpert"


def load_gold(
    path: str | Path,
    format: str = "auto",
    *,
    id_column: str | None = None,
    observations: Sequence[str] | None = None,
    rename: Mapping[str, str] | None = None,
    text_columns: Sequence[str] | None = None,
    mapping: str | Path | None = None,
    tier: Literal["core", "ext"] = "core",
    blank: Literal["error", "negative"] = "error",
) -> GoldSet:
    """Load a gold set in one of :data:`GOLD_FORMATS` (``auto``: :func:`detect_gold_format`).

    ``id_column`` defaults to ``study_uid`` (``uid`` for ``iu-mesh``); ``text_columns`` to none
    (``findings``, ``impression`` for ``iu-mesh``). ``mapping`` (the MeSH mapping table) and
    ``tier`` are for ``iu-mesh``; ``blank`` for ``binary``.
    """
    fmt = detect_gold_format(path) if format == "auto" else format
    if fmt not in GOLD_FORMATS:
        raise ConfigError(f"unknown gold format {fmt!r} (choose from auto, {', '.join(GOLD_FORMATS)})")
    if fmt == "negex":
        return load_negex_gold(path)
    if fmt == "iu-mesh":
        if mapping is None:
            raise ConfigError("iu-mesh gold needs a MeSH mapping table (--mapping mesh_to_chexpert.tsv)")
        if tier not in ("core", "ext"):
            raise ConfigError(f"unknown tier {tier!r} (core or ext)")
        gold = load_iu_mesh_gold(path, mapping, tier=tier, id_column=id_column or "uid",
                                 text_columns=tuple(text_columns) if text_columns else ("findings", "impression"))
        if observations is not None:
            index = {normalize_name(o): j for j, o in enumerate(gold.observations)}
            missing = [o for o in observations if normalize_name(o) not in index]
            cols = [index[normalize_name(o)] for o in observations if normalize_name(o) in index]
            if not cols:
                raise DataError(f"{gold.name}: none of the observations {list(observations)} is in the MeSH mapping")
            notes = gold.notes + ((f"not in the mapping, not scored: {missing}",) if missing else ())
            gold = GoldSet(gold.study_uids, tuple(gold.observations[j] for j in cols), gold.values[:, cols], "binary",
                           gold.texts, gold.name, notes=notes, format="iu-mesh")
        return gold
    if fmt == "binary":
        return load_binary_gold(path, id_column=id_column or "study_uid", observations=observations, rename=rename,
                                text_columns=tuple(text_columns or ()), blank=blank)
    return load_chexpert_gold(path, id_column=id_column or "study_uid", observations=observations, rename=rename,
                              text_columns=tuple(text_columns or ()))
