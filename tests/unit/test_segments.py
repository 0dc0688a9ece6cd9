"""Tests for dripsms.core.segments: GSM 03.38 / Twilio encoding and segment counting."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dripsms.core.segments import (
    GSM7,
    UCS2,
    SegmentCount,
    count_segments,
    is_gsm7,
    non_gsm_characters,
    split_segments,
)

# The GSM 03.38 default alphabet, one row per high nibble (0x00-0x7F), typed from the
# standard's table rather than taken from the module. 0x1B is ESC.
GSM_BASIC_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
ESC = "\x1b"
GSM_BASIC = GSM_BASIC_TABLE.replace(ESC, "")
GSM_EXTENSION = "\f^{}\\[~]|€"

EMOJI = "\U0001f600"  # 😀, outside the BMP: a surrogate pair in UTF-16
RIGHT_QUOTE = "\u2019"  # right single quotation mark: what word processors put in "don't"
CEDILLA_SMALL = "\u00e7"  # ç: not in GSM-7 (only the capital Ç is)
CEDILLA_CAPITAL = "\u00c7"


def gsm_septets(text: str) -> int:
    """Reference septet count, independent of the module."""
    return sum(2 if char in GSM_EXTENSION else 1 for char in text)


def utf16_units(text: str) -> int:
    """Reference UTF-16 code unit count, independent of the module."""
    return sum(2 if ord(char) > 0xFFFF else 1 for char in text)


# --- the table itself ---------------------------------------------------------------------


def test_the_reference_table_has_128_slots() -> None:
    assert len(GSM_BASIC_TABLE) == 128
    assert len(set(GSM_BASIC_TABLE)) == 128


def test_whole_basic_set_is_gsm7_one_septet_each() -> None:
    result = count_segments(GSM_BASIC)
    assert result == SegmentCount(encoding=GSM7, characters=127, units=127, segments=1)
    assert is_gsm7(GSM_BASIC)
    assert non_gsm_characters(GSM_BASIC) == []


@pytest.mark.parametrize("char", list(GSM_BASIC))
def test_each_basic_char_costs_one_septet(char: str) -> None:
    assert count_segments(char) == SegmentCount(GSM7, 1, 1, 1)


@pytest.mark.parametrize("char", list(GSM_EXTENSION))
def test_each_extension_char_costs_two_septets(char: str) -> None:
    assert count_segments(char) == SegmentCount(GSM7, 1, 2, 1)
    assert count_segments("a" + char + "b").units == 4


def test_whole_gsm_alphabet_with_extensions() -> None:
    # 127 basic septets + 10 extension chars at 2 septets each.
    assert count_segments(GSM_BASIC + GSM_EXTENSION) == SegmentCount(GSM7, 137, 147, 1)


def test_lone_escape_is_not_a_gsm_character() -> None:
    # ESC only introduces an extension character; on its own it cannot be sent as GSM-7.
    assert count_segments(ESC) == SegmentCount(UCS2, 1, 1, 1)
    assert non_gsm_characters("a" + ESC) == [ESC]


@pytest.mark.parametrize(
    ("char", "culprits"),
    [
        (CEDILLA_SMALL, [CEDILLA_SMALL]),
        (RIGHT_QUOTE, [RIGHT_QUOTE]),
        ("`", ["`"]),  # ASCII, yet not in GSM 03.38
        ("\t", ["\t"]),
        ("\u00a0", ["\u00a0"]),  # no-break space
        ("\u00e1", ["\u00e1"]),  # a with acute
        ("\u00c0", ["\u00c0"]),  # A with grave (only lowercase à is in the table)
        ("\u0391", ["\u0391"]),  # Greek capital alpha: looks like A, is not in the table
        ("\u2014", ["\u2014"]),  # em dash
        ("\u2026", ["\u2026"]),  # ellipsis
        ("€\u00a2", ["\u00a2"]),  # € is GSM-7 (extension), the cent sign is not
    ],
)
def test_non_gsm_characters_force_ucs2(char: str, culprits: list[str]) -> None:
    text = "Hello " + char
    assert not is_gsm7(text)
    assert count_segments(text).encoding == UCS2
    assert non_gsm_characters(text) == culprits


# --- GSM-7 boundaries -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "segments"),
    [(1, 1), (159, 1), (160, 1), (161, 2), (305, 2), (306, 2), (307, 3), (459, 3), (460, 4)],
)
def test_gsm7_boundaries(length: int, segments: int) -> None:
    result = count_segments("a" * length)
    assert result == SegmentCount(GSM7, length, length, segments)
    assert result.per_segment == (160 if segments == 1 else 153)


def test_80_brackets_fill_one_segment() -> None:
    assert count_segments("[" * 80) == SegmentCount(GSM7, 80, 160, 1)


def test_81_brackets_need_two_segments() -> None:
    # 162 septets > 160, so multi-part: 76 brackets (152 septets) fit in a 153-septet
    # segment, the 77th would make 154. 76 + 5 brackets -> 2 segments.
    assert count_segments("[" * 81) == SegmentCount(GSM7, 81, 162, 2)
    assert split_segments("[" * 81) == ["[" * 76, "[" * 5]


def test_extension_char_pushes_over_single_segment() -> None:
    # 159 + 2 = 161 septets: multi-part; 153 'a' then 6 'a' + '€' (8 septets).
    text = "a" * 159 + "€"
    assert count_segments(text) == SegmentCount(GSM7, 160, 161, 2)
    assert split_segments(text) == ["a" * 153, "a" * 6 + "€"]


def test_escape_pair_is_not_split_and_costs_an_extra_segment() -> None:
    # 152 'a' + '€' + 152 'b' = 152 + 2 + 152 = 306 septets; naive ceil(306 / 153) = 2.
    # Packing: segment 1 takes 152 'a' (adding ESC+€ would make 154 > 153, and the pair
    # may not be split), segment 2 takes '€' + 151 'b' = 153, segment 3 the last 'b'.
    text = "a" * 152 + "€" + "b" * 152
    assert count_segments(text) == SegmentCount(GSM7, 305, 306, 3)
    assert split_segments(text) == ["a" * 152, "€" + "b" * 151, "b"]


def test_escape_pair_moves_whole_to_next_segment() -> None:
    # 152 + 2 + 150 = 304 septets: segment 1 carries only 152 septets, segment 2 152.
    text = "a" * 152 + "{" + "b" * 150
    assert count_segments(text) == SegmentCount(GSM7, 303, 304, 2)
    assert split_segments(text) == ["a" * 152, "{" + "b" * 150]


def test_escape_pair_exactly_filling_a_segment() -> None:
    # 151 'a' + '~' = 153 septets exactly: the pair fits at the end of segment 1.
    text = "a" * 151 + "~" + "b" * 10
    assert split_segments(text) == ["a" * 151 + "~", "b" * 10]
    assert count_segments(text).segments == 2


# --- UCS-2 boundaries -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "segments"),
    [(1, 1), (69, 1), (70, 1), (71, 2), (133, 2), (134, 2), (135, 3), (201, 3), (202, 4)],
)
def test_ucs2_boundaries(length: int, segments: int) -> None:
    result = count_segments(CEDILLA_SMALL * length)
    assert result == SegmentCount(UCS2, length, length, segments)
    assert result.per_segment == (70 if segments == 1 else 67)


def test_one_non_gsm_char_turns_a_long_message_ucs2() -> None:
    # 100 'a' fit one GSM-7 segment, but with a curly apostrophe the whole body is UCS-2:
    # 101 units > 70 -> ceil(101 / 67) = 2 segments.
    text = "a" * 50 + RIGHT_QUOTE + "a" * 50
    assert count_segments(text) == SegmentCount(UCS2, 101, 101, 2)
    assert non_gsm_characters(text) == [RIGHT_QUOTE]


def test_curly_apostrophe() -> None:
    text = f"Don{RIGHT_QUOTE}t forget"
    assert count_segments(text) == SegmentCount(UCS2, 12, 12, 1)
    assert non_gsm_characters(text) == [RIGHT_QUOTE]


def test_cedilla_case_matters() -> None:
    assert is_gsm7(CEDILLA_CAPITAL + "A VA")
    assert count_segments(CEDILLA_CAPITAL + "A VA") == SegmentCount(GSM7, 5, 5, 1)
    assert not is_gsm7(f"Fran{CEDILLA_SMALL}ais")
    assert non_gsm_characters(f"Fran{CEDILLA_SMALL}ais") == [CEDILLA_SMALL]


def test_non_gsm_characters_distinct_in_order_of_first_appearance() -> None:
    text = f"x{CEDILLA_SMALL}y{RIGHT_QUOTE}{CEDILLA_SMALL}{EMOJI}€{RIGHT_QUOTE}`"
    assert non_gsm_characters(text) == [CEDILLA_SMALL, RIGHT_QUOTE, EMOJI, "`"]


FULLWIDTH_COMMA = "\uff0c"


def test_chinese_text() -> None:
    text = f"术后第一天{FULLWIDTH_COMMA}请回复疼痛评分0到10。"
    # 18 characters, all in the BMP: 18 UTF-16 units, one 70-unit segment.
    assert count_segments(text) == SegmentCount(UCS2, 18, 18, 1)
    # The digits are GSM-7; the 13 distinct ideographs and the two CJK punctuation marks
    # are not, and each is listed once although '0' repeats.
    assert non_gsm_characters(text) == list(f"术后第一天{FULLWIDTH_COMMA}请回复疼痛评分到。")


def test_chinese_boundaries() -> None:
    assert count_segments("术" * 70).segments == 1
    assert count_segments("术" * 71).segments == 2
    assert count_segments("术" * 134).segments == 2
    assert count_segments("术" * 135).segments == 3


# --- surrogate pairs ------------------------------------------------------------------------


def test_emoji_is_two_units() -> None:
    assert count_segments(EMOJI) == SegmentCount(UCS2, 1, 2, 1)


def test_35_emoji_fill_one_segment() -> None:
    assert count_segments(EMOJI * 35) == SegmentCount(UCS2, 35, 70, 1)


def test_36_emoji_need_two_segments() -> None:
    # 72 units > 70: multi-part; 33 emoji (66 units) per segment, a 34th would be 68 > 67.
    assert count_segments(EMOJI * 36) == SegmentCount(UCS2, 36, 72, 2)
    assert split_segments(EMOJI * 36) == [EMOJI * 33, EMOJI * 3]


def test_surrogate_pair_is_not_split_and_costs_an_extra_segment() -> None:
    # 67 emoji = 134 units; naive ceil(134 / 67) = 2. Each segment holds only 33 emoji
    # (66 units), so: 33 + 33 + 1 -> 3 segments.
    assert count_segments(EMOJI * 67) == SegmentCount(UCS2, 67, 134, 3)


def test_surrogate_pair_moves_whole_to_next_segment() -> None:
    # 66 + 2 + 66 = 134 units. Segment 1: 66 'a' (the emoji would make 68 > 67);
    # segment 2: emoji + 65 'b' = 67; segment 3: the last 'b'. Naive division says 2.
    text = "a" * 66 + EMOJI + "b" * 66
    assert count_segments(text) == SegmentCount(UCS2, 133, 134, 3)
    assert split_segments(text) == ["a" * 66, EMOJI + "b" * 65, "b"]


def test_emoji_with_bmp_char_packing() -> None:
    # 34 emoji + 'x' = 69 units: still one segment.
    assert count_segments(EMOJI * 34 + "x") == SegmentCount(UCS2, 35, 69, 1)
    # 'x' + 35 emoji = 71 units: 'x' + 33 emoji = 67 exactly, then 2 emoji.
    assert split_segments("x" + EMOJI * 35) == ["x" + EMOJI * 33, EMOJI * 2]
    # 35 emoji + 'x' = 71 units: segment 1 stops at 66 units, 'x' rides in segment 2.
    assert split_segments(EMOJI * 35 + "x") == [EMOJI * 33, EMOJI * 2 + "x"]


def test_emoji_makes_gsm_text_ucs2() -> None:
    text = "Thanks! " + EMOJI
    assert count_segments(text) == SegmentCount(UCS2, 9, 10, 1)
    assert non_gsm_characters(text) == [EMOJI]


# --- empty body and the dataclass ---------------------------------------------------------


def test_empty_body_is_zero_segments() -> None:
    result = count_segments("")
    assert result == SegmentCount(GSM7, 0, 0, 0)
    assert result.per_segment == 160
    assert split_segments("") == []
    assert is_gsm7("")
    assert non_gsm_characters("") == []


def test_per_segment() -> None:
    assert SegmentCount(GSM7, 10, 10, 1).per_segment == 160
    assert SegmentCount(GSM7, 200, 200, 2).per_segment == 153
    assert SegmentCount(UCS2, 10, 10, 1).per_segment == 70
    assert SegmentCount(UCS2, 100, 100, 2).per_segment == 67


def test_segment_count_is_frozen() -> None:
    result = count_segments("hi")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.segments = 5  # type: ignore[misc]


# --- properties -----------------------------------------------------------------------------

_gsm_texts = st.text(alphabet=GSM_BASIC + GSM_EXTENSION, max_size=500)
_mixed_texts = st.text(
    alphabet=st.sampled_from(["a", "[", "€", CEDILLA_SMALL, "术", EMOJI, "\U0001f44d"]),
    max_size=300,
)
_any_texts = st.one_of(st.text(max_size=400), _gsm_texts, _mixed_texts)


def _reference_units(text: str, encoding: str) -> int:
    return gsm_septets(text) if encoding == GSM7 else utf16_units(text)


@given(_any_texts)
def test_counts_are_consistent(text: str) -> None:
    result = count_segments(text)
    assert (result.segments == 0) == (text == "")
    assert result.characters == len(text)
    assert result.units >= result.characters
    assert result.per_segment * result.segments >= result.units
    expected_gsm = all(char in GSM_BASIC or char in GSM_EXTENSION for char in text)
    assert result.encoding == (GSM7 if expected_gsm else UCS2)
    assert is_gsm7(text) == expected_gsm
    assert result.units == (
        gsm_septets(text) if expected_gsm else len(text.encode("utf-16-le")) // 2
    )


@given(_any_texts)
def test_non_gsm_characters_matches_definition(text: str) -> None:
    listed = non_gsm_characters(text)
    assert len(listed) == len(set(listed))
    assert set(listed) == {c for c in text if c not in GSM_BASIC and c not in GSM_EXTENSION}
    assert listed == sorted(listed, key=text.index)
    assert (listed == []) == is_gsm7(text)


@given(_any_texts)
def test_split_segments_packs_greedily_within_limits(text: str) -> None:
    result = count_segments(text)
    parts = split_segments(text)
    assert "".join(parts) == text
    assert len(parts) == result.segments
    assert all(parts)
    # Each part is a whole number of Python code points, so an emoji (one code point)
    # or an extension character can only land entirely in one part; the limit check
    # below is what stops a part from carrying half of one.
    limit = result.per_segment
    sizes = [_reference_units(part, result.encoding) for part in parts]
    assert all(size <= limit for size in sizes)
    assert sum(sizes) == result.units
    # Greedy: every part but the last is full, i.e. the next character would not fit.
    for part, size, following in zip(parts, sizes, parts[1:], strict=False):
        assert size + _reference_units(following[0], result.encoding) > limit, part
