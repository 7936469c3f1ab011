"""Closed vocabularies of the engine and the only place where label encodings are converted.

Statuses flow through the pipeline as :class:`AssertionStatus`. CheXpert's numeric
``1 / 0 / -1 / blank`` encoding exists only at the export boundary, through
:func:`status_to_chexpert` and :func:`chexpert_to_status`.

The noise estimators (:mod:`labeler.noise`, Snorkel/cleanlab conventions) work on integer classes
``0..K-1`` with :data:`ABSTAIN` for "this signal says nothing". Their class space is
:data:`NOISE_CLASSES` (negative / positive / uncertain: *not mentioned* counts as negative, as
image training reads a blank); statuses and status probabilities become classes only through
:func:`statuses_to_classes`, :func:`status_to_class` and :func:`status_proba_to_class_proba`.
"""

from __future__ import annotations

import enum
import math

import numpy as np

__all__ = [
    "AssertionStatus",
    "STATUS_ORDER",
    "status_to_chexpert",
    "chexpert_to_status",
    "CHEXPERT_POSITIVE",
    "CHEXPERT_NEGATIVE",
    "CHEXPERT_UNCERTAIN",
    "ABSTAIN",
    "NOISE_CLASSES",
    "NEGATIVE_CLASS",
    "POSITIVE_CLASS",
    "UNCERTAIN_CLASS",
    "CODED_CLASSES",
    "status_to_class",
    "statuses_to_classes",
    "class_names",
    "status_proba_to_class_proba",
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


# --------------------------------------------------------------------------------------------
# Integer classes of the noise estimators (cleanlab / Snorkel space)

#: "this signal gives no label here" in a label matrix ``L`` (Snorkel's convention)
ABSTAIN = -1
#: class names of the noise estimators, index = class id
NOISE_CLASSES: tuple[str, ...] = ("negative", "positive", "uncertain")
NEGATIVE_CLASS, POSITIVE_CLASS, UNCERTAIN_CLASS = 0, 1, 2
#: classes that binary "coded" gold (IU MeSH: present or possible) counts as coded
CODED_CLASSES: tuple[int, ...] = (POSITIVE_CLASS, UNCERTAIN_CLASS)

_TO_CLASS: dict[AssertionStatus, int] = {
    AssertionStatus.NOT_MENTIONED: NEGATIVE_CLASS,
    AssertionStatus.ABSENT: NEGATIVE_CLASS,
    AssertionStatus.PRESENT: POSITIVE_CLASS,
    AssertionStatus.UNCERTAIN: UNCERTAIN_CLASS,
}


def status_to_class(status: AssertionStatus | str | None, *, abstain_not_mentioned: bool = False) -> int:
    """The noise class of a status; ``None`` (no label) is :data:`ABSTAIN`.

    ``abstain_not_mentioned=True`` makes *not mentioned* an abstention (for signals that read
    only part of a report, where silence is no evidence of absence).

    >>> status_to_class(AssertionStatus.ABSENT), status_to_class("uncertain")
    (0, 2)
    >>> status_to_class("not_mentioned", abstain_not_mentioned=True) == ABSTAIN
    True
    """
    if status is None:
        return ABSTAIN
    st = AssertionStatus(status)
    if abstain_not_mentioned and st is AssertionStatus.NOT_MENTIONED:
        return ABSTAIN
    return _TO_CLASS[st]


def statuses_to_classes(statuses: object, *, abstain_not_mentioned: bool = False) -> np.ndarray:
    """Element-wise :func:`status_to_class` over an array-like of statuses (any shape) → int64 array.

    >>> statuses_to_classes([["present", "not_mentioned"], [None, "uncertain"]]).tolist()
    [[1, 0], [-1, 2]]
    """
    arr = np.asarray(statuses, dtype=object)
    out = np.empty(arr.shape, dtype=np.int64)
    flat_in, flat_out = arr.reshape(-1), out.reshape(-1)
    cache: dict[object, int] = {}
    for i, st in enumerate(flat_in):
        key = None if st is None else str(st.value if isinstance(st, AssertionStatus) else st)
        if key not in cache:
            cache[key] = status_to_class(key, abstain_not_mentioned=abstain_not_mentioned)
        flat_out[i] = cache[key]
    return out


def class_names(classes: object) -> list[str]:
    """Names of integer classes (``ABSTAIN`` → ``"abstain"``).

    >>> class_names([1, 0, -1])
    ['positive', 'negative', 'abstain']
    """
    out = []
    for k in np.asarray(classes).reshape(-1).tolist():
        if k == ABSTAIN:
            out.append("abstain")
        elif 0 <= k < len(NOISE_CLASSES):
            out.append(NOISE_CLASSES[k])
        else:
            raise ValueError(f"not a noise class: {k!r}")
    return out


def status_proba_to_class_proba(proba: np.ndarray) -> np.ndarray:
    """Status probabilities ``(..., S)`` in :data:`STATUS_ORDER` → class probabilities ``(..., K)``.

    *Not mentioned* and *absent* add up to *negative*.

    >>> status_proba_to_class_proba(np.array([0.1, 0.6, 0.2, 0.1])).round(2).tolist()
    [0.3, 0.6, 0.1]
    """
    p = np.asarray(proba, dtype=np.float64)
    if p.shape[-1] != len(STATUS_ORDER):
        raise ValueError(f"last axis must have {len(STATUS_ORDER)} statuses, got shape {p.shape}")
    out = np.zeros((*p.shape[:-1], len(NOISE_CLASSES)), dtype=np.float64)
    for s, status in enumerate(STATUS_ORDER):
        out[..., _TO_CLASS[status]] += p[..., s]
    return out
