"""Connecting to the database: SQLite (WAL, synchronous=FULL) or PostgreSQL."""

from __future__ import annotations

import random
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from dripsms.errors import Misconfigured

MIGRATIONS = Path(__file__).parent / "migrations"
MAX_ID = 2**31 - 1
"""Ids are INTEGER columns: 32 bits on PostgreSQL, which refuses a larger number outright
(so a larger id names nothing)."""


class DatabaseNotReady(Misconfigured):
    """The database is missing migrations; ``dripsms db upgrade`` fixes it."""


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    # pysqlite defers BEGIN to the first write; we issue BEGIN IMMEDIATE ourselves so a
    # transaction holds the write lock from its start and never fails to upgrade a lock.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: a committed handoff survives a power cut (the exactly-once record).
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_MS}")
    cursor.close()


def connect(url: str) -> Engine:
    """An engine for ``url``: ``sqlite:///path.db`` or ``postgresql+psycopg://...``."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        # hide_parameters: an error's text never carries a phone number or a body.
        engine = create_engine(parsed, connect_args={"timeout": 10}, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _begin_immediate)
        return engine
    # pre_ping: a connection the server dropped (a restart, a failover) is replaced before
    # use, so the pass after a lost connection gets a fresh one instead of failing again.
    return create_engine(parsed, pool_pre_ping=True, hide_parameters=True)


READ_ONLY = {"dripsms_read_only": True}
"""Execution options of a connection that only reads: on SQLite it takes no write lock,
so it answers while another process holds one (``/healthz`` during a long import)."""


def _begin_immediate(connection: Connection) -> None:
    if not connection.get_execution_options().get("dripsms_read_only"):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


T = TypeVar("T")
WRITE_ATTEMPTS = 3
"""Tries of one write transaction that SQLite refused as locked (another process held the
lock past :data:`WRITE_BUSY_MS`) before the error is raised."""
WRITE_BUSY_MS = 4000
"""How long one try waits for SQLite's lock held by another process: all tries together
stay well inside the 15 s Twilio waits for a webhook's answer."""
BUSY_MS = 10000
"""How long any other statement waits for SQLite's lock (``PRAGMA busy_timeout``)."""
_writers: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_writers_guard = threading.Lock()


def _writer_lock(engine: Engine) -> threading.Lock:
    with _writers_guard:
        lock = _writers.get(engine)
        if lock is None:
            lock = _writers[engine] = threading.Lock()
        return lock


def _locked(error: OperationalError) -> bool:
    text = str(error.orig).lower()
    return "database is locked" in text or "database is busy" in text


def write(
    engine: Engine,
    work: Callable[[Connection], T],
    *,
    attempts: int = WRITE_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
    jitter: Callable[[], float] = random.random,
) -> T:
    """``work`` in one write transaction, committed; what it returned.

    On SQLite the threads of this process queue for the one write lock here, first come
    first served, instead of polling SQLite's lock (its busy handler sleeps up to 100 ms
    between tries, so under load writers wait on each other for seconds). A transaction
    another process kept locked past ``busy_timeout`` is run again, at most ``attempts``
    times with a short jittered pause: ``work`` must be safe to run again (it re-reads
    what it decides on). PostgreSQL runs ``work`` as it comes: its rows lock one by one.
    """
    if engine.dialect.name != "sqlite":
        with engine.begin() as connection:
            return work(connection)
    lock = _writer_lock(engine)
    for attempt in range(1, attempts + 1):
        try:
            with engine.connect() as connection, lock:
                raw = connection.connection.driver_connection
                assert raw is not None
                raw.execute(f"PRAGMA busy_timeout={WRITE_BUSY_MS}")
                try:
                    with connection.begin():
                        return work(connection)
                finally:
                    raw.execute(f"PRAGMA busy_timeout={BUSY_MS}")
        except OperationalError as error:
            if attempt == attempts or not _locked(error):
                raise
        sleep(0.01 * attempt * (0.5 + jitter()))
    raise AssertionError("unreachable")  # pragma: no cover


def _alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    """The newest migration's revision id."""
    script = ScriptDirectory(str(MIGRATIONS))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    with engine.connect() as connection:
        connection = connection.execution_options(**READ_ONLY)
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision``."""
    command.upgrade(_alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Undo migrations down to ``revision`` (``base``: an empty database)."""
    command.downgrade(_alembic_config(engine), revision)


def ensure_ready(engine: Engine) -> None:
    """Refuse to run on a database that is not at the newest migration."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        where = engine.url.render_as_string(hide_password=True)
        state = "has no dripsms tables" if current is None else f"is at revision {current}"
        raise DatabaseNotReady(
            f"the database {where} {state}, not {head}; run `dripsms db upgrade` first"
        )
