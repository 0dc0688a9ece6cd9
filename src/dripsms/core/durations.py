"""Durations (``15m``, ``1d12h``, ``PT15M``) and local times of day (``09:00``)."""

from __future__ import annotations

import re
from datetime import time, timedelta

_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_COMPACT = re.compile(r"(?:(\d+)\s*([wdhms]))", re.IGNORECASE)
_ISO = re.compile(
    r"P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?)?\Z", re.IGNORECASE
)
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})\Z")


def parse_duration(text: str | int) -> timedelta:
    """Parse ``90m``, ``1d12h``, ``2w``, ISO 8601 ``PT15M``, or whole seconds (an int).

    Raises ``ValueError`` with a message fit for a person.
    """
    if isinstance(text, bool):
        raise ValueError("expected a duration such as '15m', '24h' or '7d'")
    try:
        return _parsed(text)
    except OverflowError:  # more than a timedelta holds (about 2.7 million years)
        raise ValueError(f"{str(text)[:40]!r} is too long a duration") from None


def _parsed(text: str | int) -> timedelta:
    if isinstance(text, int):
        if text < 0:
            raise ValueError("a duration cannot be negative")
        return timedelta(seconds=text)
    value = text.strip()
    iso = _ISO.match(value)
    if iso and value.upper() not in ("P", "PT"):
        parts = {k: int(v) for k, v in iso.groupdict(default="0").items()}
        return timedelta(days=parts["d"], hours=parts["h"], minutes=parts["m"], seconds=parts["s"])
    compact = value.replace(" ", "")
    pieces = _COMPACT.findall(compact)
    if not pieces or "".join(n + u for n, u in pieces).lower() != compact.lower():
        raise ValueError(f"{text!r} is not a duration; write e.g. '15m', '24h', '7d' or '1d12h'")
    return timedelta(seconds=sum(int(n) * _UNITS[u.lower()] for n, u in pieces))


def format_duration(value: timedelta) -> str:
    """The compact form of a duration: ``1d12h``, ``15m``, ``0s``."""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            out.append(f"{count}{unit}")
    return "".join(out)


def parse_clock(text: str, *, allow_end_of_day: bool = False) -> int:
    """Parse ``HH:MM`` into minutes since midnight; ``24:00`` only as an end of day."""
    match = _CLOCK.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise ValueError(f'{text!r} is not a time of day; write it as "HH:MM", e.g. "09:00"')
    hours, minutes = int(match.group(1)), int(match.group(2))
    if allow_end_of_day and (hours, minutes) == (24, 0):
        return 1440
    if hours > 23 or minutes > 59:
        raise ValueError(f"{text!r} is not a time of day between 00:00 and 23:59")
    return hours * 60 + minutes


def clock_time(minute_of_day: int) -> time:
    """Minutes since midnight (0..1439) as a :class:`datetime.time`."""
    return time(minute_of_day // 60, minute_of_day % 60)


def format_clock(minute_of_day: int) -> str:
    """Minutes since midnight as ``HH:MM`` (1440 as ``24:00``)."""
    return f"{minute_of_day // 60:02d}:{minute_of_day % 60:02d}"
