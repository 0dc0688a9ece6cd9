"""What every command shares: settings, the clock, NAME=VALUE options, error types."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dripsms.clock import Clock, clock_from_environment
from dripsms.core.timeline import AnchorOutOfRange, check_anchor
from dripsms.errors import DripError
from dripsms.settings import Settings, settings_problems

if TYPE_CHECKING:
    from dripsms.runtime import Runtime


def settings() -> Settings:
    try:
        return Settings()
    except Exception as exc:  # pydantic's ValidationError, a bad dripsms.toml
        raise DripError(f"invalid settings: {'; '.join(settings_problems(exc))}") from None


def clock() -> Clock:
    return clock_from_environment()


def pairs(values: list[str], option: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise DripError(f"{option} {item!r}: write NAME=VALUE")
        pairs[name.strip()] = value
    return pairs


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise DripError(f"--tz: unknown time zone {name!r}; use an IANA name") from None


def anchor(text: str | None) -> date | datetime | None:
    """The ``--anchor`` option: a date or an ISO date-time, inside the supported range."""
    if text is None:
        return None
    value: date | datetime
    try:
        value = date.fromisoformat(text)
    except ValueError:
        try:
            value = datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError:
            raise DripError(
                f"--anchor: {text!r} is neither a date (YYYY-MM-DD) nor an ISO date-time"
            ) from None
    try:
        check_anchor(value)
    except AnchorOutOfRange as exc:
        raise DripError(f"--anchor: {exc}") from None
    return value


def runtime(*, ready: bool = True) -> Runtime:
    """The engine's parts; with ``ready``, refuse an unmigrated database."""
    from dripsms.runtime import Runtime  # heavy (SQLAlchemy, the SDK): only when needed

    built = Runtime(settings(), clock())
    if ready:
        built.ensure_ready()
    return built
