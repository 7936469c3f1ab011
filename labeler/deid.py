"""De-identification guard for everything the image pipeline writes.

Manifests, splits and label exports carry study keys, image paths, labels and (optionally hashed)
patient ids — never report text and never names. Two tools enforce that:

* :func:`check_no_phi_columns` refuses a table whose column names say it carries report text
  (``text``, ``report``, ``findings``, ``impression``, ...) or person names (``PatientName``,
  ``patient_name``, ``ReferringPhysicianName``, ...), and a carried column whose *values* look like
  free text (long strings with many words), whatever its name.
* :func:`hash_patient_ids` replaces patient ids by a keyed hash (HMAC-SHA256 with a secret salt),
  so splits by patient still work (the same id always gives the same hash) while the manifest no
  longer holds the id. An unsalted hash of a medical record number can be reversed by trying every
  number, so a salt is required.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Sequence

import pandas as pd

from .errors import ConfigError, DataError

__all__ = [
    "SALT_ENV",
    "TEXT_COLUMN_NAMES",
    "phi_columns",
    "check_no_phi_columns",
    "check_no_free_text",
    "hash_patient_id",
    "hash_patient_ids",
    "resolve_salt",
]

#: environment variable read for the salt when ``--salt`` is not given
SALT_ENV = "LABELER_PATIENT_ID_SALT"

#: normalised column names (lower case, letters and digits only) that hold report text
TEXT_COLUMN_NAMES = frozenset({
    "text", "report", "reports", "reporttext", "fulltext", "narrative", "body", "note", "notes",
    "findings", "impression", "impressions", "indication", "indications", "history", "clinicalhistory",
    "comparison", "technique", "conclusion", "addendum", "sentence", "sentences", "section", "sections",
})
_NAME_COLUMN = re.compile(
    r"^(?:name|fullname|firstname|lastname|givenname|familyname|middlename|surname|maidenname"
    r"|.*(?:patient|physician|operator|person|performing|referring|reading|radiologist|doctor|author)s?name)$"
)
_OTHER_PHI = frozenset({"patientbirthdate", "birthdate", "dateofbirth", "dob", "patientaddress", "address",
                        "patienttelephonenumbers", "phone", "telephone", "email", "ssn"})


def _normalise(column: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(column).lower())


def phi_columns(columns: Iterable[str]) -> list[str]:
    """The columns whose names say they hold report text, person names or other direct identifiers.

    >>> phi_columns(["study_uid", "Path", "findings", "PatientName", "filename", "Cardiomegaly"])
    ['findings', 'PatientName']
    """
    out = []
    for col in columns:
        norm = _normalise(col)
        if norm in TEXT_COLUMN_NAMES or norm in _OTHER_PHI or _NAME_COLUMN.match(norm):
            out.append(col)
    return out


def check_no_phi_columns(columns: Iterable[str], *, where: str) -> None:
    """Raise :class:`~labeler.errors.DataError` when ``columns`` include report text or name columns.

    Parameters
    ----------
    columns : iterable of str
    where : str
        What the columns belong to (a file name), for the message.
    """
    bad = phi_columns(columns)
    if bad:
        raise DataError(
            f"{where} carries report text or identifying columns ({', '.join(map(repr, bad))}); refusing to "
            "build an image manifest from it. Labels files and manifests must not hold report text or names: "
            "drop these columns (labeler label writes labels without them).",
            code="phi_columns",
        )


def check_no_free_text(frame: pd.DataFrame, columns: Sequence[str], *, where: str,
                       min_chars: int = 60, min_words: int = 8) -> None:
    """Refuse carried columns whose values look like free text (whatever the column is called).

    A column is free text when more than a tenth of its non-empty values have at least
    ``min_chars`` characters and ``min_words`` words.
    """
    for col in columns:
        values = frame[col].dropna().astype(str)
        values = values[values != ""]
        if values.empty:
            continue
        long = (values.str.len() >= min_chars) & (values.str.split().str.len() >= min_words)
        if long.mean() > 0.1:
            raise DataError(
                f"{where}: column {col!r} looks like free text ({int(long.sum())} long multi-word values); "
                "refusing to copy it into a manifest",
                code="free_text_column",
            )


def resolve_salt(salt: str | None) -> str:
    """The salt to hash patient ids with: ``salt`` if given, else the ``LABELER_PATIENT_ID_SALT`` variable."""
    value = salt if salt is not None else os.environ.get(SALT_ENV)
    if not value:
        raise ConfigError(
            f"hashing patient ids needs a secret salt: pass --salt or set {SALT_ENV} "
            "(an unsalted hash of a patient id can be reversed by trying every id)",
            code="missing_salt",
        )
    if len(value) < 8:
        raise ConfigError("the patient-id salt must have at least 8 characters", code="weak_salt")
    return value


def hash_patient_id(patient_id: str, salt: str) -> str:
    """HMAC-SHA256 of ``patient_id`` keyed with ``salt``, as 64 hex digits.

    >>> hash_patient_id("12345", "a-secret-salt")[:16]
    'b7553616519a6f02'
    """
    return hmac.new(salt.encode("utf-8"), patient_id.encode("utf-8"), hashlib.sha256).hexdigest()


def hash_patient_ids(ids: pd.Series, salt: str) -> pd.Series:
    """Hash every non-empty id of ``ids`` (empty and missing ids stay empty)."""
    cache: dict[str, str] = {}

    def one(value: object) -> object:
        if value is None or (isinstance(value, float) and value != value) or value == "":
            return value
        key = str(value)
        if key not in cache:
            cache[key] = hash_patient_id(key, salt)
        return cache[key]

    return ids.map(one)
