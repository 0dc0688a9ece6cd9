"""The supervised dispatcher loop: a pass that raises is logged, counted and retried.

The loop never dies of an error in a pass: ``database is locked`` (a write lock held past
``busy_timeout``), a lost PostgreSQL connection, a bug hit by one row — each is logged with
its type, counted, and the pass is tried again after a capped exponential backoff. What
it went through is kept in a :class:`DispatcherHealth` that ``/healthz`` reads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from dripsms.clock import Clock, iso_instant
from dripsms.core.backoff import backoff
from dripsms.engine.outcomes import TickReport
from dripsms.logs import mask_phones

log = logging.getLogger("dripsms.worker")


def pass_backoff(failures: int, *, base: float, cap: float, jitter: float) -> float:
    """Seconds to wait after ``failures`` failed passes in a row: ``base`` doubling, at most
    ``cap``, scaled by ``0.5 + jitter / 2`` (``jitter`` in [0, 1)) so workers spread out."""
    return backoff(failures, base=base, cap=cap, jitter=jitter)


def describe(error: BaseException) -> tuple[str, str]:
    """An error's type name and a one-line reason fit for a log (no SQL, no parameters)."""
    original = getattr(error, "orig", None)  # SQLAlchemy's wrapper: the driver's own error
    reason = str(original if original is not None else error).strip().splitlines()
    return type(error).__name__, mask_phones(reason[0][:200]) if reason else ""


UNREACHABLE_SQLSTATES = ("08", "57P")
"""PostgreSQL's connection exceptions (class 08) and operator interventions (57P01 the server
shut down, 57P03 it is starting up)."""


def connection_lost(error: BaseException) -> bool:
    """The database server could not be reached, or dropped the connection (a restart, a
    failover, a network cut): the next pass reconnects. A SQLite lock is not one."""
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    if not isinstance(error, OperationalError | InterfaceError):
        return False
    # psycopg's errors carry a SQLSTATE (None: no server answered at all); sqlite3's do not.
    if not hasattr(error.orig, "sqlstate"):
        return False
    sqlstate = getattr(error.orig, "sqlstate", None)
    return sqlstate is None or str(sqlstate).startswith(UNREACHABLE_SQLSTATES)


@dataclass(frozen=True, slots=True)
class HealthSnapshot:
    """The dispatcher's health at one moment."""

    running: bool
    started_at: datetime | None
    last_pass_at: datetime | None
    """When the last pass that did not raise ended (or a batch of a long pass did)."""
    seconds_since_pass: float | None
    """Since the last good pass (or since the start, when none has succeeded yet)."""
    consecutive_failures: int
    last_error: str | None
    last_error_at: datetime | None
    errors: dict[str, int] = field(default_factory=dict)
    """Failed passes since start, by error type."""

    def stale(self, threshold: float) -> bool:
        """No pass has succeeded for ``threshold`` seconds (or the loop is not running)."""
        if not self.running:
            return True
        return self.seconds_since_pass is not None and self.seconds_since_pass > threshold

    def as_json(self) -> dict[str, object]:
        """For ``/healthz``."""
        return {
            "running": self.running,
            "last_pass_at": iso_instant(self.last_pass_at),
            "seconds_since_pass": (
                None if self.seconds_since_pass is None else round(self.seconds_since_pass, 1)
            ),
            "consecutive_failures": self.consecutive_failures,
            "last_error": self.last_error,
            "last_error_at": iso_instant(self.last_error_at),
        }


