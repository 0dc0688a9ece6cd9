"""Managing operators and reading the audit log: what ``dripsms users``, ``dripsms audit``
and the console's Users and Audit pages call.

Every change is written with its audit row in one transaction. Who acted is an
:class:`Actor`: a signed-in operator, or ``cli:<os user>`` for the command line.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from dripsms.core.durations import parse_duration
from dripsms.engine.operators import (
    Operator,
    hash_password,
    new_password,
    normalize_email,
    role_of,
)
from dripsms.errors import Conflict, InvalidInput
from dripsms.store import audit
from dripsms.store import operators as store
from dripsms.store.audit import AuditAction, AuditEvent
from dripsms.store.operators import OperatorExists, OperatorRow, UnknownOperator

FIRST_ADMIN = "admin@dripsms.local"
"""The operator ``dripsms run`` creates in sandbox mode when there is none."""
MAX_AUDIT_ROWS = 1000
"""The most rows one listing returns (``--limit``, the audit page)."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did something: the email the audit log shows, and the operator's id if any."""

    email: str
    id: int | None = None

    @classmethod
    def of(cls, operator: Operator) -> Actor:
        """A signed-in operator."""
        return cls(operator.email, operator.id)

    @classmethod
    def command_line(cls) -> Actor:
        """The person at the command line: ``cli:<os user>``."""
        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no name for this uid (a bare container)
            user = "unknown"
        return cls(f"cli:{user}"[:254])


class CannotDisableSelf(Conflict):
    """An admin tried to disable their own account (they would lock themselves out)."""

    def __init__(self) -> None:
        super().__init__("email: you cannot disable your own account; ask another admin")


@dataclass(frozen=True, slots=True)
class FirstRun:
    """What ``dripsms run`` did about operators: the admin it created (with the password,
    to be printed once), or how many operators exist already."""

    created: Operator | None
    password: str | None
    existing: int


def add_user(
    engine: Engine, email: str, role: str, password: str, *, by: Actor, now: datetime
) -> Operator:
    """A new operator, audited; ``InvalidOperator`` (email, role, password) or
    :class:`OperatorExists`, and nothing written, otherwise."""
    address, kind = normalize_email(email), role_of(role)
    digest = hash_password(password)
    with engine.begin() as connection:
        operator_id = store.add(connection, address, kind.value, digest, now)
        audit.record(
            connection, at=now, operator_email=by.email, operator_id=by.id,
            action=AuditAction.ADD_OPERATOR, subject=f"operator:{address}",
            detail={"role": kind.value},
        )  # fmt: skip
    return Operator(operator_id, address, kind)


def disable_user(engine: Engine, email: str, *, by: Actor, now: datetime) -> OperatorRow:
    """Disable ``email`` and end its sessions, audited; :class:`UnknownOperator`,
    :class:`CannotDisableSelf`. Disabling a disabled operator changes and records nothing."""
    try:
        address = normalize_email(email)
    except InvalidInput:
        raise UnknownOperator(email.strip()) from None
    if address == by.email:
        raise CannotDisableSelf()
    with engine.begin() as connection:
        found = store.by_email(connection, address)
        if found is None:
            raise UnknownOperator(address)
        store.disable(connection, address, now)
        if found.disabled_at is None:
            audit.record(
                connection, at=now, operator_email=by.email, operator_id=by.id,
                action=AuditAction.DISABLE_OPERATOR, subject=f"operator:{address}",
            )  # fmt: skip
        updated = store.by_email(connection, address)
    assert updated is not None
    return updated


def list_users(engine: Engine) -> list[OperatorRow]:
    """Every operator, by email (disabled ones included)."""
    with engine.connect() as connection:
        return store.every(connection)


def first_run(engine: Engine, *, create: bool, now: datetime) -> FirstRun:
    """With ``create`` (sandbox mode) and no operator yet: an admin with a random password
    (the caller prints it once; only its hash is stored). Otherwise how many exist."""
    with engine.connect() as connection:
        existing = store.count(connection)
    if existing or not create:
        return FirstRun(None, None, existing)
    password = new_password()
    try:
        created = add_user(
            engine, FIRST_ADMIN, "admin", password, by=Actor("dripsms run (first run)"), now=now
        )
    except OperatorExists:  # another process got there first
        return FirstRun(None, None, 1)
    return FirstRun(created, password, 0)


def record_sign_in(engine: Engine, operator: Operator, *, now: datetime) -> None:
    """``operator`` signed in to the console."""
    _record_self(engine, operator, AuditAction.SIGN_IN, now)


def record_sign_out(engine: Engine, operator: Operator, *, now: datetime) -> None:
    """``operator`` signed out of the console."""
    _record_self(engine, operator, AuditAction.SIGN_OUT, now)


def _record_self(engine: Engine, operator: Operator, action: AuditAction, now: datetime) -> None:
    with engine.begin() as connection:
        audit.record(
            connection, at=now, operator_email=operator.email, operator_id=operator.id,
            action=action, subject=f"operator:{operator.email}",
        )  # fmt: skip


def audit_log(
    engine: Engine, *, since: datetime | None = None, limit: int = 200, offset: int = 0
) -> list[AuditEvent]:
    """The audit log, newest first, from ``since`` on."""
    if not 1 <= limit <= MAX_AUDIT_ROWS:
        raise InvalidInput(f"limit: between 1 and {MAX_AUDIT_ROWS}")
    with engine.connect() as connection:
        return audit.recent(connection, since=since, limit=limit, offset=offset)


def parse_since(text: str, *, now: datetime, zone: str = "UTC", field: str = "since") -> datetime:
    """``--since``: a date (midnight in ``zone``), an ISO instant with an offset, or a
    duration back from ``now`` (``30m``, ``24h``, ``7d``, ``2w``, ``1d12h``: any
    :func:`~dripsms.core.durations.parse_duration` reads); an aware UTC instant."""
    value = text.strip().lower()
    try:
        return now - parse_duration(value)
    except ValueError:  # not a duration
        pass
    except OverflowError:  # before the year 1
        raise InvalidInput(f"{field}: {text.strip()!r} reaches back too far") from None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        pass
    else:
        return datetime.combine(day, time(), ZoneInfo(zone)).astimezone(UTC)
    try:
        instant = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        instant = None
    if instant is None or instant.tzinfo is None:
        raise InvalidInput(
            f"{field}: {text[:64]!r} is not a date (2026-11-30), an ISO instant with an "
            "offset (2026-11-30T08:00Z) or a duration back from now (30m, 24h, 7d, 2w)"
        )
    return instant.astimezone(UTC)
