"""Benchmark: how fast one dispatcher hands due messages to a Twilio that answers in 150 ms.

The claim under test: dripsms "rate-limits API calls (``DRIPSMS_RATE_LIMIT`` requests/s,
token bucket) with bounded concurrency (``DRIPSMS_CONCURRENCY``), so that with a 150 ms API
latency one worker reaches the configured rate".

For each (rate limit, concurrency) setting it enrolls N contacts into a one-step sequence
due in five minutes (each message is a send-now create) in a fresh migrated SQLite
database, and times one :meth:`dripsms.engine.dispatcher.Dispatcher.tick` handing all of
them off, wired as ``dripsms tick`` wires it (``Runtime``), against the sandbox over HTTP
with a latency fault holding every create 150 ms. The sandbox runs in a child process (it
plays Twilio, which is not in the worker's process; ``--in-process`` runs it on a thread
instead). In the same run, the peer: a bare loop of the same SDK creates through a
``ThreadPoolExecutor`` of the same size, with no rate limit and no database, the upper
bound at that concurrency. It reports achieved creates/s against the target
``min(rate, concurrency / 0.15 s)``, the bare loop, and an ideal worker (the same token
bucket and pool, zero overhead); checks that the rate limit holds (no window of time sees
more than ``rate x span + burst`` creates); and checks that the sandbox counted exactly N
creates per run and every message ended ``queued``.

    .venv/bin/python bench/handoff_bench.py [--configs 20x8,50x8,50x16,100x16] [--write]

Prints a Markdown section; ``--write`` replaces the "## Handoff rate" section of
``bench/results.md`` and leaves every other section alone.
"""

from __future__ import annotations

import argparse
import functools
import heapq
import logging
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import urllib3.connectionpool
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

import sandbox_child
from dripsms.clock import system_clock
from dripsms.core.planning import EnrollmentRequest
from dripsms.engine.callbacks import status_callback_url
from dripsms.engine.dispatcher import Dispatcher
from dripsms.provider.base import Handoff, Provider
from dripsms.runtime import Runtime
from dripsms.sandbox import (
    SANDBOX_ACCOUNT_SID,
    SANDBOX_AUTH_TOKEN,
    SANDBOX_MESSAGING_SERVICE_SID,
    Sandbox,
    SandboxServer,
)
from dripsms.settings import Settings
from dripsms.store.database import connect, upgrade
from reporting import RESULTS, cores, cpu_model, table, write_section

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Handoff rate"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LATENCY_MS = 150
LATENCY = LATENCY_MS / 1000
NO_LIMIT = 1e9  # "no rate limit": a bucket that never runs dry
GOAL = 0.9
BARE_GOAL = 0.8  # issue 10: ≥ 0.8x the bare loop without a rate limit
CPU_GOAL = 2.0  # issue 10: CPU per handed-off message ≤ 2x the bare loop's per create
SLACK = 1.0  # creates: a start is stamped by its thread, a little after its token
SEQUENCE = """key: soon
name: Soon
timezone: UTC
send_window: {start: "00:00", end: "24:00"}
attributes:
  first_name: {type: string, required: true}
steps:
  - id: hello
    at: {minutes: 5}
    body: "Hi {{ first_name }}, your appointment is confirmed. Reply STOP to opt out."
"""
BODY = "Hi Ann, your appointment is confirmed. Reply STOP to opt out."  # as rendered
FAULTS = {"seed": 1, "rules": {"create": {"latency_ms": LATENCY_MS}}}
SERVER = """
import sys
from dripsms.sandbox import Sandbox, SandboxServer
with SandboxServer(Sandbox()) as server:
    print(server.base_url, flush=True)
    sys.stdin.read()  # until the parent closes our stdin
"""


def phone(i: int) -> str:
    """Distinct valid US numbers: +1 415 2xx xxxx."""
    return f"+1415{200 + i // 10_000:03d}{i % 10_000:04d}"


# -- the sandbox (Twilio) ---------------------------------------------------------------------


