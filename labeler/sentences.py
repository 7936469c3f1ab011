"""Stage 2: split labeled sections into sentences (rule-based, radiology-aware).

Sentence ends: ``. ! ?`` followed by space and a word that does not start lower-case (``vs.
atelectasis`` stays one sentence), a period glued to a capitalised word (``apex.There``),
blank lines, and line breaks before list markers (``1.``, ``-``). Periods after a list number
(``2. Small effusion``), decimals and common abbreviations do not end a sentence. ConText scope
never crosses these boundaries. This replaces PyRuSH, medspaCy's default splitter, which is
the slow part of a medspaCy pipeline (see ``benchmarks/``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .records import ReportResult, Section, Sentence

__all__ = ["SentenceSplitter", "split_sentences"]

_BOUNDARY = re.compile(
    r"[.!?]+(?=[\s\"')\]]*(?:\s|$))"  # end punctuation before whitespace/end
    r"|\.(?=[A-Z][a-z])"  # period glued to the next sentence
    r"|\n[ \t]*\n"  # blank line
    r"|\n(?=[ \t]*(?:\d{1,2}[.)]|[-*\u2022])\s)"  # line break before a list item
)
_ABBREV = frozenset(
    {"dr", "mr", "mrs", "ms", "vs", "e.g", "i.e", "approx", "fig", "pt", "resp", "cf", "incl"}
)
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)$")
_LIST_NUMBER = re.compile(r"(?:^|\s)\d{1,2}$")


def _is_false_boundary(text: str, start: int, pos: int) -> bool:
    """True when the '.' at ``pos`` does not end a sentence."""
    if text[pos] != ".":
        return False
    before = text[start:pos]
    m = _WORD_BEFORE.search(before)
    if m and m.group(1).lower().rstrip(".") in _ABBREV:
        return True
    if _LIST_NUMBER.search(before):
        return True  # "2. Small effusion": the list number, not a sentence end
    return False


def split_sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentence spans ``[s, e)`` inside ``text[start:end]``, trimmed of surrounding whitespace.

    >>> t = "No effusion. Heart size normal vs. mildly enlarged.Lungs clear."
    >>> [t[s:e] for s, e in split_sentences(t, 0, len(t))]
    ['No effusion.', 'Heart size normal vs. mildly enlarged.', 'Lungs clear.']
    """
    spans: list[tuple[int, int]] = []
    cur = start
    for m in _BOUNDARY.finditer(text, start, end):
        if _is_false_boundary(text, cur, m.start()):
            continue
        nxt = m.end()
        # do not split before a lower-case continuation ("vs. atelectasis", "2.5 cm")
        j = nxt
        while j < end and text[j] in " \t\"')]":
            j += 1
        if m.group()[0] in ".!?" and j < end and text[j].islower():
            continue
        spans.append((cur, nxt))
        cur = nxt
    spans.append((cur, end))
    out: list[tuple[int, int]] = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out


@dataclass(frozen=True)
class SentenceSplitter:
    """Splits the labeled sections of a result into :class:`Sentence` records."""

    requires = frozenset({"sections"})
    assigns = frozenset({"sentences"})

    def split(self, text: str, sections: tuple[Section, ...]) -> tuple[Sentence, ...]:
        out: list[Sentence] = []
        for i, sec in enumerate(sections):
            if not sec.labeled:
                continue
            out.extend(Sentence(s, e, i) for s, e in split_sentences(text, sec.start, sec.end))
        return tuple(out)

    def __call__(self, result: ReportResult, text: str) -> ReportResult:
        return result.replace(sentences=self.split(text, result.sections))
