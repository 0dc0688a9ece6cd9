"""Twilio's keywords (STOP, START, HELP and their synonyms) and opt-outs written as
sentences."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from dripsms.core.replies.folding import clauses, fold, without_courtesy


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
    if any(bare in _BARE_OPT_OUTS for bare in without_courtesy(whole)):
        return True
    # Each clause alone, so "Not interested, stop texting me" is not read as negated; the
    # whole text too, for patterns a stray full stop would split ("Stop. Texting. Me.").
    return any(_opt_out_in(part) for part in (*clauses(text), whole))
