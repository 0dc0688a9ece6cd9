"""Reading a number: digits, number words, fractions out of the maximum."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from dripsms.core.replies.parsed import EMPTY, ParsedReply, accepted, listing, rejected
from dripsms.core.sequence.model import IntegerReply

_UNIT_WORDS = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen",
)  # fmt: skip
_TENS_WORDS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
NUMBER_WORDS: Mapping[str, int] = MappingProxyType(
    {
        **{word: value for value, word in enumerate(_UNIT_WORDS)},
        **{word: 20 + 10 * index for index, word in enumerate(_TENS_WORDS)},
    }
)
"""English number words read as integers; a tens word may take a unit after it, with a
space or a hyphen (``twenty-five``), up to 99."""

FILLER_WORDS = frozenset(
    {
        "a", "an", "about", "around", "approx", "approximately", "roughly", "maybe",
        "probably", "perhaps", "like", "i", "id", "im", "say", "would", "guess", "think",
        "feel", "its", "it", "is", "my", "the", "pain", "level", "score", "rating", "rate",
        "currently", "now", "right", "still", "today", "tonight", "this", "morning",
        "afternoon", "evening", "at", "just", "solid", "ok", "okay", "thanks", "thank", "you",
        "thx", "ty", "please", "pls", "hi", "hello", "hey", "number", "answer",
    }
)  # fmt: skip
"""Words that may stand next to the number in an integer answer: "pain is 6", "a 7",
"I'd say 8 today" (apostrophes are dropped: ``i'd`` is ``id``)."""

# Seven digits or more, whatever separates them: a phone number, not an answer.
_PHONE_LIKE = re.compile(r"\d(?:[\s().-]*\d){6,}")
_KEYCAP_TEN = "\U0001f51f"
_INTEGER_TRANSLATION = str.maketrans(
    {
        **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2212", "-"),
        **dict.fromkeys("\u2044\u2215", "/"),
        **dict.fromkeys("\u2018\u2019\u02bc", "'"),
        "\ufe0f": None,  # emoji presentation selector
        "\u20e3": None,  # combining enclosing keycap: 5️⃣ is 5
        _KEYCAP_TEN: " 10 ",
    }
)
_INTEGER_TOKEN = re.compile(
    r"""
      (?P<mixed>(?=[^\W_]*\d)(?=[^\W_]*[^\W\d_])[^\W_]+)   # 8am, 2nd: digits with letters
    | (?P<decimal>(?:(?<![^\W_])-)?\d+(?:[.,]\d+)+)        # 3.5, 7,5
    | (?P<number>(?:(?<![^\W_])-)?\d+)                     # 8, -3 (a minus not after a word)
    | (?P<word>[^\W\d_]+(?:'[^\W\d_]+)*)                   # pain, it's
    | (?P<slash>/)
    | (?P<dash>-)
    | (?P<stop>[.,;:!?\u2026\n\r])
    | (?P<space>\s+)
    | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
# Characters an integer answer may carry without changing it: "#5", "~7", "*8*", "(6)", 😣.
_IGNORED_MARKS = frozenset("#~*\"'()[]")
_WHOLE_DECIMAL = re.compile(r"-?\d+\.0+")

_Kind = Literal["number", "fraction", "word", "slash", "dash", "stop"]


@dataclass(frozen=True, slots=True)
class _Piece:
    kind: _Kind
    text: str
    value: int = 0
    scale: int = 0  # a fraction's denominator


def _pieces(text: str) -> list[_Piece] | str:
    """The pieces of an integer answer, or why it cannot be read."""
    pieces: list[_Piece] = []
    for match in _INTEGER_TOKEN.finditer(text):
        kind, token = match.lastgroup, match.group()
        if kind == "mixed":
            return f"{token!r} is not a number"
        if kind == "decimal":
            if not _WHOLE_DECIMAL.fullmatch(token):
                return f"{token} is not a whole number"
            pieces.append(_Piece("number", token, int(token.split(".")[0])))
        elif kind == "number":
            pieces.append(_Piece("number", token, int(token)))
        elif kind == "word":
            pieces.append(_Piece("word", token.replace("'", "")))
        elif kind == "slash":
            pieces.append(_Piece("slash", token))
        elif kind == "dash":
            pieces.append(_Piece("dash", token))
        elif kind == "stop":
            pieces.append(_Piece("stop", token))
        elif kind == "other" and not _ignored(token):
            pieces.append(_Piece("word", token))
    return pieces


def _ignored(char: str) -> bool:
    return char in _IGNORED_MARKS or unicodedata.category(char) in ("So", "Sk", "Mn", "Me", "Cf")


def _number_words(pieces: list[_Piece]) -> list[_Piece]:
    """Number words as numbers; ``twenty five`` and ``twenty-five`` as one; dashes as stops."""
    out: list[_Piece] = []
    i = 0
    while i < len(pieces):
        piece = pieces[i]
        if piece.kind == "word" and piece.text in NUMBER_WORDS:
            value, text = NUMBER_WORDS[piece.text], piece.text
            if piece.text in _TENS_WORDS:
                skip = 2 if i + 1 < len(pieces) and pieces[i + 1].kind == "dash" else 1
                unit = pieces[i + skip] if i + skip < len(pieces) else None
                if unit is not None and unit.kind == "word" and 1 <= _unit(unit.text) <= 9:
                    value, text = value + _unit(unit.text), f"{text}-{unit.text}"
                    i += skip
            out.append(_Piece("number", text, value))
        elif piece.kind == "dash":
            out.append(_Piece("stop", piece.text))
        else:
            out.append(piece)
        i += 1
    return out


def _unit(word: str) -> int:
    value = NUMBER_WORDS.get(word, -1)
    return value if value < 10 else -1


def _segments(pieces: list[_Piece]) -> list[list[_Piece]]:
    """The pieces between stops, with ``N/M``, ``N out of M`` and ``N of M`` as fractions."""
    segments: list[list[_Piece]] = [[]]
    for piece in pieces:
        if piece.kind == "stop":
            segments.append([])
        else:
            segments[-1].append(piece)
    return [_fractions(segment) for segment in segments if segment]


def _fractions(segment: list[_Piece]) -> list[_Piece]:
    out: list[_Piece] = []
    i = 0
    while i < len(segment):
        piece = segment[i]
        if piece.kind == "number":
            for joiner in (("slash",), ("out", "of"), ("of",)):
                end = i + 1 + len(joiner)
                window = segment[i + 1 : end]
                if (
                    end < len(segment)
                    and segment[end].kind == "number"
                    and [p.text if p.kind == "word" else p.kind for p in window] == list(joiner)
                ):
                    scale = segment[end].value
                    text = f"{piece.value}/{scale}"
                    out.append(_Piece("fraction", text, piece.value, scale))
                    i = end + 1
                    break
            else:
                out.append(piece)
                i += 1
        else:
            out.append(piece)
            i += 1
    return out


def _integer_text(text: str) -> str:
    return unicodedata.normalize("NFKC", text).translate(_INTEGER_TRANSLATION).casefold()


def parse_integer(expect: IntegerReply, text: str) -> ParsedReply:
    if not text.strip():
        return rejected(EMPTY)
    normalized = _integer_text(text)
    if _PHONE_LIKE.search(normalized):
        return rejected("looks like a phone number, not an answer")
    pieces = _pieces(normalized)
    if isinstance(pieces, str):
        return rejected(pieces)
    segments = _segments(_number_words(pieces))
    numbers = [p for segment in segments for p in segment if p.kind in ("number", "fraction")]
    values = list(dict.fromkeys(p.value for p in numbers))
    if not values:
        return rejected("not a number")
    if len(values) > 1:
        return rejected(f"more than one number: {listing([str(v) for v in values])}")
    value = values[0]
    for segment in segments:
        if any(p.kind in ("number", "fraction") for p in segment):
            extra = [p.text for p in segment if p.kind in ("word", "slash")]
            extra = [word for word in extra if word not in FILLER_WORDS]
            if extra:
                return rejected(f"the number {value} comes with other words: {' '.join(extra)}")
    for fraction in (p for p in numbers if p.kind == "fraction"):
        if expect.max is None:
            return rejected(
                f"{fraction.text} is out of {fraction.scale}, but this question has no maximum"
            )
        if fraction.scale != expect.max:
            return rejected(
                f"{fraction.text} is out of {fraction.scale}, but the maximum is {expect.max}"
            )
    return _in_range(expect, value)


def _in_range(expect: IntegerReply, value: int) -> ParsedReply:
    if expect.min is None and value < 0:
        return rejected("negative numbers are not accepted")
    if expect.min is not None and value < expect.min:
        return rejected(f"{value} is below the minimum of {expect.min}")
    if expect.max is not None and value > expect.max:
        return rejected(f"{value} is above the maximum of {expect.max}")
    return accepted(value)
