"""Closed vocabularies of the engine and the only place where label encodings are converted.

Statuses flow through the pipeline as :class:`AssertionStatus`. CheXpert's numeric
``1 / 0 / -1 / blank`` encoding exists only at the export boundary, through
:func:`status_to_chexpert` and :func:`chexpert_to_status`.
"""

from __future__ import annotations

import enum
import math

__all__ = [
    "AssertionStatus",
    "STATUS_ORDER",
    "status_to_chexpert",
    "chexpert_to_status",
    "CHEXPERT_POSITIVE",
    "CHEXPERT_NEGATIVE",
    "CHEXPERT_UNCERTAIN",
]


class AssertionStatus(str, enum.Enum):
    """What a report says about one observation."""

    PRESENT = "present"
    ABSENT = "absent"
    UNCERTAIN = "uncertain"
    NOT_MENTIONED = "not_mentioned"

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.value


#: Stable order used for probability arrays (N, F, S) and class indices.
STATUS_ORDER: tuple[AssertionStatus, ...] = (
    AssertionStatus.NOT_MENTIONED,
    AssertionStatus.PRESENT,
    AssertionStatus.ABSENT,
    AssertionStatus.UNCERTAIN,
)

CHEXPERT_POSITIVE = 1
CHEXPERT_NEGATIVE = 0
CHEXPERT_UNCERTAIN = -1

_TO_CHEXPERT: dict[AssertionStatus, int | None] = {
    AssertionStatus.PRESENT: CHEXPERT_POSITIVE,
    AssertionStatus.ABSENT: CHEXPERT_NEGATIVE,
    AssertionStatus.UNCERTAIN: CHEXPERT_UNCERTAIN,
    AssertionStatus.NOT_MENTIONED: None,
}
_FROM_CHEXPERT: dict[int, AssertionStatus] = {
    v: k for k, v in _TO_CHEXPERT.items() if v is not None
}


def status_to_chexpert(status: AssertionStatus) -> int | None:
    """Encode a status as CheXpert's ``1 / 0 / -1`` or ``None`` (blank).

    >>> status_to_chexpert(AssertionStatus.UNCERTAIN)
    -1
    >>> status_to_chexpert(AssertionStatus.NOT_MENTIONED) is None
    True
    """
    return _TO_CHEXPERT[AssertionStatus(status)]


def chexpert_to_status(value: object) -> AssertionStatus:
    """Decode a CheXpert cell (``1``, ``"1.0"``, ``-1``, ``""``, ``NaN``, ``None``) into a status.

    Raises ``ValueError`` for anything else.

    >>> chexpert_to_status("-1.0")
    <AssertionStatus.UNCERTAIN: 'uncertain'>
    >>> chexpert_to_status("")
    <AssertionStatus.NOT_MENTIONED: 'not_mentioned'>
    """
    if value is None:
        return AssertionStatus.NOT_MENTIONED
    if isinstance(value, float) and math.isnan(value):
        return AssertionStatus.NOT_MENTIONED
    text = str(value).strip()
    if text == "" or text.lower() in {"nan", "none", "null"}:
        return AssertionStatus.NOT_MENTIONED
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"not a CheXpert label value: {value!r}") from None
    if number not in (1.0, 0.0, -1.0):
        raise ValueError(f"not a CheXpert label value: {value!r}")
    return _FROM_CHEXPERT[int(number)]
