"""SMS encoding and segment counting, as GSM 03.38 and Twilio do it.

A body is sent as GSM-7 when every character is in the GSM 03.38 default alphabet or its
extension table, and as UCS-2 (really UTF-16) otherwise. One segment holds 160 septets or
70 UTF-16 code units; once a body needs more, every segment loses room to the
concatenation header and holds 153 septets or 67 units. An escape pair (ESC + extension
character) or a surrogate pair is never split across two segments, so a segment may
carry one unit less than its limit.

The empty body counts as 0 segments. Twilio would bill it as one, but dripsms never
sends an empty body, and 0 keeps "no text" distinguishable from "one short text".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "GSM7",
    "UCS2",
    "SegmentCount",
    "count_segments",
    "is_gsm7",
    "non_gsm_characters",
    "split_segments",
]

GSM7 = "GSM-7"
UCS2 = "UCS-2"

# The GSM 03.38 default alphabet in code order 0x00-0x7F. Slot 0x1B is ESC, the prefix of
# the extension table, and is left out: a lone ESC in a body is not a character a handset
# can show, so it must force UCS-2 like any other foreign character (as Twilio does).
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Each of these is sent as ESC + a septet, so it costs two septets.
_GSM7_EXTENSION = "\f^{}\\[~]|€"
_GSM7_EXTENSION_SET = frozenset(_GSM7_EXTENSION)
_GSM7_ALL = _GSM7_BASIC | _GSM7_EXTENSION_SET

_GSM7_SINGLE = 160
_GSM7_MULTI = 153
_UCS2_SINGLE = 70
_UCS2_MULTI = 67

_BMP_MAX = 0xFFFF


def _septets(text: str) -> int:
    return len(text) + sum(map(text.count, _GSM7_EXTENSION))


def _utf16_units(text: str) -> int:
    # surrogatepass: a lone surrogate in a str still goes out as one code unit.
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _is_wide_gsm7(char: str) -> bool:
    return char in _GSM7_EXTENSION_SET


def _is_wide_ucs2(char: str) -> bool:
    return ord(char) > _BMP_MAX


@dataclass(frozen=True, slots=True)
class _Scheme:
    encoding: str
    single: int
    multi: int
    units: Callable[[str], int]
    # A "wide" character costs two units that must travel in the same segment.
    is_wide: Callable[[str], bool]


_GSM7_SCHEME = _Scheme(GSM7, _GSM7_SINGLE, _GSM7_MULTI, _septets, _is_wide_gsm7)
_UCS2_SCHEME = _Scheme(UCS2, _UCS2_SINGLE, _UCS2_MULTI, _utf16_units, _is_wide_ucs2)


@dataclass(frozen=True, slots=True)
class SegmentCount:
    """How a body is encoded and how many SMS segments it takes."""

    encoding: str
    """``GSM7`` or ``UCS2``."""
    characters: int
    """``len(text)``: Python code points."""
    units: int
    """Septets (GSM-7) or UTF-16 code units (UCS-2)."""
    segments: int
    """Segments billed; 0 for the empty body."""

    @property
    def per_segment(self) -> int:
        """Units one segment can hold: 160/70 for a single segment, 153/67 for a multi-part one."""
        scheme = _GSM7_SCHEME if self.encoding == GSM7 else _UCS2_SCHEME
        return scheme.single if self.segments <= 1 else scheme.multi


def is_gsm7(text: str) -> bool:
    """Whether ``text`` can be sent as GSM-7 (the empty body can)."""
    return _GSM7_ALL.issuperset(text)


def non_gsm_characters(text: str) -> list[str]:
    """The distinct characters that force ``text`` into UCS-2, in order of first appearance."""
    if is_gsm7(text):
        return []
    return list(dict.fromkeys(char for char in text if char not in _GSM7_ALL))


def _scheme_for(text: str) -> _Scheme:
    return _GSM7_SCHEME if is_gsm7(text) else _UCS2_SCHEME


def _split(text: str, scheme: _Scheme, units: int) -> list[str]:
    if not text:
        return []
    if units <= scheme.single:
        return [text]
    limit = scheme.multi
    parts: list[str] = []
    start = 0
    while start < len(text):
        # Every character costs at least one unit, so a segment never spans more than
        # `limit` characters; start from that window and drop characters off its end
        # until it fits. The window shrinks one whole character at a time, so an escape
        # or surrogate pair is never cut in half.
        end = min(start + limit, len(text))
        used = scheme.units(text[start:end])
        while used > limit:
            end -= 1
            used -= 2 if scheme.is_wide(text[end]) else 1
        parts.append(text[start:end])
        start = end
    return parts


def split_segments(text: str) -> list[str]:
    """The payload of each segment ``text`` is sent as, packed greedily; ``[]`` for ``""``."""
    scheme = _scheme_for(text)
    return _split(text, scheme, scheme.units(text))


def count_segments(text: str) -> SegmentCount:
    """Encoding, size and segment count of one rendered body (0 segments for ``""``)."""
    scheme = _scheme_for(text)
    units = scheme.units(text)
    segments = len(_split(text, scheme, units))
    return SegmentCount(scheme.encoding, len(text), units, segments)
