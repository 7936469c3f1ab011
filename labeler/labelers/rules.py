"""The rule-based labeler: sections → sentences → mentions → ConText assertion → aggregation."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..aggregate import Aggregator
from ..assertion import AssertionEngine
from ..errors import ConfigError
from ..mentions import MentionMatcher
from ..records import Provenance, Report, ReportResult
from ..ruleset import Ruleset, load_ruleset
from ..sections import SectionSplitter
from ..sentences import SentenceSplitter
from .base import LabelerInfo, config_hash, register, results_to_proba

__all__ = ["RuleLabeler"]

log = logging.getLogger(__name__)


def _check_chain(stages: Sequence[Any]) -> None:
    """Every stage's ``requires`` must be assigned by an earlier stage (spaCy's pipe analysis)."""
    have = {"text"}
    for stage in stages:
        missing = set(stage.requires) - have
        if missing:
            raise ConfigError(f"stage {type(stage).__name__} needs {sorted(missing)} that no earlier stage assigns")
        have |= set(stage.assigns)


@register("rules")
class RuleLabeler:
    """Rule-based labeler driven entirely by a ruleset directory.

    Parameters
    ----------
    rules : str or Path, default=None
        Ruleset directory; ``None`` uses the packaged CheXpert-14 rules.
    label_sections : sequence of str, default=None
        Sections that produce labels; ``None`` uses the ruleset manifest's (findings, impression).

    Examples
    --------
    >>> from labeler import Report
    >>> lab = RuleLabeler()
    >>> res = next(lab.label([Report("s1", "IMPRESSION: Small left pleural effusion. No pneumothorax.")]))
    >>> res.label("pleural_effusion").status.value, res.label("pneumothorax").status.value
    ('present', 'absent')
    """

    name = "rules"
    version = "1"

    def __init__(self, rules: str | Path | None = None, label_sections: Sequence[str] | None = None) -> None:
        self.rules = rules
        self.label_sections = label_sections
        self._ruleset: Ruleset | None = None
        self._stages: tuple[Any, ...] | None = None
        self._provenance: Provenance | None = None

    # compiled state is rebuilt in each process (spaCy/medspaCy objects do not pickle)
    def __getstate__(self) -> dict[str, Any]:
        return {"rules": self.rules, "label_sections": self.label_sections}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    @property
    def ruleset(self) -> Ruleset:
        """The loaded ruleset (with ``label_sections`` applied)."""
        if self._ruleset is None:
            rs = load_ruleset(self.rules)
            if self.label_sections is not None:
                known = {s.name for s in rs.sections.sections} | {rs.sections.preamble, rs.sections.headerless}
                unknown = sorted(set(self.label_sections) - known)
                if unknown:
                    raise ConfigError(f"unknown section(s) {unknown}; known: {sorted(known)}", code="unknown_section")
                manifest = rs.manifest.model_copy(update={"label_sections": list(self.label_sections)})
                rs = Ruleset(rs.path, manifest, rs.sections, rs.aggregation, rs.findings, rs.modifiers, rs.sha256)
            self._ruleset = rs
        return self._ruleset

    @property
    def observations(self) -> tuple[str, ...]:
        return self.ruleset.observations

    def params(self) -> dict[str, Any]:
        return {"rules": str(self.rules) if self.rules else None,
                "label_sections": list(self.ruleset.manifest.label_sections)}

    def info(self) -> LabelerInfo:
        rs = self.ruleset
        return LabelerInfo(self.name, self.version, rs.observations, self.params(),
                           {"name": rs.name, "version": rs.version, "sha256": rs.sha256})

    @property
    def provenance(self) -> Provenance:
        if self._provenance is None:
            rs = self.ruleset
            self._provenance = Provenance(
                engine_version=__version__,
                labeler=self.name,
                labeler_version=self.version,
                ruleset=rs.name,
                ruleset_version=rs.version,
                ruleset_sha256=rs.sha256,
                config_hash=config_hash(self.params()),
            )
        return self._provenance

    @property
    def stages(self) -> tuple[Any, ...]:
        """The compiled stages, built once per process."""
        if self._stages is None:
            rs = self.ruleset
            stages = (
                SectionSplitter.from_ruleset(rs),
                SentenceSplitter(),
                MentionMatcher.from_ruleset(rs),
                AssertionEngine.from_ruleset(rs),
                Aggregator.from_ruleset(rs),
            )
            _check_chain(stages)
            self._stages = stages
        return self._stages

    def prepare(self) -> RuleLabeler:
        """Build the compiled stages now (otherwise the first ``label`` call does); returns self."""
        self.stages  # noqa: B018
        return self

    def label_one(self, report: Report) -> ReportResult:
        """Label one report. A failure is recorded in ``result.errors`` (never raised)."""
        result = ReportResult(report.study_uid, self.provenance, rows=report.rows)
        try:
            for stage in self.stages:
                result = stage(result, report.text)
        except Exception as exc:  # noqa: BLE001 - one bad report must not stop an archive run
            log.warning("labeling failed for study_uid=%s: %s", report.study_uid, type(exc).__name__)
            return ReportResult(report.study_uid, self.provenance, rows=report.rows,
                                errors=(f"labeling_failed: {type(exc).__name__}",))
        return result

    def label(self, reports: Iterable[Report]) -> Iterator[ReportResult]:
        """One :class:`ReportResult` per report, in order."""
        self.stages  # build before the loop  # noqa: B018
        for report in reports:
            yield self.label_one(report)

    def predict_proba(self, reports: Iterable[Report]) -> np.ndarray:
        """One-hot status probabilities ``(N, F, S)``; statuses in :data:`labeler.vocab.STATUS_ORDER`."""
        return results_to_proba(list(self.label(reports)), self.observations)
