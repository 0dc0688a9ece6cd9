"""Benchmark: an idle dispatcher tick, with a million far-future messages and with none.

Builds migrated SQLite databases (WAL, ``synchronous=FULL``, as dripsms configures them):
one **empty**, one with ``--n`` messages of the example sequence (``postop``, 5 steps per
enrollment) in state ``planned`` and due a year ahead (written fast with raw SQL, with
their contacts, enrollments and sequence version), and one copy of the latter where
``--scheduled`` of those messages are held at Twilio (state ``scheduled``, due within the
week). It times :meth:`dripsms.engine.dispatcher.Dispatcher.tick` when nothing is due on
each, interleaved, and reports the median and p95 and the ratios to the empty database
(the goal: 1x). The dispatcher is wired as ``dripsms run`` wires it (``Runtime``) and
talks to the sandbox over HTTP; a counting wrapper around its provider and the sandbox's
own records show that no call was made (and a control tick with one due contact shows
that calls would be seen).

It then breaks a tick down into its SQL statements (driver time of each, traced with
SQLAlchemy's cursor events), shows each statement's ``EXPLAIN QUERY PLAN``, and times the
same statements with plain ``sqlite3``, next to the limit: the index-only "anything due?"
query. Last, on the database with scheduled messages, ``scheduled_count`` (maintained by
triggers, which an idle tick does not even run) against the ``count(*)`` it replaces.

    .venv/bin/python bench/tick_bench.py [--n 1000000] [--scheduled 450000] [--ticks 200]
        [--write]

Prints a Markdown section; ``--write`` replaces the "## Idle tick" section of
``bench/results.md`` and leaves every other section alone.
"""

from __future__ import annotations

import argparse
import functools
import gc
import logging
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

from dripsms.catalog import load_file
from dripsms.clock import system_clock
from dripsms.core.planning import EnrollmentRequest
from dripsms.core.sequence.loader import LoadedSequence
from dripsms.engine.dispatcher import Dispatcher
from dripsms.provider.base import Handoff, Provider, ProviderMessage
from dripsms.runtime import Runtime
from dripsms.sandbox import Sandbox, SandboxServer
from dripsms.settings import Settings
from dripsms.store.database import connect, upgrade
from dripsms.store.outbox import scheduled_count
from reporting import RESULTS, cores, cpu_model, fmt, table, write_section

ROOT = Path(__file__).resolve().parent.parent
SEQUENCE_FILE = Path("sequences/postop.yaml")
SECTION = "## Idle tick"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # 07:00 in New York: the first tick's clock
TICK_EVERY = timedelta(seconds=5)  # the default poll_interval: each tick's clock moves on
FAR = datetime(2027, 12, 1, 14, 0)  # planned messages are due from here (naive UTC) ...
FAR_SPREAD = 30 * 86_400  # ... spread over 30 days (seconds)
WEEK = 7 * 86_400 - 3_600  # scheduled messages: due within the week (seconds after NOW)
WARMUP = 20
STAMP = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy's DateTime stores instants in SQLite
DUE_QUERY = (
    "SELECT id FROM messages WHERE state = 'planned' AND due_at <= ? ORDER BY due_at LIMIT 100"
)


# -- the databases ------------------------------------------------------------------------


