"""The typed records that flow through the pipeline.

One :class:`Report` goes in; each stage returns a new, frozen :class:`ReportResult` with more
filled in (``sections`` → ``mentions`` → ``assertions`` → ``labels``). Records hold character
offsets into ``Report.text``, never copies of it, so a result can be written out without
carrying patient text.

The records are frozen, slotted dataclasses: they are built on the hot path (thousands per
second), so validation happens once at the edges (ingest, rule loading) instead of per object.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .vocab import AssertionStatus

__all__ = [
    "Report",
    "Section",
    "Sentence",
    "Mention",
    "Modifier",
    "Assertion",
    "Evidence",
    "Label",
    "Provenance",
    "ReportResult",
    "RowError",
]


@dataclass(frozen=True, slots=True)
class Report:
    """One radiology report as given by the user.

    Parameters
    ----------
    study_uid : str
        The key the user gave (DICOM StudyInstanceUID, accession or any report id), carried verbatim.
    text : str
        The report text. Several input columns are joined with their headers (``FINDINGS: ...``).
    source : str, default=""
        Where the report came from (file name), for provenance.
    rows : tuple of int, default=()
        1-based input row numbers this report was built from (several when duplicates were merged).
    metadata : dict, default={}
        Extra string fields (accession, modality, ...). Treated as read-only.
    """

    study_uid: str
    text: str
    source: str = ""
    rows: tuple[int, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.study_uid, str) or self.study_uid == "":
            raise ValueError("Report.study_uid must be a non-empty string")
        if not isinstance(self.text, str):
            raise ValueError("Report.text must be a string")


@dataclass(frozen=True, slots=True)
class Section:
    """A section of the report: ``[start, end)`` is its body, after the header."""

    name: str
    header_start: int
    start: int
    end: int
    labeled: bool


@dataclass(frozen=True, slots=True)
class Sentence:
    """A sentence ``[start, end)`` inside section number ``section``."""

    start: int
    end: int
    section: int


@dataclass(frozen=True, slots=True)
class Mention:
    """A finding mention found by a phrase rule.

    ``fixed_status`` is set when the phrase itself asserts a status (``"normal heart size"`` is
    an *absent* mention of cardiomegaly); such mentions are not re-interpreted by ConText.
    """

    observation: str
    start: int
    end: int
    rule_id: str
    sentence: int
    fixed_status: AssertionStatus | None = None


@dataclass(frozen=True, slots=True)
class Modifier:
    """A ConText modifier that reached a mention."""

    rule_id: str
    category: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Assertion:
    """The status of mention number ``mention`` and the modifier that decided it (``None``: default).

    ``counted`` is False for mentions that must not contribute to the report label
    (hypothetical mentions, by the default aggregation policy).
    """

    mention: int
    status: AssertionStatus
    modifier: Modifier | None
    counted: bool = True
    others: tuple[Modifier, ...] = ()


@dataclass(frozen=True, slots=True)
class Evidence:
    """Why a label has its value: one mention, its sentence, and the deciding modifier."""

    status: AssertionStatus
    rule_id: str
    section: str
    sentence_start: int
    sentence_end: int
    mention_start: int
    mention_end: int
    modifier: Modifier | None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (offsets and rule ids only, never text)."""
        out: dict[str, Any] = {
            "status": self.status.value,
            "rule_id": self.rule_id,
            "section": self.section,
            "sentence": [self.sentence_start, self.sentence_end],
            "mention": [self.mention_start, self.mention_end],
            "modifier": None,
        }
        if self.modifier is not None:
            out["modifier"] = {
                "rule_id": self.modifier.rule_id,
                "category": self.modifier.category,
                "span": [self.modifier.start, self.modifier.end],
            }
        return out


@dataclass(frozen=True, slots=True)
class Label:
    """The report-level status of one observation.

    ``evidence`` lists every mention of the observation, the deciding ones first.
    ``rule_id`` names an aggregation rule when the label was derived (``No Finding``) or implied.
    ``probabilities`` maps status values to probabilities when the labeler is probabilistic.
    """

    observation: str
    status: AssertionStatus
    evidence: tuple[Evidence, ...] = ()
    rule_id: str | None = None
    probabilities: dict[str, float] | None = None


@dataclass(frozen=True, slots=True)
class Provenance:
    """What produced a result: enough to reproduce it."""

    engine_version: str
    labeler: str
    labeler_version: str
    ruleset: str
    ruleset_version: str
    ruleset_sha256: str
    config_hash: str
    model_sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form."""
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class ReportResult:
    """Everything the pipeline knows about one report. Stages return updated copies."""

    study_uid: str
    provenance: Provenance
    sections: tuple[Section, ...] = ()
    sentences: tuple[Sentence, ...] = ()
    mentions: tuple[Mention, ...] = ()
    assertions: tuple[Assertion, ...] = ()
    labels: tuple[Label, ...] = ()
    rows: tuple[int, ...] = ()
    errors: tuple[str, ...] = ()

    def replace(self, **changes: Any) -> ReportResult:
        """A copy with ``changes`` applied (the way a stage returns its output)."""
        return dataclasses.replace(self, **changes)

    def label(self, observation: str) -> Label:
        """The label of ``observation`` (its id, e.g. ``"pleural_effusion"``)."""
        for lab in self.labels:
            if lab.observation == observation:
                return lab
        raise KeyError(observation)

    def statuses(self) -> dict[str, AssertionStatus]:
        """``{observation id: status}`` in ruleset order."""
        return {lab.observation: lab.status for lab in self.labels}


@dataclass(frozen=True, slots=True)
class RowError:
    """An input row that yielded no output row, and why (never the row's text).

    ``reason`` is a stable slug: ``empty_text``, ``missing_id``, ``duplicate_id``, ``undecodable``,
    ``too_long``, ``malformed_row``, ``labeling_failed``. ``fatal`` is False for rows skipped on
    purpose by a policy the user chose (``--duplicates keep-first``).
    """

    row: int
    reason: str
    detail: str = ""
    study_uid: str | None = None
    source: str = ""
    fatal: bool = True

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form."""
        return dataclasses.asdict(self)
