"""Stage 3: find finding mentions in labeled sentences, from the phrase rules of ``findings/``.

All phrases of all observations compile into one trie-shaped regex that is scanned once per
sentence (cost grows with text length, not with the number of phrases); at every word start the
longest phrase is taken and every shorter phrase that ends on a word boundary inside it is
looked up too, so nested phrases of different observations are all seen (``hydropneumothorax``
is both a pneumothorax and an effusion when both files list it). Regex ``patterns`` run on
their own. Then, per observation, exclusions remove the mentions they overlap
(``pericardial effusion`` is not a pleural effusion) and overlapping mentions keep the longest.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from ._text import normalize_phrase, phrase_variants, phrases_to_regex
from .records import Mention, ReportResult, Sentence
from .ruleset import PhraseRule, Ruleset
from .vocab import AssertionStatus

__all__ = ["MentionMatcher"]

_WORD = re.compile(r"[^\s\-]+")
_MENTION = 0
_EXCLUSION = 1


@dataclass(frozen=True, slots=True)
class _Entry:
    observation: str
    rule_id: str
    kind: int
    status: AssertionStatus | None


@dataclass(frozen=True, slots=True)
class _Candidate:
    start: int
    end: int
    entry: _Entry


def _entry(obs: str, rule: PhraseRule, kind: int) -> _Entry:
    status = AssertionStatus(rule.status) if rule.status else None
    return _Entry(obs, rule.id, kind, status)


@dataclass(frozen=True)
class MentionMatcher:
    """Finds mentions of every observation of a ruleset. Build with :meth:`from_ruleset`."""

    phrase_re: re.Pattern[str]
    phrase_table: dict[str, tuple[_Entry, ...]]
    #: key -> shorter phrases that are word-prefixes of it: (number of words, entries)
    prefix_table: dict[str, tuple[tuple[int, tuple[_Entry, ...]], ...]]
    patterns: tuple[tuple[re.Pattern[str], _Entry], ...]
    #: union of all patterns: when it finds nothing in a sentence, no pattern is run on it
    pattern_gate: re.Pattern[str] | None
    observations: tuple[str, ...]

    requires = frozenset({"sentences"})
    assigns = frozenset({"mentions"})

    @classmethod
    def from_ruleset(cls, ruleset: Ruleset) -> MentionMatcher:
        table: dict[str, list[_Entry]] = defaultdict(list)
        patterns: list[tuple[re.Pattern[str], _Entry]] = []
        for obs in ruleset.all_observations:
            ff = ruleset.findings.get(obs)
            if ff is None:
                continue  # derived observation
            for kind, rules in ((_MENTION, ff.mentions), (_EXCLUSION, ff.exclusions)):
                for rule in rules:
                    entry = _entry(obs, rule, kind)
                    for phrase in rule.phrases:
                        for variant in phrase_variants(phrase, rule.plurals):
                            if entry not in table[variant]:
                                table[variant].append(entry)
                    for pat in rule.patterns:
                        patterns.append((re.compile(pat), entry))
        trie = phrases_to_regex(sorted(table))
        # zero-width lookahead: a match at every word start, overlapping allowed
        phrase_re = re.compile(r"(?<![a-z0-9])(?=(" + trie + r")(?![a-z0-9]))")
        prefixes: dict[str, tuple[tuple[int, tuple[_Entry, ...]], ...]] = {}
        for key in table:
            words = key.split(" ")
            found = tuple(
                (n, tuple(table[p])) for n in range(len(words) - 1, 0, -1) if (p := " ".join(words[:n])) in table
            )
            if found:
                prefixes[key] = found
        gate = re.compile("|".join(f"(?:{p.pattern})" for p, _ in patterns)) if patterns else None
        return cls(
            phrase_re=phrase_re,
            phrase_table={k: tuple(v) for k, v in table.items()},
            prefix_table=prefixes,
            patterns=tuple(patterns),
            pattern_gate=gate,
            observations=ruleset.all_observations,
        )

    def _candidates(self, lower: str, offset: int) -> list[_Candidate]:
        out: list[_Candidate] = []
        table = self.phrase_table
        for m in self.phrase_re.finditer(lower):
            matched = m.group(1)
            start = m.start()
            key = normalize_phrase(matched)
            for entry in table.get(key, ()):
                out.append(_Candidate(offset + start, offset + start + len(matched), entry))
            # shorter phrases that end on a word boundary inside the longest one
            shorter = self.prefix_table.get(key)
            if shorter:
                word_ends = [w.end() for w in _WORD.finditer(matched)]
                for n_words, entries in shorter:
                    end = offset + start + word_ends[n_words - 1]
                    out.extend(_Candidate(offset + start, end, entry) for entry in entries)
        if self.pattern_gate is not None and self.pattern_gate.search(lower):
            for pattern, entry in self.patterns:
                for m in pattern.finditer(lower):
                    if m.end() > m.start():
                        out.append(_Candidate(offset + m.start(), offset + m.end(), entry))
        return out

    def find(self, text: str, sentences: tuple[Sentence, ...]) -> tuple[Mention, ...]:
        """Mentions in the given sentences of ``text``, ordered by position then observation."""
        mentions: list[Mention] = []
        for si, sent in enumerate(sentences):
            cands = self._candidates(text[sent.start: sent.end].lower(), sent.start)
            if not cands:
                continue
            by_obs: dict[str, list[_Candidate]] = defaultdict(list)
            for c in cands:
                by_obs[c.entry.observation].append(c)
            for obs, group in by_obs.items():
                excl = [c for c in group if c.entry.kind == _EXCLUSION]
                ments = [c for c in group if c.entry.kind == _MENTION]
                if excl:
                    ments = [c for c in ments if not any(c.start < x.end and x.start < c.end for x in excl)]
                ments.sort(key=lambda c: (c.start, -(c.end - c.start)))
                last_end = -1
                for c in ments:
                    if c.start < last_end:
                        continue  # overlaps a longer/earlier mention of the same observation
                    mentions.append(Mention(obs, c.start, c.end, c.entry.rule_id, si, c.entry.status))
                    last_end = c.end
        order = {o: i for i, o in enumerate(self.observations)}
        mentions.sort(key=lambda m: (m.start, order.get(m.observation, 0)))
        return tuple(mentions)

    def __call__(self, result: ReportResult, text: str) -> ReportResult:
        return result.replace(mentions=self.find(text, result.sentences))
