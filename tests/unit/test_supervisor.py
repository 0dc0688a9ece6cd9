"""The supervised dispatcher loop: a failing pass is logged, counted and retried; health
goes stale and comes back; backoff is capped."""

from __future__ import annotations

import logging
import socket
import sqlite3
import threading
import time
from datetime import UTC, datetime

import psycopg
import pytest
from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError, ProgrammingError

from dripsms.engine.outcomes import TickReport
from dripsms.engine.supervisor import (
    DispatcherHealth,
    Supervisor,
    connection_lost,
    describe,
    pass_backoff,
)
from dripsms.store.database import connect

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Ticker:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.seconds = 1000.0

    def __call__(self) -> float:
        return self.seconds


def locked() -> OperationalError:
    return OperationalError("BEGIN IMMEDIATE", {}, sqlite3.OperationalError("database is locked"))


class Passes:
    """A pass that raises the errors it was given, in order, then succeeds."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls: list[datetime] = []

    def __call__(self, now: datetime) -> TickReport:
        self.calls.append(now)
        if self.errors:
            raise self.errors.pop(0)
        return TickReport(scheduled=1)


def supervisor(run_pass: Passes, ticker: Ticker, **options: object) -> Supervisor:
    health = DispatcherHealth(lambda: T0, ticker)
    return Supervisor(
        run_pass, lambda: T0, health, threading.Event(), poll_interval=5.0,
        jitter=lambda: 0.0, **options,  # type: ignore[arg-type]
    )  # fmt: skip


def test_a_locked_database_is_retried_counted_and_health_recovers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ticker = Ticker()
    passes = Passes(locked(), locked(), locked())
    loop = supervisor(passes, ticker)
    loop.health.started()
    stale_after = 30.0
    waits = []
    with caplog.at_level(logging.INFO, "dripsms.worker"):
        for _ in range(3):
            waits.append(loop.run_once())
            ticker.seconds += 20
        snapshot = loop.health.snapshot()
        assert snapshot.consecutive_failures == 3
        assert snapshot.errors == {"OperationalError": 3}
        assert snapshot.last_error == "OperationalError"
        assert snapshot.stale(stale_after)  # 60 s without a good pass
        assert snapshot.last_pass_at is None

        assert loop.run_once() == 5.0  # the lock is gone: back to the poll interval
    healthy = loop.health.snapshot()
    assert not healthy.stale(stale_after)
    assert healthy.consecutive_failures == 0
    assert healthy.errors == {"OperationalError": 3}  # a counter: it never goes down
    assert healthy.last_pass_at == T0
    assert len(passes.calls) == 4
    assert waits == [2.5, 5.0, 10.0]  # doubling from the poll interval (jitter 0: half)
    failed = [r for r in caplog.records if getattr(r, "action", None) == "pass_failed"]
    assert len(failed) == 3
    assert failed[0].levelno == logging.ERROR
    assert (failed[0].error, failed[0].reason) == ("OperationalError", "database is locked")  # type: ignore[attr-defined]
    assert [r.action for r in caplog.records if r.levelno == logging.WARNING] == [  # type: ignore[attr-defined]
        "pass_recovered"
    ]
    [summary] = [r for r in caplog.records if getattr(r, "action", None) == "tick"]
    assert summary.scheduled == 1  # type: ignore[attr-defined]


def test_any_exception_is_survived_but_base_exceptions_stop_the_loop() -> None:
    ticker = Ticker()
    loop = supervisor(Passes(ValueError("a bug hit by one row")), ticker)
    assert loop.run_once() == 2.5
    assert loop.health.snapshot().errors == {"ValueError": 1}
    with pytest.raises(KeyboardInterrupt):
        supervisor(Passes(KeyboardInterrupt()), ticker).run_once()  # type: ignore[arg-type]


def test_the_loop_runs_until_stopped_and_says_when_it_is_not_running() -> None:
    ticker = Ticker()
    passes = Passes(locked())
    loop = supervisor(passes, ticker)
    loop.poll_interval = 0.001

    def stop_after_three(now: datetime) -> TickReport:
        if len(passes.calls) == 2:  # the third pass asks to stop
            loop.stop.set()
        return passes(now)

    loop.run_pass = stop_after_three
    loop.run()
    assert len(passes.calls) == 3
    snapshot = loop.health.snapshot()
    assert not snapshot.running
    assert snapshot.stale(1e9)  # a loop that ended is never healthy


def test_backoff_doubles_from_the_base_and_is_capped() -> None:
    delays = [pass_backoff(n, base=5, cap=60, jitter=0.999) for n in range(1, 10)]
    assert delays[:4] == pytest.approx([5, 10, 20, 40], rel=1e-3)
    assert max(delays) <= 60
    assert delays[-1] == pytest.approx(60, rel=1e-3)
    assert pass_backoff(10_000, base=5, cap=60, jitter=0.0) == 30  # no overflow, jitter halves
    assert pass_backoff(1, base=5, cap=60, jitter=0.0) == 2.5


def test_a_long_failure_streak_waits_at_most_the_cap() -> None:
    ticker = Ticker()
    loop = supervisor(Passes(*[locked() for _ in range(20)]), ticker, max_backoff=60.0)
    waits = [loop.run_once() for _ in range(20)]
    assert max(waits) == 30.0  # the cap, halved by jitter 0


def test_describe_gives_the_drivers_reason_without_sql_or_phones() -> None:
    error = OperationalError(
        "INSERT INTO contacts (phone) VALUES (?)", ("+14155550123",),
        sqlite3.OperationalError("database is locked"),
    )  # fmt: skip
    assert describe(error) == ("OperationalError", "database is locked")
    assert describe(ValueError("bad +14155550123\nmore")) == ("ValueError", "bad +1415*****23")


def test_the_heartbeat_follows_each_good_pass_and_its_failure_is_not_a_pass_failure() -> None:
    ticker = Ticker()
    beats: list[int] = []

    def beat() -> None:
        beats.append(1)
        if len(beats) == 2:
            raise locked()

    loop = supervisor(Passes(locked()), ticker, after_pass=beat)
    waits = [loop.run_once() for _ in range(4)]
    assert len(beats) == 3  # not after the failed pass
    assert waits == [2.5, 5.0, 5.0, 5.0]
    assert loop.health.snapshot().errors == {"OperationalError": 1}


def test_one_backoff_doubles_caps_and_spreads() -> None:
    from dripsms.core.backoff import backoff

    assert [backoff(n, base=2.0, cap=600.0, jitter=1.0) for n in (1, 2, 3)] == [2.0, 4.0, 8.0]
    assert backoff(40, base=2.0, cap=600.0, jitter=1.0) == 600.0  # capped, no overflow
    assert backoff(1, base=2.0, cap=600.0, jitter=0.0) == 1.0  # half of it at least


def unreachable_server(password: str) -> Engine:
    """A PostgreSQL URL where nothing listens: connecting fails as it does while the server
    restarts (psycopg's real error, no SQLSTATE)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return connect(f"postgresql+psycopg://dripsms:{password}@127.0.0.1:{port}/postgres")


def test_a_lost_database_is_a_warning_without_the_password_and_drops_the_pool(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = unreachable_server("pw-not-in-logs")
    dropped: list[bool] = []

    def run_pass(now: datetime) -> TickReport:
        with engine.connect():
            return TickReport()

    loop = supervisor(Passes(), Ticker(), on_connection_lost=lambda: dropped.append(True))
    loop.run_pass = run_pass
    with caplog.at_level(logging.DEBUG, "dripsms.worker"):
        loop.run_once()
    engine.dispose()
    [failed, *_] = [r for r in caplog.records if getattr(r, "action", None) == "pass_failed"]
    assert failed.levelno == logging.WARNING
    assert failed.connection_lost is True  # type: ignore[attr-defined]
    assert "Connection refused" in failed.reason  # type: ignore[attr-defined]
    assert dropped == [True]
    assert "pw-not-in-logs" not in caplog.text
    assert all("pw-not-in-logs" not in str(r.exc_info) for r in caplog.records)


def test_while_the_database_is_gone_passes_are_retried_often_enough_to_resume_promptly() -> None:
    def lost() -> OperationalError:
        return OperationalError("SELECT 1", {}, psycopg.OperationalError("connection failed"))

    loop = supervisor(Passes(*[lost() for _ in range(20)]), Ticker(), max_backoff=60.0)
    loop.jitter = lambda: 0.999
    waits = [loop.run_once() for _ in range(20)]
    assert max(waits) <= loop.reconnect_backoff == 10.0  # not the 60 s of other failures
    assert loop.health.snapshot().consecutive_failures == 20


def test_only_connection_errors_count_as_a_lost_database() -> None:
    assert connection_lost(OperationalError("x", {}, psycopg.OperationalError("refused")))
    shutdown = psycopg.errors.AdminShutdown("terminating connection due to administrator command")
    assert connection_lost(OperationalError("x", {}, shutdown))
    assert not connection_lost(locked())  # SQLite's lock: a failure to look into, not an outage
    assert not connection_lost(ValueError("a bug"))
    syntax = psycopg.errors.SyntaxError("syntax error")
    assert not connection_lost(ProgrammingError("x", {}, syntax))


def test_a_postgresql_server_gone_silent_fails_the_connection_instead_of_hanging() -> None:
    """A server that accepts TCP and never answers (a half-dead host): the connection attempt
    gives up after connect_timeout (10 s unless the URL says; 1 s here), keepalives on."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes the handshake; nobody ever answers
        url = f"postgresql+psycopg://dripsms@127.0.0.1:{silent.getsockname()[1]}/postgres"
        defaults, own = connect(url), connect(url + "?connect_timeout=1")
        used: dict[str, dict[str, object]] = {}
        for name, engine in (("defaults", defaults), ("own", own)):

            def record(dialect: object, rec: object, cargs: object, cparams: dict[str, object],
                       name: str = name) -> None:  # fmt: skip
                used[name] = dict(cparams)
                cparams["connect_timeout"] = 1  # the test waits 1 s, not 10

            event.listen(engine, "do_connect", record)
        for engine in (defaults, own):
            started = time.monotonic()
            with pytest.raises(OperationalError) as failed:
                engine.connect()
            assert time.monotonic() - started < 10
            assert connection_lost(failed.value)
            engine.dispose()
    assert used["defaults"]["connect_timeout"] == 10
    assert used["defaults"]["keepalives"] == 1 and used["defaults"]["keepalives_idle"] == 30
    assert used["own"]["connect_timeout"] == "1"  # the URL's own value wins
    assert used["own"]["keepalives"] == 1
