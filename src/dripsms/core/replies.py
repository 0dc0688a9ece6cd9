"""Reading inbound texts: Twilio's keywords, free-text opt-outs, and answers to a question.

Everything here is a pure function of the text of one SMS. The grammar each reader
accepts is written out in ``docs/replies.md``, and its examples are the tests' tables.

- :func:`keyword` reports a Twilio keyword (STOP, START, HELP and their synonyms) exactly
  as Twilio matches it; :func:`resolve_keyword` says which one the engine acts on, given
  that a bare ``YES`` is both an opt-in keyword and the answer to a yes/no question.
- :func:`sounds_like_opt_out` spots revocations written as sentences ("please stop
  texting me"); it favours precision, since what it finds goes to a person for review.
- :func:`parse_reply` reads an answer against the step's ``expect_reply``.
- :func:`reprompt_decision` says whether to ask again after an unreadable answer.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Generic, Literal, TypeVar, assert_never

from dripsms.core.sequence.model import ChoiceReply, IntegerReply, TextReply, YesNoReply

__all__ = [
    "FILLER_WORDS",
    "KEYWORDS",
    "NO_FORMS",
    "NUMBER_WORDS",
    "YES_FORMS",
    "Keyword",
    "ParsedReply",
    "RepromptDecision",
    "fold",
    "keyword",
    "parse_reply",
    "reprompt_decision",
    "resolve_keyword",
    "sounds_like_opt_out",
]

_Value = TypeVar("_Value", str, bool)

# --- folding -------------------------------------------------------------------------------

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


def _without_courtesy(folded: str) -> Iterator[str]:
    """A folded text, then (if different and not empty) without greetings and thanks."""
    yield folded
    bare = _COURTESY_AFTER.sub("", _COURTESY_BEFORE.sub("", folded))
    if bare and bare != folded:
        yield bare


def _clauses(text: str) -> list[str]:
    """The folded, non-empty clauses of ``text``."""
    return [f for f in map(fold, _CLAUSE_BREAK.split(text)) if f]


# --- keywords ------------------------------------------------------------------------------


class Keyword(StrEnum):
    """What a Twilio keyword asks for."""

    OPT_OUT = "opt_out"
    """STOP and its synonyms: send nothing more to this number."""
    OPT_IN = "opt_in"
    """START and its synonyms: the number may be texted again."""
    HELP = "help"
    """HELP or INFO: answer with the help text."""


KEYWORDS: Mapping[str, Keyword] = MappingProxyType(
    {
        **dict.fromkeys(
            ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"),
            Keyword.OPT_OUT,
        ),
        **dict.fromkeys(("START", "YES", "UNSTOP"), Keyword.OPT_IN),
        **dict.fromkeys(("HELP", "INFO"), Keyword.HELP),
    }
)
"""Twilio's keywords (Advanced Opt-Out's defaults), upper-case, and what each asks for."""

_ANSWER_KEYWORD = "YES"


def _is_edge(char: str) -> bool:
    return unicodedata.category(char)[0] in "PZC"


def _bare_word(text: str) -> str:
    """``text`` without surrounding white space, punctuation and control characters."""
    start, end = 0, len(text)
    while start < end and _is_edge(text[start]):
        start += 1
    while end > start and _is_edge(text[end - 1]):
        end -= 1
    return text[start:end]


def keyword(text: str) -> Keyword | None:
    """The Twilio keyword ``text`` is, matched as Twilio does, or None.

    The whole text must be one keyword, in any case, with only white space and
    punctuation around it: ``" Stop! "`` is STOP, ``"stop texting me"`` is no keyword
    (see :func:`sounds_like_opt_out`). Only ASCII letters match. ``YES`` is reported as
    OPT_IN even though it may answer a question: use :func:`resolve_keyword` to act.
    """
    word = _bare_word(text)
    return KEYWORDS.get(word.upper()) if word.isascii() else None


def resolve_keyword(text: str, *, awaiting_yes_no: bool) -> Keyword | None:
    """The keyword the engine acts on: :func:`keyword`, except that a bare ``YES`` answers
    an open yes/no question instead of opting in.

    ``awaiting_yes_no`` is true when the reply goes to a step whose question is yes/no
    and whose reply window is open. It must be false for a contact who is opted out:
    Twilio has already re-subscribed a number that texted YES, so dripsms must too.
    Only YES is ambiguous; START, UNSTOP and every opt-out and help keyword always act.
    """
    found = keyword(text)
    if found is Keyword.OPT_IN and awaiting_yes_no and _bare_word(text).upper() == _ANSWER_KEYWORD:
        return None
    return found


# --- free-text opt-out ---------------------------------------------------------------------

# Word groups, on folded text (no apostrophes, no accents, lower case).
_CONTACT_NOUN = (
    r"(?:texts?|txts?|messages?|msgs?|sms|reminders?|notifications?|alerts?|spam|"
    r"text messages?|emails?|calls?)"
)
_CONTACT_VERB = (
    r"(?:texting|txting|messaging|msging|sending|contacting|spamming|bothering|"
    r"emailing|calling|harassing)"
)
_LIST = (
    r"(?:(?:mailing |text |texting |sms |contact |messaging |call |distribution )?lists?|"
    r"contacts|database|system|program|service|texts|messages|reminders|alerts|notifications)"
)
_OPT_OUT_PATTERNS = tuple(
    re.compile(pattern)
    for pattern in (
        # unsubscribe, opt out
        r"\b(?:unsubscribe|unsubscribed|unsubscribing|unsub|unsuscribe|opt out|optout|"
        r"opt me out|opting out|opted out)\b",
        # stop these messages, quit sending texts
        rf"\b(?:stop|quit|cease|end) (?:(?:all|these|this|those|the|your|ur|sending|"
        rf"getting|receiving|any|them|me) )*{_CONTACT_NOUN}\b",
        # stop texting me, stop sending me these, please stop texting.
        rf"\b(?:stop|quit|cease) {_CONTACT_VERB}(?: (?:me|us|this number|these|this|them|"
        rf"those|{_CONTACT_NOUN}|my (?:phone|number|cell|mobile))\b|$)",
        # don't text me, do not contact me, never message me again
        r"\b(?:dont|do not|never) (?:ever )?(?:text|txt|message|msg|sms|contact|email) "
        r"(?:me|us|this number)\b",
        # don't send me these / any more texts
        rf"\b(?:dont|do not|never) (?:ever )?send (?:me )?(?:(?:any more|anymore|more|these|"
        rf"this|any|such) )*(?:{_CONTACT_NOUN}|these|this|them)\b",
        # take me off your list, remove me from this program
        rf"\b(?:take|remove|delete|drop|erase|unenroll|unenrol) me (?:off|from|out of)"
        rf"(?: (?:your|the|this|ur|these|that|all|my|of))* {_LIST}\b",
        # remove my number
        r"\b(?:remove|delete|erase) (?:my|this) (?:phone number|number|phone|cell|contact|info)\b",
        # no more messages
        rf"\bno more (?:{_CONTACT_NOUN}|texting|messaging|contact)\b",
        r"\bleave me alone\b",
        r"\bwrong (?:number|person|phone)\b",
        # I don't want these texts, I no longer wish to receive these messages
        rf"\b(?:dont|do not|no longer) (?:want|wish|need|like) (?:to (?:receive|get|be getting|"
        rf"keep getting|see) )?(?:(?:any more|anymore|any|more|these|this|your|the|those|such) )*"
        rf"{_CONTACT_NOUN}\b",
        r"\b(?:dont|do not|no longer) (?:want|wish) to be (?:texted|txted|messaged|contacted)\b",
        # Spanish: no me envíen más (mensajes), dejen de escribirme, darme de baja
        r"\bno (?:me )?(?:envie|envien|envies|mande|manden|mandes|escriba|escriban|escribas|"
        r"contacte|contacten) (?:mas|mensajes|textos)\b",
        r"\b(?:deje|dejen|deja|dejar) de (?:enviarme|mandarme|escribirme|contactarme|molestarme|"
        r"enviar mensajes|mandar mensajes)\b",
        r"\b(?:dar|darme|dame|denme|deme) de baja\b",
        r"\b(?:ya )?no (?:quiero|deseo) (?:recibir )?(?:mas )?(?:mensajes|textos|sms)\b",
    )
)
# A whole message made only of these words, "stop" among them: "please stop", "stop now".
_BARE_STOP_WORDS = frozenset({"stop", "please", "pls", "plz", "now", "just", "all", "thanks"})
_BARE_OPT_OUTS = frozenset({"remove me", "take me off", "delete me", "unenroll me", "stop it"})
# Words that turn what follows around ("don't stop sending me these"), within a clause.
_NEGATORS = frozenset(
    {"dont", "not", "never", "didnt", "cant", "cannot", "wont", "doesnt", "wouldnt", "shouldnt"}
)
_NEGATION_REACH = 3


def _opt_out_in(folded: str) -> bool:
    for pattern in _OPT_OUT_PATTERNS:
        for match in pattern.finditer(folded):
            before = folded[: match.start()].split()[-_NEGATION_REACH:]
            if _NEGATORS.isdisjoint(before):
                return True
    return False


def sounds_like_opt_out(text: str) -> bool:
    """Whether ``text`` reads as a request to stop texting, in words rather than a keyword.

    Since April 2025 the FCC lets people revoke consent "by any reasonable method". This
    favours precision: "please stop texting me", "take me off your list", "wrong number"
    are found; "the pain won't stop" or "don't stop sending these" are not. What it finds
    is flagged for review (or, with ``DRIPSMS_FREE_TEXT_OPT_OUT``, treated as STOP).
    """
    whole = fold(text)
    if not whole:
        return False
    words = set(whole.split())
    if "stop" in words and words <= _BARE_STOP_WORDS:
        return True
    if any(bare in _BARE_OPT_OUTS for bare in _without_courtesy(whole)):
        return True
    # Each clause alone, so "Not interested, stop texting me" is not read as negated; the
    # whole text too, for patterns a stray full stop would split ("Stop. Texting. Me.").
    return any(_opt_out_in(part) for part in (*_clauses(text), whole))


# --- parsed replies ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParsedReply:
    """An answer read against a step's ``expect_reply``."""

    valid: bool
    value: int | str | bool | None
    """The answer: an int, a choice's value, a bool (yes/no) or the trimmed text; None
    when the answer cannot be read."""
    reason: str = ""
    """Why the answer cannot be read, in plain words; empty when it is valid."""


