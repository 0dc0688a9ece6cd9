"""The only place dripsms reads the time: everything else is handed an instant."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from dripsms.errors import DripError, InvalidInput

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


def iso_instant(instant: datetime | None) -> str | None:
    """An aware UTC instant for JSON, ``...Z`` (``None`` stays ``None``)."""
    return None if instant is None else instant.isoformat().replace("+00:00", "Z")


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


class ClockMovedBackward(InvalidInput):
    """The virtual clock only moves forward."""


class VirtualClock:
    """The sandbox mode's clock: it follows real time from ``start`` and can be moved
    forward (never backward). Call it for the current instant (a :data:`Clock`).

    ``real`` is the source of elapsed time (seconds, monotonic); pass a fake one in tests.
    Each move calls the listeners (:meth:`on_move`) with the new instant, outside the lock:
    the sandbox releases what is due, the dispatcher wakes, the position is saved.
    """

    def __init__(self, start: datetime, real: Callable[[], float] | None = None) -> None:
        import threading
        import time

        if start.tzinfo is None:
            raise DripError(f"the virtual clock needs an aware instant, not {start!r}")
        self._real = real or time.monotonic
        self._lock = threading.Lock()
        self._base = start.astimezone(UTC)
        self._real_at_base = self._real()
        self._listeners: list[Callable[[datetime], object]] = []

    def __call__(self) -> datetime:
        with self._lock:
            return self._position()

    def now(self) -> datetime:
        """The current instant (aware UTC)."""
        return self()

    def on_move(self, listener: Callable[[datetime], object]) -> None:
        """Call ``listener(new_now)`` after every move."""
        with self._lock:
            self._listeners.append(listener)

    def advance(self, step: timedelta) -> datetime:
        """Move forward by ``step`` (zero: no move, listeners still run); the new now."""
        if step < timedelta(0):
            raise ClockMovedBackward(f"the virtual clock only moves forward; {step} is negative")
        with self._lock:
            target = self._set(self._position() + step)
        return self._moved(target)

    def advance_to(self, instant: datetime) -> datetime:
        """Move forward to ``instant`` (one already past is refused); the new now."""
        if instant.tzinfo is None:
            raise DripError(f"{instant!r} has no time zone")
        with self._lock:
            now = self._position()
            if instant < now:
                raise ClockMovedBackward(
                    f"the virtual clock only moves forward; {instant.astimezone(UTC).isoformat()} "
                    f"is {now - instant} before its now"
                )
            target = self._set(instant.astimezone(UTC))
        return self._moved(target)

    def _set(self, target: datetime) -> datetime:
        """Inside the lock: the position is ``target`` from now on."""
        self._base = target
        self._real_at_base = self._real()
        return target

    def _moved(self, target: datetime) -> datetime:
        """Outside the lock: tell the listeners."""
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(target)
        return target

    def _position(self) -> datetime:
        elapsed = max(0.0, self._real() - self._real_at_base)
        return self._base + timedelta(seconds=elapsed)
