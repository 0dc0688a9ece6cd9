"""The only place dripsms reads the time: everything else is handed an instant."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime

from dripsms.errors import DripError

Clock = Callable[[], datetime]
"""A clock returns an aware UTC instant."""

NOW_VARIABLE = "DRIPSMS_NOW"


def parse_instant(text: str, *, source: str = "instant") -> datetime:
    """Parse an ISO 8601 instant with a zone (``Z`` or an offset) into aware UTC."""
    try:
        value = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError as exc:
        raise DripError(f"{source}: {text!r} is not an ISO 8601 instant") from exc
    if value.tzinfo is None:
        raise DripError(f"{source}: {text!r} has no UTC offset; add 'Z' or e.g. '+02:00'")
    return value.astimezone(UTC)


def system_clock() -> datetime:
    """The machine's clock, in UTC."""
    return datetime.now(UTC)


def fixed_clock(instant: datetime) -> Clock:
    """A clock that always answers ``instant``."""
    pinned = instant.astimezone(UTC)
    return lambda: pinned


def clock_from_environment(environ: dict[str, str] | None = None) -> Clock:
    """``DRIPSMS_NOW`` pins the clock of one command; otherwise the system clock."""
    env = os.environ if environ is None else environ
    pinned = env.get(NOW_VARIABLE, "").strip()
    if pinned:
        return fixed_clock(parse_instant(pinned, source=NOW_VARIABLE))
    return system_clock
