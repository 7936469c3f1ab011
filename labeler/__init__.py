"""Radiology report labeling engine.

Report text → sections → finding mentions → ConText assertion → report-level labels keyed by
study UID, with evidence and provenance. The rules are data (``rules/``); labelers are
interchangeable behind :class:`~labeler.labelers.base.Labeler`.

>>> from labeler import Report, RuleLabeler
>>> result = next(RuleLabeler().label([Report("1.2.3", "IMPRESSION: No pneumothorax.")]))
>>> result.label("pneumothorax").status.value
'absent'
"""

from ._version import __version__
from .errors import ConfigError, DataError, ExitCode, LabelerError, ModelError, RuleError
from .labelers import (
    REGISTRY,
    ClassifierLabeler,
    EnsembleLabeler,
    Labeler,
    LabelerInfo,
    RuleLabeler,
    make_labeler,
    register,
)
from .records import (
    Assertion,
    Evidence,
    Label,
    Mention,
    Modifier,
    Provenance,
    Report,
    ReportResult,
    RowError,
    Section,
    Sentence,
)
from .ruleset import Ruleset, load_ruleset
from .vocab import AssertionStatus, chexpert_to_status, status_to_chexpert

__all__ = [
    "__version__",
    "AssertionStatus",
    "status_to_chexpert",
    "chexpert_to_status",
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
    "Ruleset",
    "load_ruleset",
    "Labeler",
    "LabelerInfo",
    "REGISTRY",
    "register",
    "make_labeler",
    "RuleLabeler",
    "ClassifierLabeler",
    "EnsembleLabeler",
    "LabelerError",
    "ConfigError",
    "RuleError",
    "DataError",
    "ModelError",
    "ExitCode",
]
