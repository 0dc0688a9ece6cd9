"""Field types shared by the sequence model, each with an error message for people."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

from dripsms.core.durations import parse_clock, parse_duration
from dripsms.core.zones import time_zone

_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*\Z")
_KEY = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")
_SERVICE_SID = re.compile(r"MG[0-9a-fA-F]{32}\Z")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}\Z")

RESERVED_NAMES = frozenset(
    {"contact", "step", "steps", "reply", "sequence", "enrollment", "enrolled_at", "now", "loop"}
    | {"true", "false", "none", "True", "False", "None", "and", "or", "not", "in", "is"}
)


def _identifier(value: str) -> str:
    if not _IDENTIFIER.match(value):
        raise ValueError(
            f"{value!r} is not a valid name: use lower-case letters, digits and '_', "
            "starting with a letter"
        )
    return value


def _key(value: str) -> str:
    if not _KEY.match(value):
        raise ValueError(
            f"{value!r} is not a valid key: use lower-case letters, digits, '-' and '_'"
        )
    return value


def _zone(value: str) -> str:
    time_zone(value)
    return value


def _service_sid(value: str) -> str:
    if not _SERVICE_SID.match(value):
        raise ValueError(f"{value!r} is not a Messaging Service SID ('MG' and 32 hex digits)")
    return value


def _e164(value: str) -> str:
    if not _E164.match(value):
        raise ValueError(f"{value!r} is not a phone number in E.164 form, e.g. '+15551234567'")
    return value


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str | int):
        raise ValueError("expected a duration such as '15m', '24h' or '7d'")
    try:
        return parse_duration(value)
    except OverflowError:
        raise ValueError(f"{value!r} is far too long a duration") from None


def _clock_text(value: Any) -> str:
    """The text of a time of day; a number is refused: YAML's `time: 900` is not 09:00."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        example = "09:00"
        if isinstance(value, int) and 0 <= value <= 2359 and value % 100 < 60:
            example = f"{value // 100:02d}:{value % 100:02d}"
        raise ValueError(
            f'{value} is a number, not a time of day; write it as "HH:MM", e.g. "{example}"'
        )
    raise ValueError(f'expected a time of day as "HH:MM", e.g. "09:00", got {value!r}')


def _clock(value: Any) -> int:
    return parse_clock(_clock_text(value))


def _end_clock(value: Any) -> int:
    return parse_clock(_clock_text(value), allow_end_of_day=True)


def _attribute_name(value: str) -> str:
    _identifier(value)
    if value in RESERVED_NAMES:
        raise ValueError(
            f"{value!r} already has a meaning in templates; give the attribute another name"
        )
    return value


Identifier = Annotated[str, AfterValidator(_identifier)]
AttributeName = Annotated[str, AfterValidator(_attribute_name)]
"""An :data:`Identifier` that is not a name templates already mean (``reply``, ``steps``)."""
Key = Annotated[str, AfterValidator(_key)]
ZoneName = Annotated[str, AfterValidator(_zone)]
ServiceSid = Annotated[str, AfterValidator(_service_sid)]
E164 = Annotated[str, AfterValidator(_e164)]
Duration = Annotated[timedelta, BeforeValidator(_duration)]
ClockTime = Annotated[int, BeforeValidator(_clock)]
"""A local time of day, written ``HH:MM``, held as minutes since midnight."""
EndClockTime = Annotated[int, BeforeValidator(_end_clock)]
"""Like :data:`ClockTime`, but ``24:00`` (the end of the day) is allowed."""
