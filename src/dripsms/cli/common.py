"""What every command shares: settings, the clock, NAME=VALUE options, error types."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer

from dripsms.clock import Clock, clock_from_environment
from dripsms.core.timeline import AnchorOutOfRange, check_anchor
from dripsms.core.zones import time_zone
from dripsms.errors import DripError
from dripsms.settings import Settings, settings_problems

if TYPE_CHECKING:
    from dripsms.runtime import Runtime

JSON = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
"""``--json``, for every command that can print its result as JSON."""
SET = Annotated[
    list[str] | None, typer.Option("--set", help="An attribute, NAME=VALUE (repeatable).")
]
"""``--set NAME=VALUE``, for every command that takes attributes (read with :func:`pairs`)."""


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
        return time_zone(name)
    except ValueError:
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
        if built.settings.uses_sandbox:
            built.clock = sandbox_clock(built)
    return built


def sandbox_clock(built: Runtime) -> Clock:
    """In sandbox mode a command shares the virtual clock: it starts where the running
    `dripsms run`'s is (found through its run file), else where the next run would start
    (``DRIPSMS_NOW`` or the machine's time, never before the position a previous run saved),
    and follows real time from there."""
    import os

    import requests
    from sqlalchemy.exc import SQLAlchemyError

    from dripsms import runfile
    from dripsms.clock import NOW_VARIABLE, VirtualClock, parse_instant
    from dripsms.engine.sandbox_session import start_position
    from dripsms.store.virtual_clock import saved

    path = runfile.path_for(built.settings.database_url)
    if path.exists():
        try:
            run = runfile.read(path)
            answer = requests.get(
                f"{run.url}/v1/sandbox/clock", timeout=5,
                headers={"Authorization": f"Bearer {run.token}"},
            )  # fmt: skip
            if answer.status_code == 200:
                return VirtualClock(parse_instant(str(answer.json()["now"])))
        except (DripError, requests.RequestException, ValueError, KeyError, TypeError):
            pass  # a stale run file: the server is gone
    if os.environ.get(NOW_VARIABLE, "").strip():
        return built.clock
    try:
        position = saved(built.engine)
    except SQLAlchemyError:  # no saved position can be read: the machine's time
        return built.clock
    return VirtualClock(start_position(built.clock(), position).at)
