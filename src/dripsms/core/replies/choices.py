"""Reading a choice or a yes/no: the forms of each answer, numbers that pick one."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from dripsms.core.replies.folding import clauses, fold, without_courtesy
from dripsms.core.replies.parsed import EMPTY, ParsedReply, accepted, listing, rejected
from dripsms.core.sequence.model import ChoiceReply

_Value = TypeVar("_Value", str, bool)


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
        for candidate in without_courtesy(folded):
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
        parts = clauses(text)
        answered = frozenset().union(*map(self.match, parts))
        mentioned = frozenset().union(*map(self.mentions, parts))
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


def parse_choice(expect: ChoiceReply, text: str) -> ParsedReply:
    answers = _choice_answers(expect)
    found = answers.read(text)
    if found is None:
        return rejected(EMPTY)
    order = list(expect.values)
    if len(found) == 1:
        return accepted(next(iter(found)))
    if found:
        return rejected(f"more than one answer: {listing(_ordered(found, order))}")
    listed = [
        f"{value} (or {', '.join(synonyms)})" if synonyms else value
        for value, synonyms in expect.values.items()
    ]
    numbers = f"; or a number from 1 to {len(order)}" if answers.picks else ""
    return rejected(f"not one of the accepted answers: {', '.join(listed)}{numbers}")


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


def parse_yes_no(text: str) -> ParsedReply:
    found = _YES_NO.read(text)
    if found is None:
        return rejected(EMPTY)
    if len(found) == 1:
        return accepted(next(iter(found)))
    if found:
        return rejected("both yes and no")
    return rejected("not a yes or no")