class DispatcherHealth:
    """What the loop went through, written by its thread and read by the web app's."""

    def __init__(self, wall: Clock, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._wall = wall
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._running = False
        self._started_at: datetime | None = None
        self._since = 0.0  # monotonic: the last good pass, or the start
        self._last_pass_at: datetime | None = None
        self._failures = 0
        self._last_error: str | None = None
        self._last_error_at: datetime | None = None
        self._errors: dict[str, int] = {}
        self.ready = threading.Event()
        """Set once the loop has begun: ``dripsms run`` serves only from then on, so that no
        request ever sees a dispatcher that is merely not started yet."""

    def started(self) -> None:
        """The loop began."""
        with self._lock:
            self._running = True
            self._started_at = self._wall()
            self._since = self._monotonic()
        self.ready.set()

    def passed(self) -> None:
        """A pass (or one batch of a long pass) ended without raising."""
        with self._lock:
            self._since = self._monotonic()
            self._last_pass_at = self._wall()
            self._failures = 0

    def failed(self, error_type: str) -> None:
        """A pass raised ``error_type``."""
        with self._lock:
            self._failures += 1
            self._last_error = error_type
            self._last_error_at = self._wall()
            self._errors[error_type] = self._errors.get(error_type, 0) + 1

    def stopped(self) -> None:
        """The loop ended."""
        with self._lock:
            self._running = False

    def snapshot(self) -> HealthSnapshot:
        """A consistent copy."""
        with self._lock:
            started = self._started_at is not None
            return HealthSnapshot(
                running=self._running,
                started_at=self._started_at,
                last_pass_at=self._last_pass_at,
                seconds_since_pass=self._monotonic() - self._since if started else None,
                consecutive_failures=self._failures,
                last_error=self._last_error,
                last_error_at=self._last_error_at,
                errors=dict(self._errors),
            )


@dataclass
class Supervisor:
    """Runs ``run_pass`` every ``poll_interval`` seconds until ``stop`` is set, surviving
    any exception a pass raises."""

    run_pass: Callable[[datetime], TickReport]
    clock: Clock
    """The domain clock each pass is given."""
    health: DispatcherHealth
    stop: threading.Event
    poll_interval: float
    max_backoff: float = 60.0
    jitter: Callable[[], float] = field(default=lambda: 0.5)
    after_pass: Callable[[], None] = field(default=lambda: None)
    """Called after each good pass (the worker's heartbeat row); its errors are logged."""
    wake: threading.Event | None = None
    """Set to run the next pass at once (the virtual clock moved); whoever sets ``stop``
    sets it too, since the loop then waits on it instead of on ``stop``."""
    reconnect_backoff: float = 10.0
    """Most seconds between passes while the database cannot be reached: a worker resumes
    within about this long of the server coming back, however long it was gone."""
    on_connection_lost: Callable[[], None] = field(default=lambda: None)
    """Called when a pass lost its database connection (the worker drops its pool)."""

    def run(self) -> None:
        """The loop; returns only once ``stop`` is set."""
        self.health.started()
        try:
            while not self.stop.is_set():
                if self.wake is None:
                    self.stop.wait(self.run_once())
                    continue
                self.wake.clear()  # a move during the pass is seen by the next one at once
                delay = self.run_once()
                if not self.stop.is_set():
                    self.wake.wait(delay)
        finally:
            self.health.stopped()

    def run_once(self) -> float:
        """One supervised pass; the seconds to wait before the next one."""
        failures_before = self.health.snapshot().consecutive_failures
        try:
            report = self.run_pass(self.clock())
        except Exception as error:  # the loop outlives any pass; BaseException still stops it
            return self._failed(error)
        self.health.passed()
        try:
            self.after_pass()
        except Exception as error:  # a heartbeat lost is not a pass lost
            log.warning(
                "heartbeat not written", extra={"action": "heartbeat_failed",
                                                "error": describe(error)[0]},
            )  # fmt: skip
        if failures_before:
            log.warning(
                "dispatcher pass succeeded again",
                extra={"action": "pass_recovered", "after_failures": failures_before},
            )
        counts = {name: count for name, count in report.as_json().items() if count}
        if counts:  # only when something happened
            log.info("tick", extra={"action": "tick", **counts})
        return self.poll_interval

    def _failed(self, error: Exception) -> float:
        """Count and log a failed pass; the seconds to wait before the next one."""
        error_type, reason = describe(error)
        self.health.failed(error_type)
        failures = self.health.snapshot().consecutive_failures
        lost = connection_lost(error)
        cap = max(self.max_backoff, self.poll_interval)
        if lost:  # the server will be back: look for it often enough to resume promptly
            cap = max(min(cap, self.reconnect_backoff), self.poll_interval)
        delay = pass_backoff(failures, base=self.poll_interval, cap=cap, jitter=self.jitter())
        if lost:
            try:
                self.on_connection_lost()
            except Exception:  # dropping a pool is best effort; the next pass reconnects anyway
                log.debug("dropping the connection pool failed", exc_info=True)
        # A lost connection is an outage to watch, not a bug: WARNING (a lock or a bug: ERROR).
        log.log(
            logging.WARNING if lost else logging.ERROR,
            "dispatcher pass failed%s; retrying in %.1f s",
            " (database unreachable)" if lost else "", delay,
            extra={"action": "pass_failed", "error": error_type, "reason": reason,
                   "failures": failures, "retry_in": round(delay, 1),
                   "connection_lost": lost},
        )  # fmt: skip
        log.debug("pass failure", exc_info=True, extra={"action": "pass_failed"})
        return delay
