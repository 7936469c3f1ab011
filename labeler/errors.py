"""Exception hierarchy with stable codes, and the CLI's exit codes."""

from __future__ import annotations

import enum

__all__ = [
    "ExitCode",
    "LabelerError",
    "ConfigError",
    "RuleError",
    "DataError",
    "ModelError",
]


class ExitCode(enum.IntEnum):
    """Process exit codes of the ``labeler`` command (documented in ``--help`` and the README)."""

    OK = 0
    #: an unexpected internal error (a bug: please report it)
    INTERNAL = 1
    #: bad command line, bad config, bad rules, missing input, output exists without --overwrite
    USAGE = 2
    #: the run finished but some input rows went to the errors file
    PARTIAL = 3
    #: the input could not be read at all (no rows labeled)
    DATA = 4


class LabelerError(Exception):
    """Base class of every error the engine raises on purpose.

    ``code`` is a stable slug (for scripts and docs); the message never contains report text.
    """

    code = "labeler_error"
    exit_code = ExitCode.USAGE

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class ConfigError(LabelerError):
    """Invalid option values or configuration."""

    code = "config_error"


class RuleError(LabelerError):
    """A rule file that does not load or validate. Names the file and the rule id where known."""

    code = "rule_error"

    def __init__(self, message: str, *, file: str | None = None, rule_id: str | None = None,
                 code: str | None = None) -> None:
        where = ", ".join(x for x in (file and f"file {file}", rule_id and f"rule {rule_id}") if x)
        super().__init__(f"{message} ({where})" if where else message, code=code)
        self.file = file
        self.rule_id = rule_id


class DataError(LabelerError):
    """Input data that cannot be read as a whole (per-row problems go to the errors file instead)."""

    code = "data_error"
    exit_code = ExitCode.DATA


class ModelError(LabelerError):
    """A model directory that is missing, corrupt or incompatible with this engine or ruleset."""

    code = "model_error"
