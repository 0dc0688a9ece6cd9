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

Each reader has its module (they change for different reasons): ``folding`` (what two
writings of one word share), ``keywords`` (Twilio's keywords, free-text opt-outs),
``integers``, ``choices`` (choices and yes/no) and ``parsed`` (the result). Import from
this package: its names are the public ones.
"""

from __future__ import annotations

import unicodedata
from typing import Literal, assert_never

from dripsms.core.replies.choices import NO_FORMS, YES_FORMS, parse_choice, parse_yes_no
from dripsms.core.replies.folding import fold
from dripsms.core.replies.integers import FILLER_WORDS, NUMBER_WORDS, parse_integer
from dripsms.core.replies.keywords import (
    KEYWORDS,
    Keyword,
    keyword,
    resolve_keyword,
    sounds_like_opt_out,
)
from dripsms.core.replies.parsed import EMPTY, ParsedReply, accepted, rejected
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


def parse_reply(
    expect: IntegerReply | ChoiceReply | YesNoReply | TextReply, text: str
) -> ParsedReply:
    """Read ``text`` as an answer of the kind ``expect`` asks for. Never raises."""
    match expect:
        case IntegerReply():
            return parse_integer(expect, text)
        case ChoiceReply():
            return parse_choice(expect, text)
        case YesNoReply():
            return parse_yes_no(text)
        case TextReply():
            return _parse_text(text)
        case _:
            assert_never(expect)


def _parse_text(text: str) -> ParsedReply:
    trimmed = text.strip()
    if not any(unicodedata.category(char)[0] not in "ZC" for char in trimmed):
        return rejected(EMPTY)
    return accepted(trimmed)


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