def migrated(path: Path) -> str:
    url = f"sqlite:///{path}"
    engine = connect(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    return url


def stamp(value: datetime) -> str:
    return value.astimezone(UTC).replace(tzinfo=None).strftime(STAMP)


def populate(path: Path, loaded: LoadedSequence, n: int) -> float:
    """Write the sequence version and, for ``n`` messages, their contacts and enrollments.

    Raw SQL (recursive CTEs), ``synchronous=OFF`` for this setup only; the indexes that
    can be dropped are dropped first and built again from their own ``CREATE INDEX``.
    Message i belongs to enrollment i // 5 + 1 (one per contact) and is step i % 5.
    """
    steps = [step.id for step in loaded.sequence.steps]
    per = len(steps)
    enrollments = -(-n // per)
    now = stamp(NOW)
    attributes = '{"first_name": "Ann", "surgery_date": "2027-11-30"}'
    step_case = " ".join(f"WHEN {i} THEN '{s}'" for i, s in enumerate(steps))
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA synchronous=OFF")
        start = time.perf_counter()
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(
            "INSERT INTO sequence_versions (id, key, digest, text, loaded_at) "
            "VALUES (1, ?, ?, ?, ?)",
            (loaded.sequence.key, loaded.digest, loaded.text, now),
        )
        if n == 0:
            connection.execute("COMMIT")
            return time.perf_counter() - start
        indexes = connection.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            "AND tbl_name IN ('contacts', 'enrollments', 'messages')"
        ).fetchall()
        for name, _ in indexes:
            connection.execute(f"DROP INDEX {name}")
        series = "WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < ?) "
        connection.execute(
            series + "INSERT INTO contacts (id, phone, timezone, attributes, created_at, "
            "updated_at) SELECT x, printf('+1415%07d', x), 'America/New_York', ?, ?, ? FROM s",
            (enrollments, attributes, now, now),
        )
        connection.execute(
            series + "INSERT INTO enrollments (id, contact_id, sequence_version_id, "
            "sequence_key, external_id, state, timezone, anchor, attributes, enrolled_at) "
            "SELECT x, x, 1, ?, '', 'active', 'America/New_York', '2027-11-30', ?, ? FROM s",
            (enrollments, loaded.sequence.key, attributes, now),
        )
        # Due times scattered over 30 days (7919 is prime): the index sees them out of order.
        connection.execute(
            series + "INSERT INTO messages (id, enrollment_id, step_id, state, due_at, "
            f"updated_at) SELECT x, (x - 1) / {per} + 1, CASE (x - 1) % {per} {step_case} END, "
            "'planned', datetime(?, printf('+%d seconds', (x * 7919) % ?)) || '.000000', ? "
            "FROM s",
            (n, FAR.strftime("%Y-%m-%d %H:%M:%S"), FAR_SPREAD, now),
        )
        for _, sql in indexes:
            connection.execute(sql)
        connection.execute("COMMIT")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return time.perf_counter() - start
    finally:
        connection.close()


def hand_to_twilio(path: Path, count: int) -> float:
    """Make the first ``count`` messages ``scheduled`` (a SID, SendAt within the week)."""
    now = NOW.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S")
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA synchronous=OFF")
        start = time.perf_counter()
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(
            "UPDATE messages SET state = 'scheduled', sid = printf('SM%032x', id), "
            "due_at = datetime(?, printf('+%d seconds', 3600 + (id * 7919) % ?)) || '.000000', "
            "send_at = datetime(?, printf('+%d seconds', 3600 + (id * 7919) % ?)) || '.000000', "
            "attempts = 1 WHERE id <= ?",
            (now, WEEK, now, WEEK, count),
        )
        connection.execute("COMMIT")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return time.perf_counter() - start
    finally:
        connection.close()


def counts(path: Path) -> dict[str, int]:
    connection = sqlite3.connect(path)
    try:
        rows = connection.execute("SELECT state, count(*) FROM messages GROUP BY state")
        return dict(rows.fetchall())
    finally:
        connection.close()


# -- the dispatcher -----------------------------------------------------------------------


class CountingProvider:
    """The dispatcher's provider, counting every call (each one is an HTTP request)."""

    def __init__(self, inner: Provider) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    def create(self, **kwargs: Any) -> Handoff:
        self.calls["create"] += 1
        return self.inner.create(**kwargs)

    def cancel(self, sid: str) -> str:
        self.calls["cancel"] += 1
        return self.inner.cancel(sid)

    def fetch(self, sid: str) -> ProviderMessage:
        self.calls["fetch"] += 1
        return self.inner.fetch(sid)

    def recent(self, *, to: str, limit: int = 50) -> list[ProviderMessage]:
        self.calls["recent"] += 1
        return self.inner.recent(to=to, limit=limit)


@dataclass
class World:
    """One database with its runtime and dispatcher."""

    name: str
    path: Path
    runtime: Runtime
    dispatcher: Dispatcher
    provider: CountingProvider
    ticks: list[float] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)
    """Ticks that did something (they must not: nothing is due)."""

    @property
    def engine(self) -> Engine:
        return self.runtime.engine


