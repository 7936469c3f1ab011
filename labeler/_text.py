"""Private text helpers: phrase normalisation and phrase-list → regex compilation."""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["normalize_phrase", "phrase_variants", "phrases_to_regex", "WORD_CHAR"]

_SEP = re.compile(r"[\s\-]+")
#: characters that make a word continue (a match must not start or end inside a word)
WORD_CHAR = re.compile(r"[A-Za-z0-9]")


def normalize_phrase(text: str) -> str:
    """Lower-case and collapse whitespace/hyphen runs to one space (the key phrases are compared on).

    >>> normalize_phrase("Pleural-  Effusion")
    'pleural effusion'
    """
    return _SEP.sub(" ", text.strip().lower())


def phrase_variants(phrase: str, plurals: bool) -> list[str]:
    """The normalised phrase plus its regular plurals (``s``/``es``) when ``plurals``."""
    base = normalize_phrase(phrase)
    if not plurals or not base or not base[-1].isalpha():
        return [base]
    return [base, base + "s", base + "es"]


_END = ""  # trie leaf marker


def _trie_regex(node: dict[str, dict], sep: str) -> str:
    """Regex for a character trie; longer continuations are tried first (greedy), so a match is
    the longest phrase at its start position."""
    has_end = _END in node
    branches = []
    for char in sorted(k for k in node if k != _END):
        piece = sep if char == " " else re.escape(char)
        branches.append(piece + _trie_regex(node[char], sep))
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if has_end:
        return "(?:" + body + ")?"
    return body


def phrases_to_regex(phrases: Iterable[str], sep: str = r"[\s\-]+") -> str:
    """Compile normalised phrases into one trie-shaped regex (leftmost-longest, no boundaries).

    Matching cost grows with the length of the match, not with the number of phrases.

    >>> bool(re.fullmatch(phrases_to_regex(["no", "no evidence of"]), "no evidence of"))
    True
    """
    trie: dict[str, dict] = {}
    for phrase in phrases:
        if not phrase:
            continue
        node = trie
        for char in phrase:
            node = node.setdefault(char, {})
        node[_END] = {}
    if not trie:
        return r"(?!x)x"  # matches nothing
    return _trie_regex(trie, sep)
