"""Stage 1: split a report into radiology sections (findings, impression, history, ...).

Headers come from ``sections.yaml``. A header is recognised case-insensitively at the start of a
line or after a sentence end, followed by a colon (``IMPRESSION: no acute ...``), or alone on its
own line. An unrecognised all-capitals header at the start of a line (``PA AND LATERAL CHEST:``)
opens a section of the ``headerless`` kind; text after a blank line that ends a one-paragraph
section (history, comparison, technique) does too, so findings written without a header are not
lost. Only sections in the manifest's ``label_sections`` produce labels: history and indication
never produce positive findings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._text import normalize_phrase, phrases_to_regex
from .records import ReportResult, Section
from .ruleset import Ruleset

__all__ = ["SectionSplitter"]

#: sections that normally hold one paragraph; a blank line after them ends the section
_ONE_PARAGRAPH = frozenset({"history", "comparison", "technique"})
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_CAPS_HEADER = re.compile(r"(?m)^[ \t]*([A-Z][A-Z /&\-]{2,40}[A-Z]):")


@dataclass(frozen=True)
class SectionSplitter:
    """Finds sections in report text. Build with :meth:`from_ruleset`; call on a result."""

    header_re: re.Pattern[str]
    header_names: dict[str, str]
    label_sections: frozenset[str]
    preamble: str
    headerless: str

    requires = frozenset({"text"})
    assigns = frozenset({"sections"})

    @classmethod
    def from_ruleset(cls, ruleset: Ruleset) -> SectionSplitter:
        names: dict[str, str] = {}
        for sec in ruleset.sections.sections:
            for header in sec.headers:
                names[normalize_phrase(header)] = sec.name
        trie = phrases_to_regex(sorted(names), sep=r"[ \t\-]+")
        # start of text/line, or after a sentence end; then the header; then ':' or end of line
        pattern = (
            r"(?:^|(?<=\n)|(?<=[.!?]\s)|(?<=[.!?]\s\s))[ \t]*(?P<h>" + trie + r")(?:[ \t]*:|[ \t]*(?=\n|$))"
        )
        return cls(
            header_re=re.compile(pattern, re.IGNORECASE),
            header_names=names,
            label_sections=frozenset(ruleset.manifest.label_sections),
            preamble=ruleset.sections.preamble,
            headerless=ruleset.sections.headerless,
        )

    def split(self, text: str) -> tuple[Section, ...]:
        """Sections of ``text``, in order, covering it from the first header (or the start) to the end."""
        marks: list[tuple[int, int, str]] = []  # (header_start, body_start, name)
        for m in self.header_re.finditer(text):
            name = self.header_names.get(normalize_phrase(m.group("h")))
            if name is not None:
                marks.append((m.start("h"), m.end(), name))
        known_starts = {h for h, _, _ in marks}
        for m in _CAPS_HEADER.finditer(text):
            if m.start(1) not in known_starts and not any(h <= m.start(1) < b for h, b, _ in marks):
                marks.append((m.start(1), m.end(), self.headerless))
        marks.sort()

        if not marks:
            if not text.strip():
                return ()
            return (Section(self.headerless, 0, 0, len(text), self.headerless in self.label_sections),)

        sections: list[Section] = []
        if text[: marks[0][0]].strip():
            sections.append(Section(self.preamble, 0, 0, marks[0][0], self.preamble in self.label_sections))
        for i, (hstart, bstart, name) in enumerate(marks):
            end = marks[i + 1][0] if i + 1 < len(marks) else len(text)
            if name in _ONE_PARAGRAPH:
                blank = _BLANK_LINE.search(text, bstart, end)
                if blank is not None and text[blank.end():end].strip():
                    sections.append(Section(name, hstart, bstart, blank.start(), name in self.label_sections))
                    sections.append(Section(self.headerless, blank.end(), blank.end(), end,
                                            self.headerless in self.label_sections))
                    continue
            sections.append(Section(name, hstart, bstart, end, name in self.label_sections))
        return tuple(sections)

    def __call__(self, result: ReportResult, text: str) -> ReportResult:
        return result.replace(sections=self.split(text))