class Twilio:
    """The sandbox on a child process (or a thread), driven through its admin routes."""

    def __init__(self, in_process: bool) -> None:
        self.process: subprocess.Popen[str] | None = None
        self.server: SandboxServer | None = None
        if in_process:
            self.server = SandboxServer(Sandbox())
            self.base_url = self.server.start()
        else:
            self.process, self.base_url = sandbox_child.start(SERVER)

    def admin(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return sandbox_child.admin(self.base_url, path, body)

    def fresh(self) -> None:
        """Forget every message and count; every create answers after 150 ms."""
        self.admin("/_sandbox/reset", {})
        self.admin("/_sandbox/clock", {"now": NOW.strftime("%Y-%m-%dT%H:%M:%SZ")})
        self.admin("/_sandbox/faults", FAULTS)

    def creates(self) -> int:
        return int(self.admin("/_sandbox/messages")["creates"])

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
        if self.process is not None:
            sandbox_child.stop(self.process)


# -- what a run records -------------------------------------------------------------------------


class Connections:
    """Counts the TCP connections urllib3 (under the SDK's ``requests``) opens."""

    def __init__(self) -> None:
        self.opened = 0
        self._lock = threading.Lock()

    @contextmanager
    def counting(self) -> Iterator[None]:
        cls = urllib3.connectionpool.HTTPConnectionPool
        original = cls._new_conn

        @functools.wraps(original)
        def new_conn(pool: Any) -> Any:
            with self._lock:
                self.opened += 1
            return original(pool)

        cls._new_conn = new_conn  # type: ignore[method-assign,assignment]
        try:
            yield
        finally:
            cls._new_conn = original  # type: ignore[method-assign]


@dataclass
class Run:
    """One timed run: dripsms's tick or the bare loop."""

    kind: str  # "dripsms" or "bare"
    rate: float
    concurrency: int
    n: int
    seconds: float = 0.0
    starts: list[float] = field(default_factory=list)  # each create, from the run's start
    ends: list[float] = field(default_factory=list)
    sandbox_creates: int = 0
    handed_off: int = 0
    states: dict[str, int] = field(default_factory=dict)
    connections: int = 0
    claim_prepare: float = 0.0  # claiming and preparing batches (calls run meanwhile)
    records: list[float] = field(default_factory=list)  # each recording transaction
    recorded: list[int] = field(default_factory=list)  # answers in each of them
    cpu: float = 0.0  # process CPU seconds (all threads; the sandbox child excluded)
    cpu_prepare: float = 0.0  # CPU of the claiming thread in _claim and _prepare
    cpu_record: float = 0.0  # CPU of the recorder's thread in _record_answers
    other: dict[str, int] = field(default_factory=dict)  # TickReport counters besides sent_now

    @property
    def achieved(self) -> float:
        return self.n / self.seconds

    @property
    def cpu_per_create(self) -> float:
        """Process CPU seconds per create handed off."""
        return self.cpu / self.n

    @property
    def round_trip(self) -> float:
        """Mean seconds of one create call, as the caller sees it."""
        return statistics.fmean(e - s for s, e in zip(self.starts, self.ends, strict=True))

    @property
    def in_flight(self) -> float:
        """Mean creates in flight over the run (achieved = in flight / round trip)."""
        return sum(e - s for s, e in zip(self.starts, self.ends, strict=True)) / self.seconds

    @property
    def idle(self) -> float:
        """Seconds of the run with no create in flight."""
        busy, reach = 0.0, 0.0
        for s, e in sorted(zip(self.starts, self.ends, strict=True)):
            if e > reach:
                busy += e - max(s, reach)
                reach = e
        return self.seconds - busy


class Recorder:
    """The dispatcher's provider, timing each create (start and end)."""

    def __init__(self, inner: Provider, run: Run, t0: list[float]) -> None:
        self.inner = inner
        self.run = run
        self.t0 = t0

    def create(self, **kwargs: Any) -> Handoff:
        start = time.perf_counter()
        try:
            return self.inner.create(**kwargs)
        finally:
            end = time.perf_counter()
            self.run.starts.append(start - self.t0[0])
            self.run.ends.append(end - self.t0[0])

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def timed(
    function: Callable[..., Any],
    sink: Callable[[float], None],
    cpu: Callable[[float], None] = lambda _: None,
) -> Callable[..., Any]:
    """``function``, reporting its wall time to ``sink`` and its thread's CPU time to ``cpu``."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start, used = time.perf_counter(), time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            sink(time.perf_counter() - start)
            cpu(time.thread_time() - used)

    return wrapper


def instrument(dispatcher: Dispatcher, run: Run, t0: list[float]) -> None:
    """Time creates, the claim and prepare steps, and each recording transaction."""
    dispatcher.provider = Recorder(dispatcher.provider, run, t0)

    def add_serial(seconds: float) -> None:
        run.claim_prepare += seconds

    def add_prepare_cpu(seconds: float) -> None:
        run.cpu_prepare += seconds

    def add_record_cpu(seconds: float) -> None:
        run.cpu_record += seconds

    d: Any = dispatcher
    d._claim = timed(dispatcher._claim, add_serial, add_prepare_cpu)
    d._prepare = timed(dispatcher._prepare, add_serial, add_prepare_cpu)
    record = timed(dispatcher._record_answers, run.records.append, add_record_cpu)

    @functools.wraps(dispatcher._record_answers)
    def counted(batch: Sequence[Any], **kwargs: Any) -> None:
        run.recorded.append(len(batch))
        record(batch, **kwargs)

    d._record_answers = counted
    d._record_handoff = timed(dispatcher._record_handoff, run.records.append)


# -- the runs -----------------------------------------------------------------------------------


def migrated(path: Path) -> str:
    url = f"sqlite:///{path}"
    engine = connect(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    return url


def states(path: Path) -> dict[str, int]:
    connection = sqlite3.connect(path)
    try:
        rows = connection.execute("SELECT state, count(*) FROM messages GROUP BY state")
        return dict(rows.fetchall())
    finally:
        connection.close()


def dripsms_run(
    twilio: Twilio, directory: Path, tag: str, rate: float, concurrency: int, n: int,
    connections: Connections,
) -> Run:  # fmt: skip
    """Enroll ``n`` contacts in a fresh database, then time one tick handing them off."""
    twilio.fresh()
    path = directory / f"{tag}.db"
    settings = Settings(
        database_url=migrated(path), sequences_dir=directory / "sequences",
        rate_limit=rate, concurrency=concurrency,
    )  # fmt: skip
    runtime = Runtime(settings, lambda: NOW, sandbox_url=twilio.base_url)
    run = Run("dripsms", rate, concurrency, n)
    try:
        runtime.ensure_ready()
        requests = [
            (i + 1, EnrollmentRequest("soon", phone(i), attributes={"first_name": "Ann"}))
            for i in range(n)
        ]
        enrolled = runtime.enroller.enroll_batch(requests, now=NOW)
        if enrolled.refused or len(enrolled.enrolled) != n:
            raise RuntimeError(f"enrollment refused: {enrolled.refused[:3]}")
        dispatcher = runtime.dispatcher()
        t0 = [0.0]
        instrument(dispatcher, run, t0)
        before = connections.opened
        try:
            cpu = time.process_time()
            t0[0] = time.perf_counter()
            report = dispatcher.tick(NOW)
            run.seconds = time.perf_counter() - t0[0]
            run.cpu = time.process_time() - cpu
        finally:
            dispatcher.close()
        run.connections = connections.opened - before
        counters = report.as_json()
        run.handed_off = counters.pop("sent_now", 0)
        run.other = {k: v for k, v in counters.items() if v}
    finally:
        runtime.engine.dispose()
    run.sandbox_creates = twilio.creates()
    run.states = states(path)
    path.unlink()
    return run


def bare_run(twilio: Twilio, concurrency: int, n: int, connections: Connections) -> Run:
    """The same creates with the SDK alone: a thread pool, no rate limit, no database."""
    twilio.fresh()
    client = Client(
        SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN, http_client=TwilioHttpClient(timeout=15.0)
    )
    client.api.base_url = twilio.base_url
    public_url = Settings().public_url
    run = Run("bare", NO_LIMIT, concurrency, n)
    t0 = 0.0

    def create(i: int) -> None:
        start = time.perf_counter()
        client.messages.create(
            to=phone(i), body=BODY, messaging_service_sid=SANDBOX_MESSAGING_SERVICE_SID,
            status_callback=status_callback_url(public_url, SANDBOX_AUTH_TOKEN, i + 1),
        )  # fmt: skip
        end = time.perf_counter()
        run.starts.append(start - t0)
        run.ends.append(end - t0)

    before = connections.opened
    cpu = time.process_time()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(create, range(n)))
    run.seconds = time.perf_counter() - t0
    run.cpu = time.process_time() - cpu
    run.connections = connections.opened - before
    run.handed_off = n
    run.sandbox_creates = twilio.creates()
    return run


# -- the ideal worker and the rate limit --------------------------------------------------------


def burst_of(rate: float) -> float:
    """The bucket's burst as the dispatcher builds it (``TokenBucket(rate)``)."""
    return max(1.0, rate)


def ideal(rate: float, concurrency: int, n: int) -> float:
    """Seconds a worker with zero overhead takes: the same bucket (full at the start) and
    pool, each create exactly 150 ms."""
    burst = burst_of(rate)
    free = [0.0] * concurrency
    tokens, last, finish = burst, 0.0, 0.0
    for _ in range(n):
        now = heapq.heappop(free)
        tokens = min(burst, tokens + (now - last) * rate) - 1
        last = now
        end = now + (-tokens / rate if tokens < 0 else 0.0) + LATENCY
        finish = max(finish, end)
        heapq.heappush(free, end)
    return finish


def excess(starts: Sequence[float], rate: float) -> float:
    """The most creates any window [t_i, t_j] saw beyond ``rate x (t_j - t_i)``.

    The bucket allows at most its burst: count <= burst + rate x span."""
    worst, lowest = 0.0, float("inf")
    for j, t in enumerate(sorted(starts)):
        lowest = min(lowest, j - rate * t)
        worst = max(worst, (j + 1) - rate * t - lowest)
    return worst


def peak(starts: Sequence[float], window: float = 1.0) -> int:
    """The most creates started within any ``window`` seconds."""
    ordered, best, i = sorted(starts), 0, 0
    for j, t in enumerate(ordered):
        while t - ordered[i] > window:
            i += 1
        best = max(best, j - i + 1)
    return best


def sustained(run: Run) -> float:
    """Creates/s once the bucket's initial burst is spent: from the first create at which the
    run had used up its burst (the creates so far reach ``burst + rate x elapsed``, less one),
    or, when it never did, after the first round of ``concurrency`` creates; to the last."""
    ordered = sorted(run.starts)
    burst = burst_of(run.rate)
    dry = next(
        (j for j, t in enumerate(ordered) if (j + 1) - run.rate * (t - ordered[0]) >= burst - 1),
        0,
    )
    k = max(dry, run.concurrency)
    if k >= len(ordered) - 1:
        return run.achieved
    return (len(ordered) - 1 - k) / (ordered[-1] - ordered[k])


# -- the benchmark -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Config:
    rate: float
    concurrency: int
    n: int

    @property
    def limited(self) -> bool:
        return self.rate < NO_LIMIT

    @property
    def ceiling(self) -> float:
        return self.concurrency / LATENCY

    @property
    def target(self) -> float:
        return min(self.rate, self.ceiling)

    @property
    def label(self) -> str:
        return f"{self.rate:g}/s" if self.limited else "none"


def parse_configs(text: str) -> list[tuple[float, int]]:
    """``RATExCONCURRENCY`` items; the rate ``none`` asks only for the row without a limit."""
    pairs = []
    for item in text.split(","):
        rate, _, concurrency = item.replace(" ", "").partition("x")
        pairs.append((NO_LIMIT if rate == "none" else float(rate), int(concurrency)))
    return pairs


def build(pairs: list[tuple[float, int]], seconds: float) -> list[Config]:
    """The settings (N = ``seconds`` of calls at the target), then one row with no rate limit
    per concurrency: dripsms on the same footing as the bare loop."""
    configs = [
        Config(rate, c, round(seconds * min(rate, c / LATENCY)))
        for rate, c in pairs
        if rate < NO_LIMIT
    ]
    for c in sorted({c for _, c in pairs}):
        configs.append(Config(NO_LIMIT, c, round(seconds * c / LATENCY)))
    return configs


def median_run(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda r: r.seconds)[(len(runs) - 1) // 2]


def measure(
    configs: list[Config], reps: int, in_process: bool
) -> tuple[dict[Config, list[Run]], dict[tuple[int, int], list[Run]]]:
    ours: dict[Config, list[Run]] = {c: [] for c in configs}
    bare_keys = sorted({(c.concurrency, c.n) for c in configs if not c.limited})
    bare: dict[tuple[int, int], list[Run]] = {k: [] for k in bare_keys}
    connections = Connections()
    twilio = Twilio(in_process)
    try:
        with tempfile.TemporaryDirectory(prefix="dripsms-handoff-bench-") as tmp, \
                connections.counting():  # fmt: skip
            directory = Path(tmp)
            (directory / "sequences").mkdir()
            (directory / "sequences" / "soon.yaml").write_text(SEQUENCE, encoding="utf-8")
            print("warming up...", file=sys.stderr)
            dripsms_run(twilio, directory, "warmup", NO_LIMIT, 8, 32, connections)
            bare_run(twilio, 8, 32, connections)
            jobs: list[Config | tuple[int, int]] = [*configs, *bare_keys]
            for rep in range(reps):
                shift = rep % len(jobs)
                for job in jobs[shift:] + jobs[:shift]:
                    if isinstance(job, Config):
                        print(
                            f"rep {rep + 1}/{reps}: dripsms, rate {job.label}, "
                            f"concurrency {job.concurrency}, {job.n} creates",
                            file=sys.stderr,
                        )
                        tag = f"r{rep}-{job.label.replace('/s', '')}-{job.concurrency}"
                        run = dripsms_run(
                            twilio, directory, tag, job.rate, job.concurrency, job.n, connections
                        )
                        ours[job].append(run)
                    else:
                        concurrency, n = job
                        print(
                            f"rep {rep + 1}/{reps}: bare loop, {concurrency} threads, {n} creates",
                            file=sys.stderr,
                        )
                        bare[job].append(bare_run(twilio, concurrency, n, connections))
    finally:
        twilio.close()
    return ours, bare


# -- the report ---------------------------------------------------------------------------------


def checks(runs: list[Run]) -> list[str]:
    """What went wrong in these runs (nothing, if all is well)."""
    problems = []
    for r in runs:
        name = f"{r.kind} rate {r.rate:g} concurrency {r.concurrency}"
        if r.sandbox_creates != r.n:
            problems.append(f"{name}: the sandbox counted {r.sandbox_creates} creates, not {r.n}")
        if r.handed_off != r.n or len(r.starts) != r.n:
            problems.append(f"{name}: {r.handed_off} handed off, {len(r.starts)} calls, not {r.n}")
        if r.kind == "dripsms" and r.states != {"queued": r.n}:
            problems.append(f"{name}: messages ended {r.states}")
        if r.other:
            problems.append(f"{name}: the tick also reported {r.other}")
    return problems


def unlimited(
    configs: list[Config], ours: dict[Config, list[Run]], peers: dict[int, Run]
) -> list[str]:
    """Without a rate limit: dripsms against the bare loop and the ideal, rate and CPU."""
    rows, verdicts = [], []
    for c in configs:
        if c.limited:
            continue
        r, p = median_run(ours[c]), peers[c.concurrency]
        ratio, cpu = r.achieved / p.achieved, r.cpu_per_create / p.cpu_per_create
        verdicts.append(
            f"concurrency {c.concurrency}: {ratio:.2f}x the bare loop "
            f"({'meets' if ratio >= BARE_GOAL else 'misses'} ≥ {BARE_GOAL}), CPU {cpu:.2f}x "
            f"({'meets' if cpu <= CPU_GOAL else 'misses'} ≤ {CPU_GOAL:g}x)"
        )
        rows.append(
            [
                str(c.concurrency),
                str(c.n),
                f"**{r.achieved:.1f}**",
                f"{p.achieved:.1f}",
                f"**{ratio:.2f}**",
                f"{c.ceiling:.1f}",
                f"{r.achieved / c.ceiling:.2f}",
                f"{p.achieved / c.ceiling:.2f}",
                f"{r.cpu_per_create * 1e3:.2f}",
                f"{r.cpu_prepare / r.n * 1e3:.2f}",
                f"{r.cpu_record / r.n * 1e3:.2f}",
                f"{(r.cpu - r.cpu_prepare - r.cpu_record) / r.n * 1e3:.2f}",
                f"{p.cpu_per_create * 1e3:.2f}",
                f"**{cpu:.2f}**",
            ]
        )
    if not rows:
        return []
    lines = [
        "### Without a rate limit: against the bare loop and the ideal",
        "",
        "**" + "; ".join(verdicts) + ".**",
        "",
    ]
    lines += table(
        [
            "concurrency",
            "N",
            "dripsms /s",
            "bare loop /s",
            "÷ bare loop",
            "ideal /s",
            "dripsms ÷ ideal",
            "bare ÷ ideal",
            "dripsms CPU ms per create",
            "of which claim + prepare",
            "of which recording",
            "of which calls and the rest",
            "bare CPU ms per create",
            "CPU ÷ bare",
        ],
        rows,
    )
    lines += [
        "",
        f"*ideal* = concurrency / {LATENCY:g} s: every slot busy with a create all the time. "
        "*CPU*: `time.process_time()` of the benchmark's process (every thread; the sandbox "
        "runs in a child process and is not counted) over the tick, or over the bare loop, "
        "divided by the creates; *of which*: the thread CPU time (`time.thread_time()`) of "
        "the claiming thread in `_claim` and `_prepare` and of the recorder's thread in "
        "`_record_answers`, the rest (the SDK's calls in the slots, the tick's startup: "
        "cancel query, timers, status reconciliation) by difference. Targets (issue 10): ≥ "
        f"{BARE_GOAL}x the bare loop, CPU ≤ {CPU_GOAL:g}x the bare loop's per create.",
        "",
    ]
    return lines


def report(
    configs: list[Config],
    ours: dict[Config, list[Run]],
    bare: dict[tuple[int, int], list[Run]],
    reps: int,
    seconds: float,
    in_process: bool,
    load: float,
    elapsed: float,
    command: str,
) -> list[str]:
    now = system_clock()
    peers = {c: median_run(runs) for (c, _), runs in bare.items()}
    where = "on a thread of the benchmark's process" if in_process else "in a child process"
    lines = [
        SECTION,
        "",
        f"Run {now:%Y-%m-%d %H:%M} UTC on {cores()} cores ({cpu_model()}), "
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"SQLite {sqlite3.sqlite_version}, {platform.platform()}, load average {load:.1f} "
        f"at the start. Reproduce: `{command} --write` (`make bench` prints the same tables "
        "without writing).",
        "",
        f"Workload: N contacts enrolled (one transaction) in a one-step sequence due in five "
        "minutes (each message a send-now create), in a fresh migrated SQLite database (WAL, "
        "`synchronous=FULL`), then one `Dispatcher.tick(now)` handing all N off, wired as "
        "`dripsms tick` wires it (`Runtime`; default settings besides `rate_limit` and "
        "`concurrency`: batches of 200, so 400 messages take two), timed with "
        "`time.perf_counter` around `tick()` (startup, claims, the creates, recording each "
        "answer). The sandbox plays Twilio over HTTP "
        f"{where}, with a latency fault holding **every create {LATENCY_MS} ms** (lists, "
        "which the tick's missed-reply recovery makes once, answer at once). N is "
        f"{seconds:g} s of creates at the target, target = min(rate, concurrency / "
        f"{LATENCY:g} s): the pool's ceiling is concurrency / {LATENCY:g} s. The rows without a "
        "rate limit (`rate_limit` 1e9) put dripsms on the same footing as the peer. "
        "**Peer**, in the same run: the same SDK creates (`twilio` `Client` with "
        "`TwilioHttpClient`, the same parameters and body) from a `ThreadPoolExecutor` of the "
        "same size, no rate limit, no database. Each job ran "
        f"{reps} times, interleaved (order rotating); the run with the median time counts, "
        "the range shows all runs. One unreported warm-up run of each comes first.",
        "",
    ]
    rows, verdicts = [], []
    for c in configs:
        runs = ours[c]
        r = median_run(runs)
        peer = peers[c.concurrency]
        after = sustained(r)
        low, high = min(x.achieved for x in runs), max(x.achieved for x in runs)
        verdicts.append((c, r, after))
        rows.append(
            [
                f"**{c.label}**",
                str(c.concurrency),
                f"{c.ceiling:.1f}",
                f"{c.target:.1f}",
                str(c.n),
                f"{r.seconds:.2f}",
                f"**{r.achieved:.1f}** ({low:.1f} to {high:.1f})",
                f"**{r.achieved / c.target:.2f}**",
                f"{after:.1f}",
                f"{after / c.target:.2f}",
                f"{peer.achieved:.1f}",
                f"{r.achieved / peer.achieved:.2f}",
            ]
        )
    limited = [v for v in verdicts if v[0].limited]
    if limited:
        whole = sum(1 for c, r, _ in limited if r.achieved / c.target >= GOAL)
        steady = sum(1 for c, _, after in limited if after / c.target >= GOAL)
        c, r, after = min(limited, key=lambda v: v[1].achieved / v[0].target)
        headline = (
            f"**With every create taking {LATENCY_MS} ms, {whole} of {len(limited)} settings "
            f"reach ≥ {GOAL:.0%} of their target over the whole tick, {steady} of "
            f"{len(limited)} once the bucket's burst is spent. Lowest: rate {c.label}, "
            f"concurrency {c.concurrency}, {r.achieved:.1f} creates/s = "
            f"{r.achieved / c.target:.3f} of {c.target:.0f} ({after / c.target:.3f} after the "
            f"burst; the bare loop at that concurrency: {peers[c.concurrency].achieved:.1f}/s).**"
        )
        lines += [headline, ""]
    lines += unlimited(configs, ours, peers)
    lines += table(
        [
            "rate limit",
            "concurrency",
            "ceiling /s",
            "target /s",
            "N",
            "tick s",
            "achieved /s (range)",
            "÷ target",
            "after the burst /s",
            "÷ target",
            "bare loop /s",
            "÷ bare loop",
        ],
        rows,
    )
    lines += [
        "",
        "*achieved* = N / tick time. The bucket starts full (burst = the rate, one second's "
        "worth), so a tick that starts idle may beat the rate at first: *after the burst* "
        "counts the creates from the one by which the run had spent its burst (the creates so "
        "far reach `burst + rate x elapsed`, less one) or, when it never did, from the "
        "(`concurrency` + 1)-th create, to the last, over the time between their starts. "
        "*bare loop*: the peer, same pool size, "
        + "; ".join(f"{c} threads: {p.n} creates in {p.seconds:.2f} s" for c, p in peers.items())
        + ".",
        "",
        "### The rate limit holds",
        "",
        "Every create's start (as the dispatcher's provider calls it): no window [t_i, t_j] may "
        "hold more than `rate x (t_j - t_i) + burst` of them. *Most beyond the rate* is the "
        "largest excess seen over all windows of all runs; it must stay within the burst (plus "
        f"{SLACK:g} for the stamps: a thread stamps its start a little after taking its "
        "token). "
        "*Ideal worker*: the same bucket (full at the start) and pool with zero overhead and "
        f"exactly {LATENCY_MS} ms per create.",
        "",
    ]
    rows = []
    for c in configs:
        if not c.limited:
            continue
        runs = ours[c]
        r = median_run(runs)
        burst = burst_of(c.rate)
        worst = max(excess(x.starts, c.rate) for x in runs)
        best = c.n / ideal(c.rate, c.concurrency, c.n)
        rows.append(
            [
                c.label,
                str(c.concurrency),
                f"{burst:g}",
                f"{max(peak(x.starts) for x in runs)} (≤ {c.rate + burst:g})",
                f"{worst:.2f}",
                "yes" if worst <= burst + SLACK else "**no**",
                f"{best:.1f}",
                f"{r.achieved / best:.2f}",
            ]
        )
    lines += table(
        [
            "rate limit",
            "concurrency",
            "burst",
            "most creates started in any 1 s (bound)",
            "most beyond the rate",
            "holds",
            "ideal worker /s",
            "achieved ÷ ideal",
        ],
        rows,
    )
    lines += [
        "",
        "### Where the time goes",
        "",
        "A pool of `concurrency` threads for the tick's time is `concurrency x tick` "
        "slot-seconds; *slot time per create* = that / N (an ideal worker without a rate limit: "
        f"{LATENCY_MS} ms). It splits into the create's *round trip* (as the caller sees it: "
        f"{LATENCY_MS} ms, HTTP, the SDK, the sandbox), the *recording* of the answers "
        "(`_record_answers`: batched, fenced transactions on the recorder's thread, which "
        "hold no slot; their time per create, for scale), the *pool idle* time (no create "
        "in flight at all: startup and the first claim, the last answers) shared over the "
        "creates, and the *rest* by difference (waiting for tokens, thread scheduling). "
        "*Claim + prepare* runs while the calls of the batch before are in flight: the next "
        "batch is claimed once at most 2 x concurrency prepared creates wait for a slot. "
        "achieved = in flight / round trip = concurrency / slot time. *Connections*: TCP "
        "connections urllib3 opened (the dispatcher's pool keeps `concurrency` per host; "
        "the bare loop's `requests` keeps 10, and closes the extra ones when more go idle).",
        "",
    ]
    rows = []
    shown = [(f"dripsms, rate {c.label}", median_run(ours[c])) for c in configs]
    shown += [("bare loop", p) for p in peers.values()]
    for name, r in shown:
        slot = r.concurrency * r.seconds / r.n
        record = sum(r.records) / r.n
        idle = r.concurrency * r.idle / r.n
        ms = [slot, r.round_trip, record, idle, slot - r.round_trip - record - idle]
        rows.append(
            [
                name,
                str(r.concurrency),
                f"{r.achieved:.1f}",
                f"{r.in_flight:.2f}",
                *(f"{x * 1e3:.1f}" for x in ms),
                f"{r.idle:.2f} s ({r.idle / r.seconds:.0%})",
                f"{r.claim_prepare:.2f}" if r.kind == "dripsms" else "",
                f"{statistics.fmean(r.recorded):.1f}" if r.recorded else "",
                str(r.connections),
            ]
        )
    lines += table(
        [
            "run",
            "concurrency",
            "achieved /s",
            "in flight",
            "slot time per create ms",
            "round trip ms",
            "recording ms",
            "pool idle ms",
            "rest ms",
            "pool idle (share of tick)",
            "claim + prepare s",
            "answers per commit",
            "connections",
        ],
        rows,
    )
    overheads = []
    for c in configs:
        if c.limited:
            continue
        r, p = median_run(ours[c]), peers[c.concurrency]
        per_slot = (r.seconds - p.seconds) * c.concurrency / c.n
        overheads.append(
            f"{c.concurrency} threads: {r.seconds:.2f} s vs {p.seconds:.2f} s for {c.n} "
            f"creates, {per_slot * 1e3:.1f} ms of a worker slot per create "
            f"({per_slot / LATENCY:.0%} of the {LATENCY_MS} ms round trip)"
        )
    if overheads:
        lines += [
            "",
            "dripsms's overhead per create, without a rate limit, against the bare loop: "
            + "; ".join(overheads)
            + ".",
        ]
    all_runs = [r for runs in ours.values() for r in runs] + [
        r for runs in bare.values() for r in runs
    ]
    problems = checks(all_runs)
    lines += [
        "",
        (
            f"Checked in each of the {len(all_runs)} runs: the sandbox counted exactly N "
            "creates, the tick reported N sent now and nothing else, and every message "
            "ended `queued` (the bare loop: N creates counted)."
            if not problems
            else "**Checks failed**: " + "; ".join(problems) + "."
        ),
        "",
        f"The whole benchmark took {elapsed:.0f} s.",
        "",
    ]
    return lines


def run(pairs: list[tuple[float, int]], seconds: float, reps: int, in_process: bool) -> list[str]:
    started = time.perf_counter()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    logging.getLogger("dripsms").setLevel(logging.ERROR)  # "using the sandbox" warnings
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)  # "pool is full"
    configs = build(pairs, seconds)
    ours, bare = measure(configs, reps, in_process)
    elapsed = time.perf_counter() - started
    command = ".venv/bin/python bench/handoff_bench.py --configs " + ",".join(
        ("none" if r >= NO_LIMIT else f"{r:g}") + f"x{c}" for r, c in pairs
    )
    command += f" --seconds {seconds:g} --reps {reps}" + (" --in-process" if in_process else "")
    return report(configs, ours, bare, reps, seconds, in_process, load, elapsed, command)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--configs", default="20x8,50x8,50x16,100x16,nonex64",
        help="RATExCONCURRENCY settings, comma-separated (RATE none: only the unlimited row)",
    )  # fmt: skip
    parser.add_argument(
        "--seconds", type=float, default=4.0, help="N = this many seconds of creates at the target"
    )
    parser.add_argument("--reps", type=int, default=3, help="runs of each job; the median counts")
    parser.add_argument(
        "--in-process", action="store_true",
        help="run the sandbox on a thread of this process (it competes for the GIL)",
    )  # fmt: skip
    parser.add_argument("--write", action="store_true", help=f"update {SECTION!r} in results.md")
    args: Any = parser.parse_args(argv)
    try:
        pairs = parse_configs(args.configs)
    except ValueError:
        parser.error("--configs: e.g. 20x8,50x16")
    if any(rate <= 0 or c < 1 or c > 256 for rate, c in pairs) or not pairs:
        parser.error("--configs: rates > 0, concurrency 1..256")
    if args.reps < 1 or args.seconds <= 0:
        parser.error("--reps >= 1, --seconds > 0")
    section = run(pairs, args.seconds, args.reps, args.in_process)
    print("\n".join(section))
    if args.write:
        write_section(SECTION, section)
        print(f"wrote {SECTION!r} to {RESULTS.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
