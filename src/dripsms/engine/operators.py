"""The care team's accounts: adding, checking a password, disabling, sessions.

Passwords are hashed with argon2id (argon2-cffi's defaults, rehashed when they change).
A session's cookie carries a random token; the database keeps only its SHA-256.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine

from dripsms.errors import InvalidInput
from dripsms.store import operators as store
from dripsms.store.operators import OperatorRow

MIN_PASSWORD = 10
MAX_PASSWORD = 1024
"""Longer passwords are refused before hashing (a megabyte password is a denial of service)."""

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Checked against when the email is unknown, so that both answers take as long.

    Made on first use: an argon2 hash takes 64 MiB for a moment, which a process that never
    signs anybody in (a worker, ``dripsms serve`` without a console user) need not pay."""
    return _hasher.hash("dripsms: no such operator")


class Role(StrEnum):
    """What an operator may do."""

    NURSE = "nurse"
    """Views contacts, acknowledges and resolves inbox items, replies to patients."""
    ADMIN = "admin"
    """A nurse's rights, and managing operators, unenrolling, the audit log."""


@dataclass(frozen=True, slots=True)
class Operator:
    """A signed-in person."""

    id: int
    email: str
    role: Role

    @property
    def is_admin(self) -> bool:
        """May manage operators and unenroll."""
        return self.role is Role.ADMIN


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in browser: its operator and the token its forms must carry."""

    token: str
    """The cookie's value (known only to the browser after sign-in)."""
    operator: Operator
    csrf_token: str


class InvalidOperator(InvalidInput):
    """An email, role or password that cannot be an operator's."""


def normalize_email(email: str) -> str:
    """``email`` trimmed and lower-cased; :class:`InvalidOperator` when it is not one."""
    value = email.strip().lower()
    local, at, domain = value.partition("@")
    # Not printable: spaces, control characters (a NUL PostgreSQL refuses), lone surrogates.
    if not at or not local or "." not in domain or not value.isprintable() or " " in value:
        raise InvalidOperator(f"email: {email!r} is not an email address")
    if len(value) > 254:
        raise InvalidOperator("email: longer than 254 characters")
    return value


def role_of(text: str) -> Role:
    """The role named ``text``; :class:`InvalidOperator` otherwise."""
    try:
        return Role(text.strip().lower())
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise InvalidOperator(f"role: {text!r} is not one of {names}") from None


def check_password(password: str) -> str:
    """``password`` if it is acceptable; :class:`InvalidOperator` saying why not."""
    if len(password) < MIN_PASSWORD:
        raise InvalidOperator(f"password: at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise InvalidOperator(f"password: at most {MAX_PASSWORD} characters")
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: argon2 would fail on it
        raise InvalidOperator("password: must be valid Unicode") from None
    return password


def new_password() -> str:
    """A random password for a first operator (printed once)."""
    return secrets.token_urlsafe(15)


def add_operator(
    engine: Engine, email: str, role: str, password: str, *, now: datetime
) -> Operator:
    """A new operator; :class:`InvalidOperator` or ``OperatorExists`` otherwise."""
    address, kind = normalize_email(email), role_of(role)
    digest = _hasher.hash(check_password(password))
    with engine.begin() as connection:
        operator_id = store.add(connection, address, kind.value, digest, now)
    return Operator(operator_id, address, kind)


def operator_of(row: OperatorRow) -> Operator:
    """The stored row as an :class:`Operator`."""
    return Operator(row.id, row.email, Role(row.role))


def authenticate(engine: Engine, email: str, password: str) -> Operator | None:
    """The operator if ``password`` is theirs and they are not disabled, else ``None``."""
    try:
        address = normalize_email(email)
    except InvalidOperator:
        address = ""
    with engine.connect() as connection:
        row = store.by_email(connection, address) if address else None
    if len(password) > MAX_PASSWORD:
        return None
    try:
        _hasher.verify(row.password_hash if row else _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None or row.disabled_at is not None:
        return None
    if _hasher.check_needs_rehash(row.password_hash):
        with engine.begin() as connection:
            store.set_password(connection, row.id, _hasher.hash(password))
    return operator_of(row)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(
    engine: Engine, operator: Operator, *, now: datetime, lifetime: timedelta
) -> Session:
    """Sign ``operator`` in: a new session with its own CSRF token."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with engine.begin() as connection:
        store.forget_expired_sessions(connection, now)
        store.open_session(
            connection, _digest(token), operator.id, csrf, at=now, expires_at=now + lifetime
        )
    return Session(token, operator, csrf)


TOUCH_EVERY = timedelta(minutes=1)
"""A session's last use is written at most this often (not on every request)."""


def resume_session(engine: Engine, token: str, *, now: datetime, idle: timedelta) -> Session | None:
    """The live session of ``token``; ``None`` when unknown, expired, idle too long, or its
    operator was disabled (an idle session is ended)."""
    if not token or len(token) > 128:
        return None
    session_id = _digest(token)
    with engine.connect() as connection:
        row = store.live_session(connection, session_id, now)
    if row is None:
        return None
    if now - row.last_seen_at > idle:
        close_session(engine, token)
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        with engine.begin() as connection:
            store.touch_session(connection, session_id, now)
    return Session(token, operator_of(row.operator), row.csrf_token)


def close_session(engine: Engine, token: str) -> None:
    """Sign out the session of ``token`` (nothing when there is none)."""
    with engine.begin() as connection:
        store.close_session(connection, _digest(token))


class LoginThrottle:
    """At most ``limit`` failed sign-ins per email in ``period``; then that email waits.

    Kept in memory per process: it slows a guesser down, the argon2 hash does the rest.
    """

    def __init__(self, limit: int = 5, period: timedelta = timedelta(minutes=15)) -> None:
        self.limit = limit
        self.period = period
        self._failures: dict[str, deque[datetime]] = {}

    def _recent(self, email: str, now: datetime) -> deque[datetime]:
        failures = self._failures.setdefault(email, deque())
        while failures and now - failures[0] > self.period:
            failures.popleft()
        return failures

    def blocked(self, email: str, now: datetime) -> bool:
        """Whether ``email`` has failed too often lately."""
        return len(self._recent(email, now)) >= self.limit

    def failed(self, email: str, now: datetime) -> None:
        """One more failure for ``email``."""
        self._recent(email, now).append(now)
        if len(self._failures) > 10_000:  # bounded: forget the oldest emails
            self._failures.pop(next(iter(self._failures)))

    def succeeded(self, email: str) -> None:
        """A good sign-in clears the count."""
        self._failures.pop(email, None)


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` once it is acceptable (:func:`check_password`)."""
    return _hasher.hash(check_password(password))
