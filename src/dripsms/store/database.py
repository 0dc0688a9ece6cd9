"""Connecting to the database: SQLite (WAL, synchronous=FULL) or PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

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
    cursor.execute("PRAGMA busy_timeout=10000")
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
    # POSTGRESQL_CONNECT_ARGS: a server gone silent never hangs a pass (the URL's own win).
    connect_args = {k: v for k, v in POSTGRESQL_CONNECT_ARGS.items() if k not in parsed.query}
    return create_engine(
        parsed, pool_pre_ping=True, hide_parameters=True, connect_args=connect_args
    )


POSTGRESQL_CONNECT_ARGS = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}
"""libpq options of every PostgreSQL connection, unless the URL sets them: a server that
vanished without closing its connections (a failover, a cut network) fails a connection
attempt after 10 s, and a connection in use within about a minute (TCP keepalives), so the
pass fails, the supervisor retries, and the worker resumes once the server is back,
instead of waiting on a dead socket for the kernel's two-hour default."""


READ_ONLY = {"dripsms_read_only": True}
"""Execution options of a connection that only reads: on SQLite it takes no write lock,
so it answers while another process holds one (``/healthz`` during a long import)."""


def _begin_immediate(connection: Connection) -> None:
    if not connection.get_execution_options().get("dripsms_read_only"):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


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
