"""Writes under load (:func:`dripsms.store.database.write`): on SQLite the threads of one process
queue for the write lock instead of polling SQLite's; queued writes commit together,
one that fails takes no other with it; a lock another process holds is waited for, then retried."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, func, insert, select
from sqlalchemy.exc import OperationalError

from dripsms.store.database import POOL_SIZE, connect, pending_writes, upgrade, write
from dripsms.store.tables import contacts

NOW = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[Engine]:
    engine = connect(f"sqlite:///{tmp_path / 'dripsms.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def add(phone: str) -> Any:
    def work(connection: Connection) -> str:
        connection.execute(
            insert(contacts).values(phone=phone, attributes={}, created_at=NOW, updated_at=NOW)
        )
        return phone

    return work


def phones(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(connection.execute(select(contacts.c.phone)).scalars())


def test_threads_of_one_process_never_see_sqlite_locked(sqlite: Engine) -> None:
    """SQLite's lock is never polled by two threads at once: even with a 1 ms busy timeout
    and no retry, 16 threads writing at once all succeed."""
    start = threading.Barrier(16)
    failures: list[BaseException] = []

    def writer(n: int) -> None:
        start.wait()
        for i in range(15):
            try:
                write(sqlite, add(f"+1415555{n:02d}{i:02d}"), attempts=1, busy_ms=1)
            except OperationalError as error:
                failures.append(error)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(phones(sqlite)) == 16 * 15


def test_a_burst_of_writers_opens_no_connection_beyond_the_pool(engine: Engine) -> None:
    """16 threads writing at once: on SQLite only the leader of the queue holds a connection
    (a web process under a burst of webhooks used to open and close one per request, each
    open running the pragmas again); on PostgreSQL at most the pool's kept connections
    write at once (not a server process started and stopped for each webhook)."""
    opened: list[object] = []
    event.listen(engine, "connect", lambda *_: opened.append(1))
    engine.dispose()  # count from an empty pool
    start = threading.Barrier(16)

    def writer(n: int) -> None:
        start.wait()
        for i in range(10):
            write(engine, add(f"+1415556{n:02d}{i:02d}"))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(phones(engine)) == 16 * 10
    # SQLite: the leader's, and the one phones() read with at most
    assert len(opened) <= (2 if engine.dialect.name == "sqlite" else POOL_SIZE)


def test_a_writer_that_cannot_connect_gets_the_error_and_the_next_one_leads(
    sqlite: Engine,
) -> None:
    """A connection that fails fails that write alone: the queue is not left without a
    leader, and the next write commits."""
    failing = {"once": True}

    def refuse(*_: object) -> None:
        if failing.pop("once", False):
            raise OSError("disk unplugged")

    sqlite.dispose()
    event.listen(sqlite, "connect", refuse)
    with pytest.raises(OSError, match="disk unplugged"):
        write(sqlite, add("+14155550011"))
    assert pending_writes(sqlite) == 0
    assert write(sqlite, add("+14155550012")) == "+14155550012"
    assert phones(sqlite) == {"+14155550012"}


def test_queued_writes_commit_together_and_one_that_fails_takes_no_other_with_it(
    sqlite: Engine,
) -> None:
    entered, queued = threading.Event(), threading.Event()
    results: dict[str, object] = {}

    def first(connection: Connection) -> str:
        entered.set()
        # holds the lock until three more writes have queued behind it (or 10 s went by)
        for _ in range(2000):
            if pending_writes(sqlite) >= 3:
                break
            queued.wait(0.005)
        return add("+14155550001")(connection)

    def failing(connection: Connection) -> None:
        add("+14155550002")(connection)
        raise ValueError("this one fails")

    def run(name: str, work: Any) -> None:
        try:
            results[name] = write(sqlite, work)
        except ValueError as error:
            results[name] = error

    commits: list[object] = []
    event.listen(sqlite, "commit", commits.append)
    leader = threading.Thread(target=run, args=("first", first))
    leader.start()
    assert entered.wait(10)  # the leader holds the lock
    others = [
        threading.Thread(target=run, args=("failing", failing)),
        threading.Thread(target=run, args=("second", add("+14155550003"))),
        threading.Thread(target=run, args=("third", add("+14155550004"))),
    ]
    for thread in others:
        thread.start()
    for thread in [leader, *others]:
        thread.join(timeout=30)
    assert isinstance(results["failing"], ValueError)
    assert (results["first"], results["second"], results["third"]) == (
        "+14155550001",
        "+14155550003",
        "+14155550004",
    )
    assert phones(sqlite) == {"+14155550001", "+14155550003", "+14155550004"}
    assert len(commits) == 2  # the first write's, then one for the three queued behind it


def test_a_lock_held_by_another_process_is_waited_for_then_retried(
    sqlite: Engine, tmp_path: Path
) -> None:
    other = sqlite3.connect(tmp_path / "dripsms.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    pauses: list[float] = []

    def pause(seconds: float) -> None:
        pauses.append(seconds)
        other.execute("COMMIT")  # ... and lets go while we wait to try again

    assert write(sqlite, add("+14155550001"), busy_ms=1, sleep=pause, jitter=lambda: 0.5) == (
        "+14155550001"
    )
    assert pauses == [0.01]
    assert phones(sqlite) == {"+14155550001"}
    other.close()


def test_a_lock_held_past_every_try_is_an_error_not_a_wait_without_end(
    sqlite: Engine, tmp_path: Path
) -> None:
    other = sqlite3.connect(tmp_path / "dripsms.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    pauses: list[float] = []
    with pytest.raises(OperationalError, match="database is locked"):
        write(sqlite, add("+14155550001"), attempts=3, busy_ms=1, sleep=pauses.append)
    assert len(pauses) == 2
    other.execute("ROLLBACK")
    other.close()
    with sqlite.connect() as connection:
        assert connection.execute(select(func.count()).select_from(contacts)).scalar_one() == 0
