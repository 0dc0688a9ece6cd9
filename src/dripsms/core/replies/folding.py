"""Folding a text for matching: case, accents, apostrophes, skin tones; its clauses."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

_APOSTROPHES = frozenset("'\u2018\u2019\u02bc")
_SKIN_TONES = range(0x1F3FB, 0x1F400)  # emoji modifiers: 👍🏽 reads as 👍


def fold(text: str) -> str:
    """``text`` reduced for matching words: ``"  Mejór!! "`` → ``"mejor"``.

    Letters are case-folded and lose their accents, apostrophes vanish (``don't`` →
    ``dont``), other punctuation, white space and control characters separate words, each
    emoji stands as a word of its own (skin tones dropped), and words are joined by single
    spaces. Folding a folded text changes nothing.
    """
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    kept: list[str] = []
    for char in decomposed:
        category = unicodedata.category(char)
        if category[0] == "M" or char in _APOSTROPHES or ord(char) in _SKIN_TONES:
            continue
        if category[0] in "PZC":
            kept.append(" ")
        elif category == "So":
            kept.append(f" {char} ")
        else:
            kept.append(char)
    return " ".join("".join(kept).split())


# Sentence and clause punctuation, or a dash standing between spaces.
_CLAUSE_BREAK = re.compile(r"[.,;:!?\u2026\n\r]+|\s[-\u2013\u2014]+\s")
_COURTESY_BEFORE = re.compile(r"^(?:(?:hi|hello|hey|hola|um|uh|well) )+")
_COURTESY_AFTER = re.compile(
    r"(?: (?:please|pls|plz|thanks|thank you|thank u|thx|ty|gracias|por favor|merci))+$"
)


def without_courtesy(folded: str) -> Iterator[str]:
    """A folded text, then (if different and not empty) without greetings and thanks."""
    yield folded
    bare = _COURTESY_AFTER.sub("", _COURTESY_BEFORE.sub("", folded))
    if bare and bare != folded:
        yield bare


def clauses(text: str) -> list[str]:
    """The folded, non-empty clauses of ``text``."""
    return [f for f in map(fold, _CLAUSE_BREAK.split(text)) if f]
