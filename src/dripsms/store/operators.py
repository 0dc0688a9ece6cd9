"""Operators (the people who sign in to the console) and their sessions.

Passwords arrive here already hashed, and a session is found by the SHA-256 of its cookie's
token: nothing in these tables signs anybody in by itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from dripsms.errors import Conflict, NotFound
from dripsms.store.tables import console_sessions, operators


@dataclass(frozen=True, slots=True)
class OperatorRow:
    """One operator as stored."""

    id: int
    email: str
    role: str
    password_hash: str
    created_at: datetime
    disabled_at: datetime | None


@dataclass(frozen=True, slots=True)
class SessionRow:
    """A live session and whose it is."""

    id: str
    csrf_token: str
    last_seen_at: datetime
    expires_at: datetime
    operator: OperatorRow


class OperatorExists(Conflict):
    """An operator with this email exists already."""

    def __init__(self, email: str) -> None:
        super().__init__(f"email: an operator {email!r} exists already")


class UnknownOperator(NotFound):
    """No operator has this email."""

    def __init__(self, email: str) -> None:
        super().__init__(f"email: no operator {email!r}")


_OPERATOR = (
    operators.c.id, operators.c.email, operators.c.role, operators.c.password_hash,
    operators.c.created_at, operators.c.disabled_at,
)  # fmt: skip


def add(connection: Connection, email: str, role: str, password_hash: str, at: datetime) -> int:
    """A new operator; :class:`OperatorExists` when the email is taken."""
    try:
        with connection.begin_nested():
            result = connection.execute(
                insert(operators).values(
                    email=email, role=role, password_hash=password_hash, created_at=at
                )
            )
    except IntegrityError:
        raise OperatorExists(email) from None
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def by_email(connection: Connection, email: str) -> OperatorRow | None:
    """The operator with ``email`` (emails are stored lower-case), or ``None``."""
    row = connection.execute(select(*_OPERATOR).where(operators.c.email == email)).first()
    return OperatorRow(*row) if row else None


def every(connection: Connection) -> list[OperatorRow]:
    """Every operator, by email."""
    rows = connection.execute(select(*_OPERATOR).order_by(operators.c.email)).all()
    return [OperatorRow(*row) for row in rows]


def count(connection: Connection) -> int:
    """How many operators exist (disabled ones included)."""
    return int(connection.execute(select(func.count()).select_from(operators)).scalar_one())


def disable(connection: Connection, email: str, at: datetime) -> None:
    """Disable ``email`` and end its sessions; :class:`UnknownOperator` when there is none."""
    found = by_email(connection, email)
    if found is None:
        raise UnknownOperator(email)
    if found.disabled_at is None:
        connection.execute(
            update(operators).where(operators.c.id == found.id).values(disabled_at=at)
        )
    connection.execute(delete(console_sessions).where(console_sessions.c.operator_id == found.id))


def set_password(connection: Connection, operator_id: int, password_hash: str) -> None:
    """Store a new hash (a rehash with stronger parameters, or a changed password)."""
    connection.execute(
        update(operators).where(operators.c.id == operator_id).values(password_hash=password_hash)
    )


# -- sessions -----------------------------------------------------------------------------


def open_session(
    connection: Connection,
    session_id: str,
    operator_id: int,
    csrf_token: str,
    *,
    at: datetime,
    expires_at: datetime,
) -> None:
    """Record a signed-in browser; ``session_id`` is the hash of its cookie's token."""
    connection.execute(
        insert(console_sessions).values(
            id=session_id,
            operator_id=operator_id,
            csrf_token=csrf_token,
            created_at=at,
            last_seen_at=at,
            expires_at=expires_at,
        )
    )


def live_session(connection: Connection, session_id: str, at: datetime) -> SessionRow | None:
    """The session if it exists, has not expired and its operator is not disabled."""
    row = connection.execute(
        select(
            console_sessions.c.id,
            console_sessions.c.csrf_token,
            console_sessions.c.last_seen_at,
            console_sessions.c.expires_at,
            *_OPERATOR,
        )
        .join(operators, operators.c.id == console_sessions.c.operator_id)
        .where(
            console_sessions.c.id == session_id,
            console_sessions.c.expires_at > at,
            operators.c.disabled_at.is_(None),
        )
    ).first()
    if row is None:
        return None
    operator = OperatorRow(*tuple(row)[4:])
    return SessionRow(row.id, row.csrf_token, row.last_seen_at, row.expires_at, operator)


def touch_session(connection: Connection, session_id: str, at: datetime) -> None:
    """The session was used at ``at``."""
    connection.execute(
        update(console_sessions).where(console_sessions.c.id == session_id).values(last_seen_at=at)
    )


def close_session(connection: Connection, session_id: str) -> None:
    """Sign the session out."""
    connection.execute(delete(console_sessions).where(console_sessions.c.id == session_id))


def forget_expired_sessions(connection: Connection, at: datetime) -> None:
    """Delete sessions that expired before ``at``."""
    connection.execute(delete(console_sessions).where(console_sessions.c.expires_at <= at))
