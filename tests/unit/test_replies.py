"""Tests for dripsms.core.replies: keywords, free-text opt-outs, answers and reprompts."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from dripsms.core.replies import (
    FILLER_WORDS,
    KEYWORDS,
    NO_FORMS,
    YES_FORMS,
    Keyword,
    ParsedReply,
    fold,
    keyword,
    parse_reply,
    reprompt_decision,
    resolve_keyword,
    sounds_like_opt_out,
)
from dripsms.core.sequence.model import ChoiceReply, IntegerReply, TextReply, YesNoReply

DOC = (Path(__file__).resolve().parents[2] / "docs" / "replies.md").read_text()


def integer(low: int | None = 0, high: int | None = 10) -> IntegerReply:
    return IntegerReply(type="integer", min=low, max=high)


PAIN = integer(0, 10)
FEELING = ChoiceReply(
    type="choice", values={"mejor": ["better", "good"], "peor": ["worse"], "igual": []}
)
YES_NO = YesNoReply(type="yes_no")
TEXT = TextReply(type="text")

KEYCAP = "\ufe0f\u20e3"
ENGLISH = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen", "twenty",
)  # fmt: skip


def accepted(parsed: ParsedReply) -> int | str | bool | None:
    assert parsed.valid, parsed.reason
    assert parsed.reason == ""
    return parsed.value


def rejected(parsed: ParsedReply) -> str:
    assert not parsed.valid, parsed.value
    assert parsed.value is None
    assert parsed.reason
    return parsed.reason


# --- keywords -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("STOP", Keyword.OPT_OUT),
        ("stop", Keyword.OPT_OUT),
        (" Stop! ", Keyword.OPT_OUT),
        ('"stop."', Keyword.OPT_OUT),
        ("\tSTOPALL\n", Keyword.OPT_OUT),
        ("Unsubscribe", Keyword.OPT_OUT),
        ("cancel", Keyword.OPT_OUT),
        ("End.", Keyword.OPT_OUT),
        ("quit", Keyword.OPT_OUT),
        ("REVOKE", Keyword.OPT_OUT),
        ("optout", Keyword.OPT_OUT),
        ("start", Keyword.OPT_IN),
        ("Yes", Keyword.OPT_IN),
        ("yes!!", Keyword.OPT_IN),
        ("UNSTOP", Keyword.OPT_IN),
        ("help?", Keyword.HELP),
        ("Info", Keyword.HELP),
        ("stop texting me", None),
        ("STOP ALL", None),
        ("opt-out", None),
        ("stöp", None),
        ("\u017ftop", None),  # long s: upper-cases to STOP, but is no ASCII keyword
        ("stopp", None),
        ("yes please", None),
        ("8", None),
        ("", None),
    ],
)
def test_keyword(text: str, expected: Keyword | None) -> None:
    assert keyword(text) is expected


def test_keywords_are_twilios() -> None:
    assert {w for w, k in KEYWORDS.items() if k is Keyword.OPT_OUT} == {
        "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT",
    }  # fmt: skip
    assert {w for w, k in KEYWORDS.items() if k is Keyword.OPT_IN} == {"START", "YES", "UNSTOP"}
    assert {w for w, k in KEYWORDS.items() if k is Keyword.HELP} == {"HELP", "INFO"}


@pytest.mark.parametrize(
    ("text", "awaiting", "expected"),
    [
        ("YES", True, None),  # answers the open yes/no question
        (" yes! ", True, None),
        ("YES", False, Keyword.OPT_IN),
        ("START", True, Keyword.OPT_IN),  # only YES is ambiguous
        ("unstop", True, Keyword.OPT_IN),
        ("STOP", True, Keyword.OPT_OUT),
        ("help", True, Keyword.HELP),
        ("yes please", False, None),
    ],
)
def test_resolve_keyword(text: str, awaiting: bool, expected: Keyword | None) -> None:
    assert resolve_keyword(text, awaiting_yes_no=awaiting) is expected


def test_a_yes_that_resolves_to_an_answer_parses_as_yes() -> None:
    assert resolve_keyword("Yes.", awaiting_yes_no=True) is None
    assert accepted(parse_reply(YES_NO, "Yes.")) is True


@st.composite
def keyword_variants(draw: st.DrawFn) -> tuple[str, str]:
    word = draw(st.sampled_from(sorted(KEYWORDS)))
    flips = draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word)))
    cased = "".join(c.lower() if flip else c for c, flip in zip(word, flips, strict=True))
    edge = st.text(alphabet=" \t\n\r\u00a0.!?,;:\"'()-", max_size=4)
    return word, draw(edge) + cased + draw(edge)


@given(keyword_variants())
def test_keyword_ignores_case_and_surroundings(variant: tuple[str, str]) -> None:
    word, text = variant
    assert keyword(text) is KEYWORDS[word]


@given(st.text(alphabet=st.characters(max_codepoint=127)), st.sampled_from([" ", "\t", "\n"]))
def test_keyword_of_any_ascii_text_ignores_case_and_white_space(text: str, space: str) -> None:
    found = keyword(text)
    assert keyword(text.swapcase()) is found
    assert keyword(f"{space}{text}{space}") is found


# --- free-text opt-out --------------------------------------------------------------------

OPT_OUTS = [
    "please stop texting me",
    "stop sending me these",
    "unsubscribe me",
    "don't text me anymore",
    "Don\u2019t txt me",
    "take me off your list",
    "Please take me off this list.",
    "no more messages",
    "leave me alone",
    "remove me",
    "Take me off.",
    "Please STOP these messages!",
    "Stop contacting me",
    "Quit texting me",
    "STOP SPAMMING ME",
    "I don't want these texts anymore",
    "I no longer want to receive these messages",
    "I don't wish to be contacted",
    "opt me out",
    "I want to opt out",
    "Wrong number",
    "Do not message me again",
    "remove me from your list",
    "remove my number please",
    "stop please",
    "Please stop",
    "STOP!!!",
    "who is this?? stop texting",
    "Not interested, stop texting me",
    "Stop. Texting. Me.",
    "how do I stop these messages?",
    "Por favor no me envíen más mensajes",
    "Dejen de escribirme",
    "Quiero darme de baja",
    "Ya no quiero recibir mensajes",
]
NOT_OPT_OUTS = [
    "the pain won't stop",
    "I can't stop coughing",
    "when will the bleeding stop",
    "it hurts, make it stop",
    "Should I stop the antibiotics?",
    "I want to stop the medication",
    "I stopped taking the pills",
    "I can't stop thinking about the surgery",
    "Don't stop sending me these, they help!",
    "Please don't stop texting me, it helps",
    "This cough won't leave me alone",
    "Can you take me off the blood thinners?",
    "Remove me from the waiting list for PT",
    "Remove my stitches on Friday?",
    "Please remove the dressing tomorrow?",
    "No more pain since yesterday",
    "No more bleeding",
    "Thanks for the messages, they really help",
    "Stop sign at the entrance is hard to see",
    "quit smoking last week",
    "The messages stopped loading on my phone",
    "I'll text you when the swelling stops",
    "Can I end the antibiotics early?",
    "Cancel my appointment please",
    "Don't call me, text me",
    "No me duele más",
    "end of the week works",
    "8",
    "yes",
    "",
]


@pytest.mark.parametrize("text", OPT_OUTS)
def test_sounds_like_opt_out(text: str) -> None:
    assert sounds_like_opt_out(text)


@pytest.mark.parametrize("text", NOT_OPT_OUTS)
def test_does_not_sound_like_opt_out(text: str) -> None:
    assert not sounds_like_opt_out(text)


def test_every_opt_out_keyword_also_sounds_like_one_when_it_means_stop() -> None:
    assert sounds_like_opt_out("STOP")
    assert sounds_like_opt_out("unsubscribe")
    assert sounds_like_opt_out("optout")


# --- folding ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("  Mejór!! ", "mejor"),
        ("MEJOR", "mejor"),
        ("don\u2019t   text\nme", "dont text me"),
        ("Stra\u00dfe", "strasse"),
        ("👍🏽👍", "👍 👍"),
        ("5\ufe0f\u20e3", "5"),
        ("opt-out", "opt out"),
        ("", ""),
    ],
)
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded


@given(st.text())
def test_folding_is_idempotent(text: str) -> None:
    assert fold(fold(text)) == fold(text)


@given(st.text())
def test_folded_text_is_single_spaced_and_trimmed(text: str) -> None:
    folded = fold(text)
    assert folded == " ".join(folded.split())
    assert folded == folded.casefold()


# --- integers -----------------------------------------------------------------------------

INTEGER_ACCEPTED = [
    ("8", 8),
    (" 8!", 8),
    ("8/10", 8),
    ("8 / 10", 8),
    ("8 out of 10", 8),
    ("8 of 10", 8),
    ("a 7", 7),
    ("pain is 6", 6),
    ("7.", 7),
    ("7.0", 7),
    ("08", 8),
    ("eight", 8),
    ("Eight", 8),
    ("ten", 10),
    ("zero", 0),
    ("nine out of ten", 9),
    ("#5", 5),
    ("5" + KEYCAP, 5),
    ("\U0001f51f", 10),
    ("\uff18", 8),  # fullwidth digit
    ("I'd say a 7", 7),
    ("it\u2019s an 8 today", 8),
    ("~6", 6),
    ("8 \U0001f623", 8),
    ("(4)", 4),
    ("pain: 8", 8),
    ("Not great. 8", 8),
    ("8, it hurts a lot", 8),
    ("8\n\nSent from my iPhone", 8),
    ("8 8", 8),
    ("10/10", 10),
    ("0 out of 10", 0),
]


@pytest.mark.parametrize(("text", "value"), INTEGER_ACCEPTED)
def test_integer_accepted(text: str, value: int) -> None:
    assert accepted(parse_reply(PAIN, text)) == value


INTEGER_REJECTED = [
    ("", "empty reply"),
    ("   ", "empty reply"),
    ("no pain", "not a number"),
    ("👍", "not a number"),
    ("7 or 8", "more than one number: 7 and 8"),
    ("between 6 and 7", "more than one number: 6 and 7"),
    ("7-8", "more than one number: 7 and 8"),
    ("7 - 8", "more than one number: 7 and 8"),
    ("7, 8", "more than one number: 7 and 8"),
    ("6, 7 or 8", "more than one number: 6, 7 and 8"),
    ("8. Started 3 days ago", "more than one number: 8 and 3"),
    ("8. No one called", "more than one number: 8 and 1"),
    ("78", "78 is above the maximum of 10"),
    ("11", "11 is above the maximum of 10"),
    ("eleven", "11 is above the maximum of 10"),
    ("twenty-five", "25 is above the maximum of 10"),
    ("11/10", "11 is above the maximum of 10"),
    ("-1", "-1 is below the minimum of 0"),
    ("10/8", "10/8 is out of 8, but the maximum is 10"),
    ("7 out of 8", "7/8 is out of 8, but the maximum is 10"),
    ("3.5", "3.5 is not a whole number"),
    ("7,5", "7,5 is not a whole number"),
    ("555-123-4567", "looks like a phone number, not an answer"),
    ("+1 (555) 123 4567", "looks like a phone number, not an answer"),
    ("5551234567", "looks like a phone number, not an answer"),
    ("8 days ago", "the number 8 comes with other words: days ago"),
    ("it was 8 yesterday", "the number 8 comes with other words: was yesterday"),
    ("80%", "the number 80 comes with other words: %"),
    ("8/", "the number 8 comes with other words: /"),
    ("8am", "'8am' is not a number"),
    ("the 2nd one", "'2nd' is not a number"),
]


@pytest.mark.parametrize(("text", "reason"), INTEGER_REJECTED)
def test_integer_rejected(text: str, reason: str) -> None:
    assert rejected(parse_reply(PAIN, text)) == reason


@pytest.mark.parametrize(
    ("expect", "text", "outcome"),
    [
        (integer(None, None), "8/10", "8/10 is out of 10, but this question has no maximum"),
        (integer(None, None), "-3", "negative numbers are not accepted"),
        (integer(None, None), "0", 0),
        (integer(None, None), "250", 250),
        (integer(-5, 5), "-3", -3),
        (integer(-5, 5), "\u22123", -3),  # the minus sign
        (integer(-5, 5), "-6", "-6 is below the minimum of -5"),
        (integer(1, 5), "0", "0 is below the minimum of 1"),
        (integer(1, 5), "five", 5),
        (integer(0, 100), "ninety-nine", 99),
        (integer(0, 100), "seventy five", 75),
        (integer(0, 100), "80/100", 80),
    ],
)
def test_integer_bounds(expect: IntegerReply, text: str, outcome: int | str) -> None:
    parsed = parse_reply(expect, text)
    if isinstance(outcome, int):
        assert accepted(parsed) == outcome
    else:
        assert rejected(parsed) == outcome


@st.composite
def bounds(draw: st.DrawFn) -> tuple[int | None, int | None]:
    low = draw(st.none() | st.integers(min_value=-100, max_value=100))
    high = draw(st.none() | st.integers(min_value=max(low or 0, 0), max_value=1000))
    return low, high


def surface_forms(n: int, high: int | None) -> list[str]:
    """Ways people write ``n`` on a scale up to ``high``."""
    forms = [f"{n}", f"#{n}", f"a {n}", f"pain is {n}"]
    if high is not None:
        forms += [f"{n}/{high}", f"{n} / {high}", f"{n} out of {high}", f"{n} of {high}"]
    if 0 <= n <= 20:
        forms += [ENGLISH[n], ENGLISH[n].capitalize(), ENGLISH[n].upper()]
        if high is not None and 0 <= high <= 20:
            forms.append(f"{ENGLISH[n]} out of {ENGLISH[high]}")
    if 0 <= n <= 9:
        forms.append(f"{n}{KEYCAP}")
    return forms


spaces = st.text(alphabet=" \t\n\u00a0", max_size=3)
endings = st.sampled_from(["", ".", "!", "!!", "?", "...", "!?"])


@given(bounds=bounds(), data=st.data(), before=spaces, after=spaces, ending=endings)
def test_every_surface_form_of_an_accepted_number_reads_as_that_number(
    bounds: tuple[int | None, int | None],
    data: st.DataObject,
    before: str,
    after: str,
    ending: str,
) -> None:
    low, high = bounds
    n = data.draw(
        st.integers(min_value=0 if low is None else low, max_value=999 if high is None else high)
    )
    form = data.draw(st.sampled_from(surface_forms(n, high)))
    assert accepted(parse_reply(integer(low, high), f"{before}{form}{ending}{after}")) == n


@given(bounds=bounds(), data=st.data(), ending=endings)
def test_every_number_outside_the_range_is_rejected(
    bounds: tuple[int | None, int | None], data: st.DataObject, ending: str
) -> None:
    low, high = bounds
    below = st.integers(max_value=(0 if low is None else low) - 1, min_value=-(10**6))
    above = st.nothing() if high is None else st.integers(min_value=high + 1, max_value=10**7)
    n = data.draw(below | above)
    form = data.draw(st.sampled_from(surface_forms(n, high)))
    assert not parse_reply(integer(low, high), f"{form}{ending}").valid


# --- choices ------------------------------------------------------------------------------

CHOICE_ACCEPTED = [
    ("mejor", "mejor"),
    ("Mejor", "mejor"),
    ("MEJOR!", "mejor"),
    ("mejór", "mejor"),
    ("  mejor  ", "mejor"),
    ("better", "mejor"),
    ("Good.", "mejor"),
    ("Better, thanks!", "mejor"),
    ("mejor gracias", "mejor"),
    ("Mejor. Caminé más hoy", "mejor"),
    ("Better - walked more today", "mejor"),
    ("PEOR", "peor"),
    ("worse", "peor"),
    ("Igual", "igual"),
    ("1", "mejor"),
    ("#2.", "peor"),
    ("3" + KEYCAP, "igual"),
]


@pytest.mark.parametrize(("text", "value"), CHOICE_ACCEPTED)
def test_choice_accepted(text: str, value: str) -> None:
    assert accepted(parse_reply(FEELING, text)) == value


LISTED = (
    "not one of the accepted answers: mejor (or better, good), peor (or worse), igual; "
    "or a number from 1 to 3"
)
CHOICE_REJECTED = [
    ("", "empty reply"),
    ("?!", "empty reply"),
    ("meh", LISTED),
    ("4", LISTED),
    ("0", LISTED),
    ("I feel better", LISTED),
    ("mejor peor", "more than one answer: mejor and peor"),
    ("worse, better", "more than one answer: mejor and peor"),
    ("Mejor. No peor", "more than one answer: mejor and peor"),
    ("1 2", "more than one answer: mejor and peor"),
]


@pytest.mark.parametrize(("text", "reason"), CHOICE_REJECTED)
def test_choice_rejected(text: str, reason: str) -> None:
    assert rejected(parse_reply(FEELING, text)) == reason


def test_numbers_match_literally_when_a_value_is_a_number() -> None:
    ranges = ChoiceReply(type="choice", values=["0-2", "3-5", "6+"])
    assert accepted(parse_reply(ranges, "0-2")) == "0-2"
    assert accepted(parse_reply(ranges, "3 - 5")) == "3-5"
    reason = rejected(parse_reply(ranges, "1"))
    assert reason == "not one of the accepted answers: 0-2, 3-5, 6+"


def test_a_choice_from_a_list_matches_its_values() -> None:
    procedure = ChoiceReply(type="choice", values=["Knee", "Hip", "Other"])
    assert accepted(parse_reply(procedure, "knee")) == "Knee"
    assert accepted(parse_reply(procedure, "2")) == "Hip"


def test_a_form_shared_by_two_values_is_ambiguous() -> None:
    muddled = ChoiceReply(type="choice", values={"a": ["same"], "b": ["same"]})
    assert rejected(parse_reply(muddled, "Same")) == "more than one answer: a and b"


words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)
phrases = st.lists(words, min_size=1, max_size=2).map(" ".join)
ACCENTS = ["", "\u0301", "\u0300", "\u0308", "\u0303", "\u0302"]


@st.composite
def choices(draw: st.DrawFn) -> ChoiceReply:
    forms = draw(st.lists(phrases, min_size=2, max_size=8, unique=True))
    # No form may be a word of another: "ab" and "ab cd" for two values is ambiguous.
    for form in forms:
        for other in forms:
            assume(form == other or form not in other.split())
    split = draw(st.integers(min_value=1, max_value=len(forms) - 1))
    values: dict[str, list[str]] = {form: [] for form in forms[:split]}
    for synonym in forms[split:]:
        values[draw(st.sampled_from(sorted(values)))].append(synonym)
    return ChoiceReply(type="choice", values=values)


@st.composite
def disguised(draw: st.DrawFn, form: str) -> str:
    """``form`` in random case, with random accents, spacing and punctuation around."""
    out = []
    for char in form:
        out.append(char.upper() if draw(st.booleans()) else char)
        if char.isalpha():
            out.append(draw(st.sampled_from(ACCENTS)))
    text = "".join(out)
    if draw(st.booleans()):
        text = unicodedata.normalize("NFC", text)
    edge = st.text(alphabet=" \t.!?\"'", max_size=3)
    return draw(edge) + text + draw(edge)


@given(choice=choices(), data=st.data())
def test_any_casing_or_accent_variant_of_a_value_or_synonym_maps_to_its_value(
    choice: ChoiceReply, data: st.DataObject
) -> None:
    value = data.draw(st.sampled_from(sorted(choice.values)))
    form = data.draw(st.sampled_from([value, *choice.values[value]]))
    text = data.draw(disguised(form))
    assert accepted(parse_reply(choice, text)) == value


# --- yes/no -------------------------------------------------------------------------------

YES_NO_ACCEPTED = [
    *[(form, True) for form in YES_FORMS],
    *[(form, False) for form in NO_FORMS],
    ("YES!", True),
    ("Yep.", True),
    ("sí", True),
    ("Si", True),
    ("👍🏽", True),
    ("👍👍", True),
    ("yes yes", True),
    ("ok sure", True),
    ("Yesss", True),
    ("yes please", True),
    ("Yes, took them at 9", True),
    ("Yes, took them at noon", True),
    ("NO", False),
    ("Nooo", False),
    ("No thanks", False),
    ("nope, still sore", False),
    ("Not really.", False),
]


@pytest.mark.parametrize(("text", "value"), YES_NO_ACCEPTED)
def test_yes_no_accepted(text: str, value: bool) -> None:
    assert accepted(parse_reply(YES_NO, text)) is value


YES_NO_REJECTED = [
    ("", "empty reply"),
    ("yes no", "both yes and no"),
    ("yes, no", "both yes and no"),
    ("Yes and no", "both yes and no"),
    ("👍👎", "both yes and no"),
    ("Yes. No side effects", "both yes and no"),
    ("maybe", "not a yes or no"),
    ("yes but it hurts", "not a yes or no"),
    ("noon", "not a yes or no"),
    ("8", "not a yes or no"),
]


@pytest.mark.parametrize(("text", "reason"), YES_NO_REJECTED)
def test_yes_no_rejected(text: str, reason: str) -> None:
    assert rejected(parse_reply(YES_NO, text)) == reason


# --- text ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [("  Feeling ok, a bit sore.  ", "Feeling ok, a bit sore."), ("8", "8"), ("👍", "👍")],
)
def test_text_accepted(text: str, value: str) -> None:
    assert accepted(parse_reply(TEXT, text)) == value


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "\u200b"])
def test_text_rejected_when_empty(text: str) -> None:
    assert rejected(parse_reply(TEXT, text)) == "empty reply"


# --- every reader, any text ---------------------------------------------------------------

EXPECTATIONS = [PAIN, integer(None, None), integer(-5, 5), FEELING, YES_NO, TEXT]


@given(text=st.text(), expect=st.sampled_from(EXPECTATIONS))
def test_parsing_never_raises_and_is_consistent(
    text: str, expect: IntegerReply | ChoiceReply | YesNoReply | TextReply
) -> None:
    parsed = parse_reply(expect, text)
    assert isinstance(parsed, ParsedReply)
    assert parsed.valid == (parsed.reason == "")
    assert parsed.valid == (parsed.value is not None)
    if parsed.valid and isinstance(expect, IntegerReply):
        assert type(parsed.value) is int
        assert expect.min is None or parsed.value >= expect.min
        assert expect.max is None or parsed.value <= expect.max
    if parsed.valid and isinstance(expect, ChoiceReply):
        assert parsed.value in expect.values
    if parsed.valid and isinstance(expect, YesNoReply):
        assert type(parsed.value) is bool


@given(st.text())
def test_the_other_readers_never_raise(text: str) -> None:
    assert isinstance(sounds_like_opt_out(text), bool)
    assert keyword(text) in (None, *Keyword)
    assert resolve_keyword(text, awaiting_yes_no=True) in (None, *Keyword)


# --- reprompts ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("invalid_count", "max_reprompts", "decision"),
    [
        (1, 0, "give_up"),
        (1, 2, "reprompt"),
        (2, 2, "reprompt"),
        (3, 2, "give_up"),
        (1, 1, "reprompt"),
        (2, 1, "give_up"),
    ],
)
def test_reprompt_decision(invalid_count: int, max_reprompts: int, decision: str) -> None:
    assert reprompt_decision(invalid_count, max_reprompts) == decision


@given(st.integers(min_value=0, max_value=50), st.integers(min_value=1, max_value=60))
def test_exactly_max_reprompts_are_sent(max_reprompts: int, answers: int) -> None:
    decisions = [reprompt_decision(i, max_reprompts) for i in range(1, answers + 1)]
    assert decisions.count("reprompt") == min(answers, max_reprompts)
    assert decisions == sorted(decisions, key=lambda d: d == "give_up")


@pytest.mark.parametrize(("invalid_count", "max_reprompts"), [(0, 2), (-1, 2), (1, -1)])
def test_reprompt_decision_rejects_impossible_counts(
    invalid_count: int, max_reprompts: int
) -> None:
    with pytest.raises(ValueError, match=r"invalid_count|max_reprompts"):
        reprompt_decision(invalid_count, max_reprompts)


# --- the docs -----------------------------------------------------------------------------


def _row(first_cell: str) -> set[str]:
    line = next(line for line in DOC.splitlines() if line.startswith(f"| {first_cell} |"))
    return {word.strip() for word in line.split("|")[2].split(",")}


def test_the_docs_list_every_keyword_and_answer_word() -> None:
    for word in KEYWORDS:
        assert f"`{word}`" in DOC, word
    assert set(YES_FORMS) <= _row("`True`")
    assert set(NO_FORMS) <= _row("`False`")
    filler = re.search(r"must be a filler word: `([^`]*)`", " ".join(DOC.split()))
    assert filler is not None
    assert set(filler.group(1).split()) == FILLER_WORDS
