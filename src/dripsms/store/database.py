"""Connecting to the database: SQLite (WAL, synchronous=FULL) or PostgreSQL."""

from __future__ import annotations

import random
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

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


POOL_SIZE = 5
"""Connections a pool keeps open (SQLAlchemy's default)."""
SQLITE_OVERFLOW = 64
"""Connections a SQLite file's pool opens beyond its five kept ones (closed when returned)."""


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
        # A file's pool lets each of the web's threads (anyio's 40) read at once; writers
        # queue in write() without one (only the leader of a batch holds a connection).
        in_memory = (
            parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory"
        )
        pool = {} if in_memory else {"max_overflow": SQLITE_OVERFLOW}
        engine = create_engine(parsed, connect_args={"timeout": 10}, hide_parameters=True, **pool)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _begin_immediate)
        return engine
    # pre_ping: a connection the server dropped (a restart, a failover) is replaced before
    # use, so the pass after a lost connection gets a fresh one instead of failing again.
    # POSTGRESQL_CONNECT_ARGS: a server gone silent never hangs a pass (the URL's own win).
    connect_args = {k: v for k, v in POSTGRESQL_CONNECT_ARGS.items() if k not in parsed.query}
    return create_engine(
        parsed, pool_pre_ping=True, pool_size=POOL_SIZE, hide_parameters=True,
        connect_args=connect_args,
    )  # fmt: skip


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


T = TypeVar("T")
WRITE_ATTEMPTS = 3
"""Tries of one write transaction that SQLite refused as locked (another process held the
lock past :data:`WRITE_BUSY_MS`) before the error is raised."""
WRITE_BUSY_MS = 4000
"""How long one try waits for SQLite's lock held by another process: all tries together
stay well inside the 15 s Twilio waits for a webhook's answer."""
BUSY_MS = 10000
"""How long any other statement waits for SQLite's lock (``PRAGMA busy_timeout``)."""
WRITE_BATCH = 32
"""At most this many queued writes share one SQLite transaction (and its fsync)."""


@dataclass(eq=False)
class _Pending:
    """One caller's write, queued."""

    work: Callable[[Connection], Any]
    done: bool = False
    result: Any = None
    error: BaseException | None = None


@dataclass(eq=False)
class _Writers:
    """One SQLite database's writers in this process: a queue, and whether a leader runs."""

    turn: threading.Condition = field(default_factory=threading.Condition)
    queue: deque[_Pending] = field(default_factory=deque)
    busy: bool = False
    slots: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(POOL_SIZE)
    )
    """PostgreSQL: at most as many writes at once as the pool keeps connections. The others
    wait here, not on a connection opened for them and closed after (a server process
    started and stopped for each webhook of a burst)."""


_writers: weakref.WeakKeyDictionary[Engine, _Writers] = weakref.WeakKeyDictionary()
_writers_guard = threading.Lock()


def _writers_of(engine: Engine) -> _Writers:
    with _writers_guard:
        found = _writers.get(engine)
        if found is None:
            found = _writers[engine] = _Writers()
        return found


def _locked(error: OperationalError) -> bool:
    text = str(error.orig).lower()
    return "database is locked" in text or "database is busy" in text


def write(
    engine: Engine,
    work: Callable[[Connection], T],
    *,
    attempts: int = WRITE_ATTEMPTS,
    busy_ms: int = WRITE_BUSY_MS,
    sleep: Callable[[float], None] = time.sleep,
    jitter: Callable[[], float] = random.random,
) -> T:
    """``work`` in a committed write transaction; what it returned (or what it raised).

    On SQLite, the threads of this process queue here for the one write lock instead of
    polling SQLite's (whose busy handler sleeps up to 100 ms between tries: under load,
    writers waited on each other for seconds). Whoever finds no write running leads: it
    runs the writes queued so far (up to :data:`WRITE_BATCH`) in ONE transaction and
    commits them with one fsync; the others wait for their result. A write that raises
    gets its error; the transaction is undone and the others run again without it. A
    lock another process holds past ``busy_ms`` is tried again, at most ``attempts``
    times in all, after a short jittered pause. So ``work`` must be safe to run again: it
    re-reads what it decides on. PostgreSQL runs ``work`` alone (its rows lock one by one),
    at most :data:`POOL_SIZE` of them at once in a process.
    """
    if engine.dialect.name != "sqlite":
        with _writers_of(engine).slots, engine.begin() as connection:
            return work(connection)
    writers = _writers_of(engine)
    pending = _Pending(work)
    with writers.turn:
        writers.queue.append(pending)
        while writers.busy and not pending.done:
            writers.turn.wait()
        if pending.done:
            return cast(T, _outcome(pending))
        writers.busy = True
    # Only the leader holds a connection: the writers waiting for it hold none, so a burst
    # of webhooks neither opens nor closes connections (each open ran the pragmas).
    try:
        with engine.connect() as connection:
            while not pending.done:
                with writers.turn:
                    size = min(WRITE_BATCH, len(writers.queue))
                    batch = [writers.queue.popleft() for _ in range(size)]
                _run_batch(connection, batch, attempts, busy_ms, sleep, jitter)
                with writers.turn:
                    writers.turn.notify_all()  # their results are in
    except BaseException:
        with writers.turn:  # no connection: this write fails; a waiting writer leads next
            if not pending.done and pending in writers.queue:
                writers.queue.remove(pending)
        raise
    finally:
        with writers.turn:
            writers.busy = False
            writers.turn.notify_all()  # a waiting writer leads next
    return cast(T, _outcome(pending))


def pending_writes(engine: Engine) -> int:
    """Writes of this process queued for SQLite's lock right now (0 on PostgreSQL)."""
    writers = _writers_of(engine)
    with writers.turn:
        return len(writers.queue)


def _outcome(pending: _Pending) -> Any:
    if pending.error is not None:
        raise pending.error
    return pending.result


def _run_batch(
    connection: Connection,
    batch: list[_Pending],
    attempts: int,
    busy_ms: int,
    sleep: Callable[[float], None],
    jitter: Callable[[], float],
) -> None:
    """Run ``batch`` in one transaction; every one of them ends done (a result or an error).

    No savepoint per write (two statements more each): a write that raises undoes the
    transaction and gets its error; the others run again, without it, in a new one.
    """
    raw = connection.connection.driver_connection
    assert raw is not None
    todo = list(batch)
    locked = 0
    try:
        while todo:
            current: _Pending | None = None
            for pending in todo:
                pending.result, pending.error = None, None
            try:
                raw.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
                try:
                    with connection.begin():
                        for pending in todo:
                            current = pending
                            pending.result = pending.work(connection)
                        current = None
                finally:
                    raw.execute(f"PRAGMA busy_timeout={BUSY_MS}")
                todo = []  # committed
            except Exception as error:
                if isinstance(error, OperationalError) and _locked(error):
                    locked += 1
                    if locked >= attempts:
                        raise
                    sleep(0.01 * locked * (0.5 + jitter()))
                elif current is None or len(todo) == 1:
                    raise  # BEGIN or COMMIT failed, or the one write left: nothing holds
                else:  # its caller gets the error; the others run again without it
                    current.error = error
                    todo.remove(current)
    except BaseException as error:  # not committed: none of these writes holds
        for pending in todo:
            pending.result = None
            if pending.error is None:
                pending.error = error
    finally:
        for pending in batch:
            pending.done = True


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
