"""Report-aware text preprocessing for topic models: report text in, token lists out.

This is the adapter between reports and the numeric core: everything that knows about report
structure (sections, placeholders, radiology filler words) lives here; the LDA side only sees
lists of tokens.

Decisions (documented in the README, "Topic modelling"):

* **Sections.** Only the sections that describe the images are kept: findings, impression,
  technique (it names the exam, which is what "which exam types are in this archive" asks) and
  addenda. History / indication (the reason for the exam describes the patient, not the
  images), comparison (dates and prior-study boilerplate), the preamble (``FINAL REPORT``),
  recommendations and notification boilerplate are dropped. Text under no recognised header
  counts as findings (the ruleset's ``headerless`` section), so plain-text reports are kept
  whole. A report with none of the kept sections falls back to its whole text, so it is never
  silently empty.
* **Tokens.** spaCy's rule-based English tokenizer (``spacy.blank("en")``: no model download),
  lower-cased. Kept: alphabetic tokens of at least ``min_token_length`` characters. Dropped:
  numbers, dates and times (not alphabetic), de-identification placeholders (``XXXX``,
  ``___``, ``[** ... **]``), spaCy's English stop words, month/day names and the radiology
  filler words in :data:`RADIOLOGY_STOP_WORDS` (``seen``, ``noted``, ``left`` / ``right`` ...).
  No lemmatisation: spaCy's lemmatiser needs lookup tables this project does not ship; plurals
  stay separate terms.
* **Segments.** Tokens are grouped into segments at sentence punctuation and line breaks, so
  bigram detection (gensim ``Phrases``, in :mod:`labeler.topics.model`) never joins words across
  a sentence boundary.

Negation is not modelled: "no pleural effusion" and "pleural effusion" give the same tokens.
Topic models describe what a corpus talks about, not what it asserts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..records import Report

__all__ = [
    "ReportPreprocessor",
    "DEFAULT_SECTIONS",
    "RADIOLOGY_STOP_WORDS",
    "DATE_WORDS",
    "is_placeholder",
    "report_text",
]

#: sections whose text feeds the topic model by default (``headerless`` text is ``findings``)
DEFAULT_SECTIONS: tuple[str, ...] = ("findings", "impression", "technique", "addendum")

#: words of every radiology report that carry no topic: reporting verbs, laterality, units
RADIOLOGY_STOP_WORDS: frozenset[str] = frozenset(
    """
    seen noted note notes identified identify evidence demonstrated demonstrates demonstrate
    visualized visualised appear appears appeared appearance present redemonstrated
    left right cm mm dr md am pm hrs hr
    report reports reported final dictated signed reviewed read reading
    patient pt
    """.split()
)

#: parts of dates: month and weekday names and their abbreviations
DATE_WORDS: frozenset[str] = frozenset(
    """
    january february march april may june july august september october november december
    jan feb mar apr jun jul aug sep sept oct nov dec
    monday tuesday wednesday thursday friday saturday sunday mon tue tues wed thu thur thurs fri sat sun
    """.split()
)

_PLACEHOLDER = re.compile(r"^(?:[xX]{2,}|_+|\*+)$")
_SEGMENT_BREAK = frozenset({".", ";", ":", "!", "?"})
#: MIMIC-style bracketed de-identification spans: [** ... **]
_BRACKETED = re.compile(r"\[\*\*.*?\*\*\]", re.DOTALL)


def is_placeholder(token: str) -> bool:
    """True for de-identification placeholders: ``XXXX`` (any case, 2+), ``___``, ``***``.

    >>> [is_placeholder(t) for t in ("XXXX", "xx", "___", "x", "xray")]
    [True, True, True, False, False]
    """
    return bool(_PLACEHOLDER.match(token))


def report_text(item: str | Report) -> str:
    """The text of a report or a string (the adapter accepts both)."""
    if isinstance(item, Report):
        return item.text
    if isinstance(item, str):
        return item
    raise TypeError(f"expected a report text (str) or a Report, got {type(item).__name__}")


@dataclass(frozen=True)
class ReportPreprocessor:
    """Turns report texts into lists of token segments (section-aware, placeholder-free).

    Parameters
    ----------
    sections : tuple of str or None, default=DEFAULT_SECTIONS
        Section names (as in the ruleset's ``sections.yaml``) whose text is kept. ``None`` keeps
        the whole report text.
    extra_stop_words : tuple of str, default=()
        Added to spaCy's English stop words, :data:`RADIOLOGY_STOP_WORDS` and :data:`DATE_WORDS`.
    min_token_length : int, default=2
    rules : str or None, default=None
        A ruleset directory whose ``sections.yaml`` defines the headers (default: the packaged one).

    Examples
    --------
    >>> pre = ReportPreprocessor()
    >>> pre.tokens(["HISTORY: cough. FINDINGS: Small left pleural effusion on XXXX 3/4/2010."])
    [['small', 'pleural', 'effusion']]
    """

    sections: tuple[str, ...] | None = DEFAULT_SECTIONS
    extra_stop_words: tuple[str, ...] = ()
    min_token_length: int = 2
    rules: str | None = None
    _cache: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        from .model import InvalidParameterError

        if self.sections is not None:
            if isinstance(self.sections, str) or not all(isinstance(s, str) and s for s in self.sections):
                raise InvalidParameterError("sections must be a tuple of section names or None")
            object.__setattr__(self, "sections", tuple(self.sections))
        if isinstance(self.extra_stop_words, str):
            raise InvalidParameterError("extra_stop_words must be a sequence of words, not one string")
        object.__setattr__(self, "extra_stop_words", tuple(sorted({w.lower() for w in self.extra_stop_words})))
        if not isinstance(self.min_token_length, int) or self.min_token_length < 1:
            raise InvalidParameterError("min_token_length must be a positive integer")

    # ---------------------------------------------------------------- lazily built resources

    def _tokenizer(self) -> Any:
        if "tokenizer" not in self._cache:
            import spacy

            self._cache["tokenizer"] = spacy.blank("en").tokenizer
        return self._cache["tokenizer"]

    def _splitter(self) -> Any:
        if "splitter" not in self._cache:
            from ..ruleset import load_ruleset
            from ..sections import SectionSplitter

            ruleset = load_ruleset(Path(self.rules)) if self.rules else load_ruleset()
            self._cache["splitter"] = SectionSplitter.from_ruleset(ruleset)
        return self._cache["splitter"]

    @property
    def stop_words(self) -> frozenset[str]:
        """All words dropped as stop words."""
        if "stop" not in self._cache:
            from spacy.lang.en.stop_words import STOP_WORDS

            self._cache["stop"] = frozenset(w.lower() for w in STOP_WORDS) | RADIOLOGY_STOP_WORDS | DATE_WORDS | \
                frozenset(self.extra_stop_words)
        return self._cache["stop"]  # type: ignore[no-any-return]

    # ---------------------------------------------------------------- text -> tokens

    def select_text(self, text: str) -> str:
        """The kept sections of ``text``, joined by blank lines (the whole text when none is found)."""
        text = _BRACKETED.sub(" ", text)
        if self.sections is None:
            return text
        keep = set(self.sections)
        parts = [text[s.start:s.end] for s in self._splitter().split(text) if s.name in keep]
        parts = [p for p in parts if p.strip()]
        return "\n\n".join(parts) if parts else text

    def segments(self, texts: Iterable[str | Report], *, batch_size: int = 256) -> list[list[list[str]]]:
        """Per report, its token segments (a segment ends at ``. ; : ! ?`` or a line break).

        Returns
        -------
        list of list of list of str
            ``out[i]`` is the list of non-empty segments of report ``i``.
        """
        stop = self.stop_words
        min_len = self.min_token_length
        selected = (self.select_text(report_text(t)) for t in texts)
        out: list[list[list[str]]] = []
        for doc in self._tokenizer().pipe(selected, batch_size=batch_size):
            segs: list[list[str]] = []
            cur: list[str] = []
            for tok in doc:
                text = tok.text
                if text in _SEGMENT_BREAK or tok.is_space or "\n" in tok.whitespace_:
                    if tok.is_alpha:
                        self._keep(tok, stop, min_len, cur)
                    if cur:
                        segs.append(cur)
                        cur = []
                    continue
                if tok.is_alpha:
                    self._keep(tok, stop, min_len, cur)
            if cur:
                segs.append(cur)
            out.append(segs)
        return out

    @staticmethod
    def _keep(tok: Any, stop: frozenset[str], min_len: int, cur: list[str]) -> None:
        if len(tok.text) < min_len or is_placeholder(tok.text):
            return
        low = tok.lower_
        if low not in stop:
            cur.append(low)

    def tokens(self, texts: Iterable[str | Report]) -> list[list[str]]:
        """Per report, its kept tokens in order (segments concatenated)."""
        return [[t for seg in segs for t in seg] for segs in self.segments(texts)]

    # ---------------------------------------------------------------- persistence

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able parameters (what a model manifest records)."""
        return {
            "sections": list(self.sections) if self.sections is not None else None,
            "extra_stop_words": list(self.extra_stop_words),
            "min_token_length": self.min_token_length,
            "rules": self.rules,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReportPreprocessor:
        """Inverse of :meth:`to_dict`."""
        sections: Sequence[str] | None = data.get("sections")
        return cls(
            sections=tuple(sections) if sections is not None else None,
            extra_stop_words=tuple(data.get("extra_stop_words", ())),
            min_token_length=int(data.get("min_token_length", 2)),
            rules=data.get("rules"),
        )