def _accepted(value: int | str | bool) -> ParsedReply:
    return ParsedReply(True, value)


def _rejected(reason: str) -> ParsedReply:
    return ParsedReply(False, None, reason)


def _listing(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


_EMPTY = "empty reply"


def parse_reply(
    expect: IntegerReply | ChoiceReply | YesNoReply | TextReply, text: str
) -> ParsedReply:
    """Read ``text`` as an answer of the kind ``expect`` asks for. Never raises."""
    match expect:
        case IntegerReply():
            return _parse_integer(expect, text)
        case ChoiceReply():
            return _parse_choice(expect, text)
        case YesNoReply():
            return _parse_yes_no(text)
        case TextReply():
            return _parse_text(text)
        case _:
            assert_never(expect)


def _parse_text(text: str) -> ParsedReply:
    trimmed = text.strip()
    if not any(unicodedata.category(char)[0] not in "ZC" for char in trimmed):
        return _rejected(_EMPTY)
    return _accepted(trimmed)


# --- integers ------------------------------------------------------------------------------

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


def _parse_integer(expect: IntegerReply, text: str) -> ParsedReply:
    if not text.strip():
        return _rejected(_EMPTY)
    normalized = _integer_text(text)
    if _PHONE_LIKE.search(normalized):
        return _rejected("looks like a phone number, not an answer")
    pieces = _pieces(normalized)
    if isinstance(pieces, str):
        return _rejected(pieces)
    segments = _segments(_number_words(pieces))
    numbers = [p for segment in segments for p in segment if p.kind in ("number", "fraction")]
    values = list(dict.fromkeys(p.value for p in numbers))
    if not values:
        return _rejected("not a number")
    if len(values) > 1:
        return _rejected(f"more than one number: {_listing([str(v) for v in values])}")
    value = values[0]
    for segment in segments:
        if any(p.kind in ("number", "fraction") for p in segment):
            extra = [p.text for p in segment if p.kind in ("word", "slash")]
            extra = [word for word in extra if word not in FILLER_WORDS]
            if extra:
                return _rejected(f"the number {value} comes with other words: {' '.join(extra)}")
    for fraction in (p for p in numbers if p.kind == "fraction"):
        if expect.max is None:
            return _rejected(
                f"{fraction.text} is out of {fraction.scale}, but this question has no maximum"
            )
        if fraction.scale != expect.max:
            return _rejected(
                f"{fraction.text} is out of {fraction.scale}, but the maximum is {expect.max}"
            )
    return _in_range(expect, value)


def _in_range(expect: IntegerReply, value: int) -> ParsedReply:
    if expect.min is None and value < 0:
        return _rejected("negative numbers are not accepted")
    if expect.min is not None and value < expect.min:
        return _rejected(f"{value} is below the minimum of {expect.min}")
    if expect.max is not None and value > expect.max:
        return _rejected(f"{value} is above the maximum of {expect.max}")
    return _accepted(value)


# --- choices and yes/no --------------------------------------------------------------------


def _squeeze(text: str) -> str:
    """Runs of three or more of one character as one: ``yesss`` → ``yes``, ``nooo`` → ``no``.

    Doubled letters stay, so ``noon`` is not ``non``.
    """
    return re.sub(r"(.)\1\1+", r"\1", text)


@dataclass(frozen=True, slots=True)
class _Answers(Generic[_Value]):
    forms: Mapping[str, frozenset[_Value]]
    """Each folded way of writing an answer, and the value(s) it stands for."""
    picks: Mapping[str, frozenset[_Value]]
    """Numbers that pick a value by its place in the list."""
    squeeze: bool = False

    def key(self, folded: str) -> str:
        return _squeeze(folded) if self.squeeze else folded

    def match(self, folded: str) -> frozenset[_Value]:
        """What a whole folded clause answers: one form, or only one-word forms."""
        for candidate in _without_courtesy(folded):
            key = self.key(candidate)
            if key in self.forms:
                return self.forms[key]
            if key in self.picks:
                return self.picks[key]
            words = [
                self.forms.get(word) or self.picks.get(word) or frozenset() for word in key.split()
            ]
            if all(words):
                return frozenset().union(*words)
        return frozenset()

    def mentions(self, folded: str) -> frozenset[_Value]:
        """Every value a form of which appears anywhere in the folded clause."""
        padded = f" {self.key(folded)} "
        found = [values for form, values in self.forms.items() if f" {form} " in padded]
        return frozenset().union(*found)

    def read(self, text: str) -> frozenset[_Value] | None:
        """The value(s) ``text`` answers: one is an answer, more are ambiguous, an empty set
        is no answer; None for an empty text.

        The whole text may be the answer, or one clause of it, with the other clauses a
        comment that mentions no other answer ("Yes, took them at noon").
        """
        whole = fold(text)
        if not whole:
            return None
        found = self.match(whole)
        if found:
            return found
        clauses = _clauses(text)
        answered = frozenset().union(*map(self.match, clauses))
        mentioned = frozenset().union(*map(self.mentions, clauses))
        return answered | mentioned if answered or len(mentioned) > 1 else frozenset()


def _choice_answers(expect: ChoiceReply) -> _Answers[str]:
    forms: dict[str, set[str]] = {}
    for value, synonyms in expect.values.items():
        for form in (value, *synonyms):
            if key := fold(form):
                forms.setdefault(key, set()).add(value)
    numeric = any(word.isdecimal() for key in forms for word in key.split())
    picks = {} if numeric else {str(i): {value} for i, value in enumerate(expect.values, 1)}
    return _Answers(
        {key: frozenset(values) for key, values in forms.items()},
        {key: frozenset(values) for key, values in picks.items()},
    )


def _ordered(values: frozenset[_Value], order: list[_Value]) -> list[_Value]:
    return [value for value in order if value in values]


def _parse_choice(expect: ChoiceReply, text: str) -> ParsedReply:
    answers = _choice_answers(expect)
    found = answers.read(text)
    if found is None:
        return _rejected(_EMPTY)
    order = list(expect.values)
    if len(found) == 1:
        return _accepted(next(iter(found)))
    if found:
        return _rejected(f"more than one answer: {_listing(_ordered(found, order))}")
    listed = [
        f"{value} (or {', '.join(synonyms)})" if synonyms else value
        for value, synonyms in expect.values.items()
    ]
    numbers = f"; or a number from 1 to {len(order)}" if answers.picks else ""
    return _rejected(f"not one of the accepted answers: {', '.join(listed)}{numbers}")


YES_FORMS = (
    "yes", "y", "yeah", "yea", "ya", "yah", "yep", "yup", "sure", "ok", "okay", "correct",
    "absolutely", "definitely", "of course", "affirmative", "si", "oui", "👍", "✅", "✔",
)  # fmt: skip
"""What reads as yes (folded; a letter typed three times or more counts once: ``yesss``)."""
NO_FORMS = (
    "no", "n", "nope", "nah", "not really", "not at all", "no way", "negative", "non",
    "👎", "❌", "✖",
)  # fmt: skip
"""What reads as no (folded; a letter typed three times or more counts once: ``nooo``)."""

_YES_NO: _Answers[bool] = _Answers(
    {
        **{_squeeze(fold(form)): frozenset({True}) for form in YES_FORMS},
        **{_squeeze(fold(form)): frozenset({False}) for form in NO_FORMS},
    },
    {},
    squeeze=True,
)


def _parse_yes_no(text: str) -> ParsedReply:
    found = _YES_NO.read(text)
    if found is None:
        return _rejected(_EMPTY)
    if len(found) == 1:
        return _accepted(next(iter(found)))
    if found:
        return _rejected("both yes and no")
    return _rejected("not a yes or no")


# --- reprompts -----------------------------------------------------------------------------

RepromptDecision = Literal["reprompt", "give_up"]


def reprompt_decision(invalid_count: int, max_reprompts: int) -> RepromptDecision:
    """After the ``invalid_count``-th unreadable answer to one step: ask again, or give up.

    With ``max_reprompts=2`` the first two unreadable answers are reprompted and the third
    gives up: the step then counts as unanswered. ``max_reprompts=0`` never reprompts.
    """
    if invalid_count < 1:
        raise ValueError(
            f"invalid_count counts this answer too, so it is at least 1, not {invalid_count}"
        )
    if max_reprompts < 0:
        raise ValueError(f"max_reprompts cannot be negative ({max_reprompts})")
    return "reprompt" if invalid_count <= max_reprompts else "give_up"