def world(name: str, path: Path, sequences: Path, base_url: str) -> World:
    settings = Settings(database_url=f"sqlite:///{path}", sequences_dir=sequences)
    runtime = Runtime(settings, lambda: NOW, sandbox_url=base_url)
    runtime.ensure_ready()
    dispatcher = runtime.dispatcher()
    provider = CountingProvider(dispatcher.provider)
    dispatcher.provider = provider
    return World(name, path, runtime, dispatcher, provider)


def tick(w: World, at: datetime) -> float:
    start = time.perf_counter()
    report = w.dispatcher.tick(at)
    elapsed = time.perf_counter() - start
    done = {k: v for k, v in report.as_json().items() if v}
    if done:
        w.busy.append(str(done))
    return elapsed


def at(i: int) -> datetime:
    return NOW + i * TICK_EVERY


def time_ticks(worlds: list[World], ticks: int, *, warmup: int = WARMUP, first: int = 0) -> None:
    """Warm up, then ``ticks`` rounds, one tick on each database per round, order rotating."""
    for i in range(warmup):
        for w in worlds:
            tick(w, at(first + i))
    gc.collect()
    for i in range(ticks):
        shift = i % len(worlds)
        for w in worlds[shift:] + worlds[:shift]:
            w.ticks.append(tick(w, at(first + warmup + i)))


# -- the statements of a tick ---------------------------------------------------------------

CANCEL = "cancel requests (`cancel_requests`)"
WINDOWS = "reply windows run out (`unclosed`: the page's ids)"
POSITION = "completion-scan position (`load_position`)"
NOTIFY = "notify webhooks due (`claim_due_notifications`)"
OVERDUE = "status reconciliation (`claim_overdue`)"
BLOCKED = "blocked to release (`blocked_due`)"
ANY_DUE = '"anything due?" (`anything_due`: planned due, or a lease run out)'
COUNT = "`scheduled_count` (maintained: `store.held`)"
FOLD = "the held count's log: long enough to fold? (`fold_when_long`)"
STALE = "claim: leases run out (`claim_due`, stale)"
DUE_NOW = "claim: due before the earliest SendAt"
DUE_WINDOW = "claim: due within the 7-day horizon"
BEGIN = "`BEGIN IMMEDIATE` (the cancel read's too: a connection's `begin` event)"
COMMIT = "`COMMIT`"
ROLLBACK = "`ROLLBACK` (ends the cancel read; the pool's reset on return)"
QUERIES = (
    CANCEL, WINDOWS, POSITION, NOTIFY, OVERDUE, BLOCKED, ANY_DUE, FOLD, COUNT, STALE,
    DUE_NOW, DUE_WINDOW,
)  # fmt: skip
STATEMENTS = (*QUERIES, BEGIN, COMMIT, ROLLBACK)
COUNTED = (
    "SELECT count(*) FROM messages WHERE (state = 'scheduled' AND due_at > ?) "
    "OR state = 'handing_off'"
)
"""What ``scheduled_count`` ran before the count was maintained (timed by hand)."""


def classify(statement: str, seen: Counter[str]) -> str:
    if statement.startswith("BEGIN"):
        return BEGIN
    if "cancel_requested_at IS NOT NULL" in statement:
        return CANCEL
    if "min(message_counts.id)" in statement:
        return FOLD
    if "message_counts" in statement:
        return COUNT
    if statement.startswith("SELECT (SELECT messages.id"):
        return ANY_DUE
    if "no_reply_handled_at IS NULL" in statement:
        return WINDOWS
    if "FROM cursors" in statement:
        return POSITION
    if "FROM notifications" in statement:
        return NOTIFY
    if "messages.attempt_started_at, messages.updated_at" in statement:
        return OVERDUE
    if statement.startswith("UPDATE") and "lease_expires_at <" in statement:
        return STALE
    if statement.startswith("UPDATE") and "next_attempt_at" in statement:
        seen["due"] += 1
        return DUE_NOW if seen["due"] % 2 == 1 else DUE_WINDOW
    if "JOIN sequence_versions" in statement and statement.startswith("SELECT"):
        return BLOCKED
    return f"other: {statement.split(None, 1)[0]}"


@dataclass
class Trace:
    """Driver time of every statement of traced ticks, and one sample of each statement."""

    seconds: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    sample: dict[str, tuple[str, Any]] = field(default_factory=dict)
    per_tick: Counter[str] = field(default_factory=Counter)


@contextmanager
def traced(engine: Engine, trace: Trace) -> Iterator[Callable[[], None]]:
    """Time each cursor execute (and commit/rollback) of ``engine`` while inside."""
    started: list[float] = []
    seen: Counter[str] = Counter()

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        started.append(time.perf_counter())

    def after(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        elapsed = time.perf_counter() - started.pop()
        label = classify(statement, seen)
        trace.seconds[label].append(elapsed)
        trace.sample.setdefault(label, (statement, parameters))

    dialect: Any = engine.dialect

    def timed(label: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                trace.seconds[label].append(time.perf_counter() - start)

        return wrapper

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    dialect.do_commit = timed(COMMIT, dialect.do_commit)
    dialect.do_rollback = timed(ROLLBACK, dialect.do_rollback)
    try:
        yield seen.clear
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
        del dialect.do_commit
        del dialect.do_rollback


def trace_ticks(w: World, ticks: int, first: int) -> Trace:
    trace = Trace()
    with traced(w.engine, trace) as new_tick:
        for i in range(ticks):
            new_tick()
            tick(w, at(first + i))
    for label, values in trace.seconds.items():
        trace.per_tick[label] = round(len(values) / ticks)
    return trace


def plan(path: Path, statement: str, parameters: Any) -> str:
    connection = sqlite3.connect(path)
    try:
        rows = connection.execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
    finally:
        connection.close()
    return "; ".join(row[3] for row in rows)


def raw_median(path: Path, statement: str, parameters: Any, reps: int) -> float:
    """Median time of the statement with plain ``sqlite3`` (an UPDATE is rolled back)."""
    connection = sqlite3.connect(path, isolation_level=None)
    times = []
    try:
        connection.execute("PRAGMA synchronous=FULL")
        write = statement.startswith("UPDATE")
        for _ in range(reps + 3):
            if write:
                connection.execute("BEGIN IMMEDIATE")
            start = time.perf_counter()
            connection.execute(statement, parameters).fetchall()
            times.append(time.perf_counter() - start)
            if write:
                connection.execute("ROLLBACK")
    finally:
        connection.close()
    return statistics.median(times[3:])


# -- the report ---------------------------------------------------------------------------


def us(seconds: float) -> str:
    """Microseconds, with fewer digits as they grow."""
    value = seconds * 1e6
    return fmt(value, 1) if value < 1000 else fmt(value, 0)


def human(seconds: float) -> str:
    """µs, ms or s, for prose."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:,.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:,.1f} ms"
    return f"{seconds:,.2f} s"


def p95(values: Sequence[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def control(w: World, sandbox: Sandbox) -> str:
    """One contact due soon, one tick: the provider and the sandbox must see the creates."""
    before = sum(w.provider.calls.values())
    surgery = (NOW - timedelta(days=1)).date()  # day 1 at 09:00 New York: in two hours
    request = EnrollmentRequest(
        "postop", "+14157821033", "America/New_York",
        {"first_name": "Ann", "surgery_date": surgery.isoformat()},
    )  # fmt: skip
    w.runtime.enroller.enroll(request, now=NOW)
    sandbox.set_now(NOW)
    report = w.dispatcher.tick(NOW)
    calls = sum(w.provider.calls.values()) - before
    return (
        f"Control: after the timing, one contact enrolled in the empty database (day 1 due "
        f"in two hours, day 7 within the week) and one tick at the same clock: "
        f"{report.handed_off} handed off, {calls} provider call(s) counted, the sandbox holds "
        f"{len(sandbox.messages())} message(s) from {sandbox.creates} create(s)."
    )


@dataclass(frozen=True, slots=True)
class Setup:
    n: int
    scheduled: int
    populate_seconds: float
    states: dict[str, dict[str, int]]
    load: float


@dataclass
class Measured:
    """One database's ticks, and its statements: traced, planned and timed by hand."""

    world: World
    trace: Trace
    traced_ticks: int
    raw: dict[str, float]
    reps: int
    due: float
    plans: dict[str, str]

    @property
    def median(self) -> float:
        return statistics.median(self.world.ticks)

    @property
    def p95(self) -> float:
        return p95(self.world.ticks)

    def statement(self, label: str) -> float:
        values = self.trace.seconds.get(label, [])
        return statistics.median(values) if values else 0.0

    @property
    def statements(self) -> float:
        """The median driver time of all of a tick's statements, summed."""
        return sum(self.statement(label) * self.trace.per_tick[label] for label in STATEMENTS)


def measure_statements(w: World, traced_ticks: int, first: int, reps: int) -> Measured:
    trace = trace_ticks(w, traced_ticks, first)
    samples = {label: trace.sample[label] for label in QUERIES if label in trace.sample}
    return Measured(
        world=w,
        trace=trace,
        traced_ticks=traced_ticks,
        raw={label: raw_median(w.path, *sample, reps) for label, sample in samples.items()},
        reps=reps,
        due=raw_median(w.path, DUE_QUERY, (stamp(NOW + timedelta(days=7)),), reps),
        plans={label: plan(w.path, *sample) for label, sample in samples.items()},
    )


@dataclass(frozen=True, slots=True)
class Count:
    """``scheduled_count`` on the busy database: maintained (through dripsms, in a write
    transaction as the claim runs it) against the ``count(*)`` it replaces (by hand)."""

    value: int
    maintained: float
    counted: float
    counted_value: int


def time_count(w: World, reps: int) -> Count:
    times = []
    value = 0
    for _ in range(reps + 3):
        with w.engine.begin() as connection:
            start = time.perf_counter()
            value = scheduled_count(connection, NOW)
            times.append(time.perf_counter() - start)
    parameters = (stamp(NOW),)
    connection = sqlite3.connect(w.path)
    try:
        counted_value = connection.execute(COUNTED, parameters).fetchone()[0]
    finally:
        connection.close()
    return Count(
        value, statistics.median(times[3:]), raw_median(w.path, COUNTED, parameters, reps),
        counted_value,
    )  # fmt: skip


def run(n: int, scheduled: int, ticks: int, query_reps: int) -> list[str]:
    started = time.perf_counter()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    logging.getLogger("dripsms").setLevel(logging.ERROR)  # "using the sandbox" warnings
    loaded = load_file(ROOT / SEQUENCE_FILE)
    scheduled = min(scheduled, n)
    with tempfile.TemporaryDirectory(prefix="dripsms-tick-bench-") as tmp, ExitStack() as stack:
        directory = Path(tmp)
        sequences = directory / "sequences"
        sequences.mkdir()
        shutil.copy(ROOT / SEQUENCE_FILE, sequences / SEQUENCE_FILE.name)
        empty, full, busy = (directory / f"{name}.db" for name in ("empty", "full", "busy"))
        for path in (empty, full):
            migrated(path)
        populate(empty, loaded, 0)
        print(f"writing {n:,} far-future messages...", file=sys.stderr)
        populate_seconds = populate(full, loaded, n)
        paths = [("empty", empty), (f"{n:,} planned", full)]
        if scheduled:
            print(f"copying, and handing {scheduled:,} of them to Twilio...", file=sys.stderr)
            shutil.copy(full, busy)
            hand_to_twilio(busy, scheduled)
            paths.append((f"{n - scheduled:,} planned + {scheduled:,} scheduled", busy))
        states = {name: counts(p) for name, p in paths}
        setup = Setup(n, scheduled, populate_seconds, states, load)

        sandbox = Sandbox()
        sandbox.set_now(NOW)
        server = stack.enter_context(SandboxServer(sandbox))
        worlds = [world(name, path, sequences, server.base_url) for name, path in paths]
        for w in worlds:
            stack.callback(w.runtime.engine.dispose)
            stack.callback(w.dispatcher.close)
        print(f"timing {ticks} idle ticks on each database...", file=sys.stderr)
        time_ticks(worlds, ticks)
        print("tracing and timing their statements...", file=sys.stderr)
        traced = min(ticks, 100)
        measured = [measure_statements(w, traced, WARMUP + ticks, query_reps) for w in worlds]
        count = time_count(worlds[2], query_reps) if scheduled else None
        http_calls = sum(sum(w.provider.calls.values()) for w in worlds)
        sandbox_seen = (sandbox.creates, len(sandbox.messages()))
        control_line = control(worlds[0], sandbox)
    elapsed = time.perf_counter() - started
    return report(setup, measured, count, http_calls, sandbox_seen, control_line, ticks, elapsed)


def report(
    setup: Setup,
    measured: list[Measured],
    count_figures: Count | None,
    http_calls: int,
    sandbox_seen: tuple[int, int],
    control_line: str,
    ticks: int,
    elapsed: float,
) -> list[str]:
    n = setup.n
    now = system_clock()
    empty, full = measured[0], measured[1]
    command = f".venv/bin/python bench/tick_bench.py --n {n} --scheduled {setup.scheduled}"
    state_text = "; ".join(
        f"{name}: " + (", ".join(f"{c:,} {s}" for s, c in sorted(states.items())) or "none")
        for name, states in setup.states.items()
    )
    lines = [
        SECTION,
        "",
        f"Run {now:%Y-%m-%d %H:%M} UTC on {cores()} cores ({cpu_model()}), "
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"SQLite {sqlite3.sqlite_version}, {platform.platform()}, load average "
        f"{setup.load:.1f} at the start. Reproduce: "
        f"`{command} --write` (`make bench` prints the same tables without writing).",
        "",
        f"Workload: `Dispatcher.tick(now)` when nothing is due, wired as `dripsms run` wires it "
        "(`Runtime`, default settings: batch 200, 7-day horizon, 15-min minimum lead) against "
        f"the sandbox over HTTP, on SQLite as dripsms configures it (WAL, `synchronous=FULL`). "
        f"Databases, all migrated: {state_text}. The planned messages belong to {n // 5:,} "
        f"enrollments of `{SEQUENCE_FILE}` (5 steps each) and are due a year ahead "
        f"({FAR:%Y-%m-%d} + up to 30 days), written with raw SQL in "
        f"{setup.populate_seconds:.1f} s; the scheduled ones are due within the week and "
        f"have a SID. {WARMUP} warm-up ticks each, then {ticks} ticks each, interleaved (one "
        "on each per round, order rotating). The clock moves "
        f"{TICK_EVERY.seconds} s per round; `time.perf_counter` around `tick()`, garbage "
        "collector on.",
        "",
        f"**An idle tick costs {us(empty.median)} µs (median; p95 {us(empty.p95)}) on the "
        f"empty database and {us(full.median)} µs (p95 {us(full.p95)}) with {n:,} planned "
        f"far-future messages: {full.median / empty.median:.2f}x the median, "
        f"{full.p95 / empty.p95:.2f}x the p95 (target ≤ 1.5x)"
        + (
            f"; with {setup.scheduled:,} of them scheduled at Twilio, "
            f"{us(measured[2].median)} µs: {measured[2].median / empty.median:.2f}x the "
            "median (target ≤ 2x)"
            if len(measured) > 2
            else ""
        )
        + ".**",
        "",
    ]
    rows = []
    for m in measured:
        rows.append(
            [
                m.world.name,
                str(len(m.world.ticks)),
                us(m.median),
                us(m.p95),
                us(min(m.world.ticks)),
                f"{m.median / empty.median:.2f}x",
                f"{m.p95 / empty.p95:.2f}x",
            ]
        )
    lines += table(
        ["database", "ticks", "median µs", "p95 µs", "min µs", "median / empty", "p95 / empty"],
        rows,
    )
    busy = [f"{m.world.name}: {m.world.busy[0]}" for m in measured if m.world.busy]
    count = sum(len(m.world.ticks) + m.traced_ticks for m in measured)
    lines += [
        "",
        f"Nothing happened in the {count:,} timed and traced ticks: "
        + (f"**but some did work** ({'; '.join(busy)})" if busy else "every report all zeros")
        + f", {http_calls} provider call(s) counted, the sandbox saw {sandbox_seen[0]} "
        f"create(s) and holds {sandbox_seen[1]} message(s). {control_line}",
        "",
        "### The statements of an idle tick",
        "",
        "More ticks on each database "
        + ", ".join(f"({m.traced_ticks} on {m.world.name})" for m in measured)
        + " with SQLAlchemy's cursor events timing each statement (driver time: "
        "`cursor.execute` of the compiled SQL, SQLite's work included); `COMMIT` and "
        '`ROLLBACK` timed around the dialect\'s calls. Medians, µs. "plain sqlite3" runs the '
        "same SQL with the same parameters ("
        + ", ".join(f"{m.reps} runs on {m.world.name}" for m in measured)
        + "; median; an `UPDATE` inside `BEGIN IMMEDIATE` … `ROLLBACK`). Plans: "
        f"`EXPLAIN QUERY PLAN` on the {n:,}-planned database (no `ANALYZE`, as dripsms "
        "leaves it; the same on the others).",
        "",
    ]
    header = ["statement", "per tick"]
    for m in measured:
        header += [f"{m.world.name}: traced", "plain sqlite3"]
    header.append("plan")
    rows = []
    for label in STATEMENTS:
        if not any(label in m.trace.seconds for m in measured):
            continue
        row = [label, str(full.trace.per_tick[label])]
        for m in measured:
            traced = us(m.statement(label)) if label in m.trace.seconds else ""
            row += [traced, us(m.raw[label]) if label in m.raw else ""]
        row.append(full.plans.get(label, "").replace("|", "\\|"))
        rows.append(row)
    sums = ["**all statements of a tick**", ""]
    for m in measured:
        sums += [f"**{us(m.statements)}**", ""]
    rows.append([*sums, ""])
    limit = ['limit: the index-only "anything due?" query by hand', ""]
    for m in measured:
        limit += ["", us(m.due)]
    limit.append(f"`{DUE_QUERY}` (due within the week)")
    rows.append(limit)
    lines += table(header, rows)
    shares = ", ".join(
        f"{m.world.name} {1 - m.statements / m.median:.0%} ({us(m.median - m.statements)} µs)"
        for m in (empty, full)
    )
    lines += [
        "",
        "An idle tick is Python, not SQL: the rest of the median tick (minus its statements) "
        "is dripsms and SQLAlchemy building the statements, checking connections out and "
        f"running the transactions: {shares}. Every query is an index search that finds "
        f"nothing; with {n:,} planned rows (and with {setup.scheduled:,} of them scheduled) "
        "each costs what it costs on the empty database, as does the hand-written limit. "
        '"Anything due?" comes first in the claim: when it finds nothing, the pass neither '
        "counts what Twilio holds nor runs the three claims.",
    ]
    if len(measured) > 2 and count_figures is not None:
        busy_m, c = measured[2], count_figures
        lines += [
            "",
            f"**Held at Twilio, messages cost nothing while idle.** With {setup.scheduled:,} "
            "messages `scheduled` (the default `scheduled_budget` is 450,000), "
            "`cancel_requests` searches the partial index "
            "`ix_messages_state_cancel_requested_at` (the few rows with a cancel request: "
            f'"{busy_m.plans.get(CANCEL, "")}"), where it read every scheduled row before '
            "(853 ms in the run of 2026-11-30). `scheduled_count`, which the claim runs "
            "before each batch when something is due, is maintained by triggers "
            f"(`store.held`): {human(c.maintained)} through dripsms for {c.value:,} held, "
            f"against {human(c.counted)} for the `count(*)` it replaces, by hand "
            f"({c.counted_value:,}; `{COUNTED}`).",
        ]
    lines += ["", f"The whole benchmark took {elapsed:.0f} s.", ""]
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=1_000_000, help="far-future planned messages")
    parser.add_argument(
        "--scheduled", type=int, default=450_000,
        help="of those, how many a third database holds as scheduled at Twilio (0: none)",
    )  # fmt: skip
    parser.add_argument("--ticks", type=int, default=200, help="timed ticks per database")
    parser.add_argument(
        "--query-reps", type=int, default=50, help="runs of each statement with plain sqlite3"
    )
    parser.add_argument("--write", action="store_true", help=f"update {SECTION!r} in results.md")
    args: Any = parser.parse_args(argv)
    if args.n < 5 or args.ticks < 20 or args.query_reps < 1 or args.scheduled < 0:
        parser.error("--n >= 5, --ticks >= 20, --query-reps >= 1, --scheduled >= 0")
    section = run(args.n, args.scheduled, args.ticks, args.query_reps)
    print("\n".join(section))
    if args.write:
        write_section(SECTION, section)
        print(f"wrote {SECTION!r} to {RESULTS.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
