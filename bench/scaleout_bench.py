"""Benchmark: `dripsms worker` processes on one PostgreSQL, 1 against 4.

The claim under test (issue 10): several workers on one PostgreSQL scale out, "4 workers
≥ 3x one worker, zero duplicates". For each worker count it makes a fresh database on the
throwaway server of ``scripts/test-postgres.sh``, enrolls N contacts into a one-step
sequence whose text is due now (every message a send-now create), starts the sandbox in a
child process answering every create in 50 ms, then starts the ``dripsms worker``
processes (``DRIPSMS_CONCURRENCY`` each) and times them draining the batch, from the first
handoff recorded to the last. In the same run it reports:

- messages/s, and the ratio of 4 workers to 1;
- the in-flight ceiling: workers x concurrency / latency (what the workers would reach if
  dripsms cost nothing), and the fraction of it reached;
- duplicates, counted by the sandbox per (to, body): zero, or the run is a failure;
- CPU per message of the workers (user + system from ``/proc/<pid>/stat`` over the
  drain), of the sandbox process, and the machine's cores: when the workers' CPU per
  message x the rate reaches the cores, CPU, not the design, is the cap.

``--profile`` adds a cProfile of one ``dripsms tick`` draining the batch (the functions
where the CPU goes, by own time).

    .venv/bin/python bench/scaleout_bench.py [--n 3000] [--workers 1,4] [--profile] [--write]

Prints a Markdown section; ``--write`` replaces the "## PostgreSQL scale-out" section of
``bench/results.md`` and leaves every other section alone.
"""

from __future__ import annotations

import argparse
import importlib
import io
import os
import platform
import pstats
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

import sandbox_child
from dripsms.clock import system_clock
from dripsms.core.planning import EnrollmentRequest
from dripsms.engine.enrollment import Enroller, lines
from dripsms.engine.library import SequenceLibrary
from dripsms.store.database import connect, upgrade
from dripsms.store.tables import messages
from reporting import cores, cpu_model, table, write_section

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src" / "dripsms" / "store" / "migrations" / "versions"))
STORAGE: dict[str, dict[str, str]] = importlib.import_module("0005_claim_storage").STORAGE
"""Migration 0005's storage parameters (``--storage default`` undoes them)."""
SECTION = "## PostgreSQL scale-out"
LATENCY_MS = 50
TARGET = 3.0
SEQUENCE = """key: now
name: Now
timezone: UTC
send_window: {start: "00:00", end: "24:00"}
attributes:
  first_name: {type: string, required: true}
steps:
  - id: hello
    at: {minutes: 1}
    body: "Hi {{ first_name }}, your appointment is confirmed. Reply STOP to opt out."
"""
"""Enrolled two minutes ago, each contact's text is due now: a send-now create."""
SERVER = """
import sys
from dripsms.sandbox import Sandbox, SandboxServer

class NoCallbacks:  # status callbacks cost the stand-in CPU and tell this benchmark nothing
    def deliver(self, callbacks): pass
    def close(self): pass

with SandboxServer(Sandbox(callback_sink=NoCallbacks()), follow_real_time=True) as server:
    print(server.base_url, flush=True)
    sys.stdin.read()  # until the parent closes our stdin
"""
PROFILER = """
import cProfile, pstats, runpy, sys, threading, time
profiles = []

def start(*_):  # each new thread (the dispatcher's call pool) gets its own profile
    profile = cProfile.Profile(time.thread_time)
    profiles.append(profile)
    profile.enable()

threading.setprofile(start)
main = cProfile.Profile(time.thread_time)  # CPU time of the thread: waits cost nothing
profiles.append(main)
main.enable()
sys.argv = ["dripsms", "tick"]
try:
    runpy.run_module("dripsms", run_name="__main__")
except SystemExit:
    pass
main.disable()
threading.setprofile(None)
stats = pstats.Stats(profiles[0])
for profile in profiles[1:]:
    stats.add(profile)
stats.dump_stats(OUT)
"""
"""``dripsms tick`` under cProfile, every thread, timed in CPU seconds (``OUT``: the file)."""
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def machine_times() -> tuple[int, int]:
    """All cores' (total, idle) jiffies so far, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(values), values[3] + values[4]  # idle + iowait


# -- the pieces: PostgreSQL, the sandbox, the workers ------------------------------------------


def postgres_admin_url() -> str:
    """The throwaway server of scripts/test-postgres.sh (started if it is not running)."""
    script = ROOT / "scripts" / "test-postgres.sh"
    done = subprocess.run([str(script)], capture_output=True, text=True, check=True, timeout=600)
    return done.stdout.strip()


class Database:
    """A fresh database on the server, dropped on close."""

    def __init__(self, admin_url: str) -> None:
        self.admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.name = f"bench_scaleout_{uuid.uuid4().hex[:10]}"
        with self.admin.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {self.name}"))
        self.url = make_url(admin_url).set(database=self.name).render_as_string(False)
        self.engine = connect(self.url)
        upgrade(self.engine)

    def handed_off(self) -> int:
        with self.engine.connect() as connection:
            query = select(func.count()).where(messages.c.state == "queued")
            return int(connection.execute(query).scalar_one())

    def default_storage(self) -> None:
        """Undo migration 0005's storage parameters (to measure what they change)."""
        with self.engine.begin() as connection:
            for table, parameters in STORAGE.items():
                names = ", ".join(parameters)
                connection.execute(text(f"ALTER TABLE {table} RESET ({names})"))

    def tuples(self) -> dict[str, int]:
        """``messages``'s row in pg_stat_user_tables (read once the workers have exited,
        so that their statistics are flushed)."""
        query = text(
            "SELECT n_tup_upd, n_tup_hot_upd, n_dead_tup, n_live_tup, autovacuum_count "
            "FROM pg_stat_user_tables WHERE relname = 'messages'"
        )
        with self.engine.connect() as connection:
            return dict(connection.execute(query).one()._mapping)

    def close(self) -> None:
        self.engine.dispose()
        with self.admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)"))
        self.admin.dispose()


def enroll(database: Database, folder: Path, n: int) -> None:
    enroller = Enroller(database.engine, SequenceLibrary(folder))
    then = system_clock() - timedelta(minutes=2)
    for start in range(0, n, 5_000):
        batch = [
            EnrollmentRequest(
                "now", f"+1415{5_000_000 + i:07d}", attributes={"first_name": f"P{i}"}
            )
            for i in range(start, min(n, start + 5_000))
        ]
        report = enroller.enroll_batch(lines(batch), now=then)
        assert not report.refused, report.refused[:3]


class Twilio:
    """The sandbox in a child process (it plays Twilio, which is not on the workers' CPU
    budget), driven through its admin routes."""

    def __init__(self) -> None:
        self.process, self.base_url = sandbox_child.start(SERVER)

    def admin(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return sandbox_child.admin(self.base_url, path, body)

    def fresh(self) -> None:
        self.admin("/_sandbox/reset", {})
        self.admin("/_sandbox/faults", {"seed": 1, "rules": {"create": {"latency_ms": LATENCY_MS}}})

    def counts(self) -> tuple[int, int, int]:
        """Creates processed, distinct (to, body), and (to, body) created more than once."""
        answer = self.admin("/_sandbox/messages")
        per = [entry["count"] for entry in answer["creates_by_recipient"]]
        return int(answer["creates"]), len(per), sum(1 for count in per if count > 1)

    def close(self) -> None:
        sandbox_child.stop(self.process)


def environment(
    url: str, folder: Path, api_base: str, concurrency: int, batch: int
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DRIPSMS_", "TWILIO_"))}
    env.update(
        DRIPSMS_DATABASE_URL=url, DRIPSMS_SEQUENCES_DIR=str(folder),
        DRIPSMS_TWILIO_API_BASE=api_base, DRIPSMS_PUBLIC_URL="http://127.0.0.1:9",
        DRIPSMS_RATE_LIMIT="100000", DRIPSMS_CONCURRENCY=str(concurrency),
        DRIPSMS_BATCH_SIZE=str(batch), DRIPSMS_POLL_INTERVAL="0.2", DRIPSMS_LOG_LEVEL="WARNING",
    )  # fmt: skip
    return env


# -- one run ---------------------------------------------------------------------------------


@dataclass
class Run:
    workers: int
    n: int
    seconds: float
    worker_cpu: float
    sandbox_cpu: float
    creates: int
    distinct: int
    duplicates: int
    load: float
    storage: str = "0005"
    tuples: dict[str, int] = field(default_factory=dict)
    machine_busy: float = 0.0
    """Fraction of all cores busy during the drain (anything running, not only dripsms)."""

    @property
    def rate(self) -> float:
        return self.n / self.seconds

    def ceiling(self, concurrency: int) -> float:
        return self.workers * concurrency / (LATENCY_MS / 1000)


def drain(
    admin_url: str,
    twilio: Twilio,
    workers: int,
    n: int,
    concurrency: int,
    batch: int,
    storage: str,
) -> Run:
    database = Database(admin_url)
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "now.yaml").write_text(SEQUENCE)
        try:
            if storage == "default":
                database.default_storage()
            enroll(database, Path(folder), n)
            twilio.fresh()
            env = environment(database.url, Path(folder), twilio.base_url, concurrency, batch)
            procs = [
                subprocess.Popen(
                    [sys.executable, "-m", "dripsms", "worker"],
                    env=env,
                    cwd=folder,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for _ in range(workers)
            ]
            try:
                run = measure(database, twilio, procs, n)
            finally:
                stop_workers(procs)
            run.tuples = database.tuples()
            run.storage = storage
            return run
        finally:
            database.close()


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM every worker, wait for each, then a second for PostgreSQL's statistics
    (``pg_stat_user_tables``) to take in their last writes."""
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        proc.wait(timeout=60)
    time.sleep(1.0)


def measure(
    database: Database, twilio: Twilio, procs: list[subprocess.Popen[bytes]], n: int
) -> Run:
    """From the first handoff recorded to the last, polling the database every 50 ms."""
    deadline = time.monotonic() + 600
    while (first := database.handed_off()) == 0:
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            raise RuntimeError("the workers never handed off")
        time.sleep(0.05)
    started = time.monotonic()
    cpu0 = sum(cpu_seconds(p.pid) for p in procs)
    sandbox0 = cpu_seconds(twilio.process.pid)
    load0 = os.getloadavg()[0]
    total0, idle0 = machine_times()
    while database.handed_off() < n:
        if time.monotonic() > deadline:
            raise RuntimeError("the workers did not finish in 10 minutes")
        time.sleep(0.05)
    seconds = time.monotonic() - started
    total1, idle1 = machine_times()
    cpu = sum(cpu_seconds(p.pid) for p in procs) - cpu0
    sandbox = cpu_seconds(twilio.process.pid) - sandbox0
    creates, distinct, duplicates = twilio.counts()
    measured = n - first
    return Run(
        workers=len(procs), n=measured, seconds=seconds, worker_cpu=cpu / measured,
        sandbox_cpu=sandbox / measured, creates=creates, distinct=distinct,
        duplicates=duplicates, load=max(load0, os.getloadavg()[0]),
        machine_busy=1 - (idle1 - idle0) / max(1, total1 - total0),
    )  # fmt: skip


def profile(admin_url: str, twilio: Twilio, n: int, concurrency: int, batch: int) -> list[str]:
    """cProfile of one ``dripsms tick`` draining ``n`` messages: where its CPU goes."""
    database = Database(admin_url)
    with tempfile.TemporaryDirectory() as folder:
        try:
            (Path(folder) / "now.yaml").write_text(SEQUENCE)
            enroll(database, Path(folder), n)
            twilio.fresh()
            env = environment(database.url, Path(folder), twilio.base_url, concurrency, batch)
            out = Path(folder) / "tick.prof"
            script = f"OUT = {str(out)!r}\n" + PROFILER
            subprocess.run(
                [sys.executable, "-c", script], env=env, cwd=folder, check=True,
                stdout=subprocess.DEVNULL, timeout=900,
            )  # fmt: skip
            buffer = io.StringIO()
            stats = pstats.Stats(str(out), stream=buffer)
            total = sum(row[2] for row in stats.stats.values())  # type: ignore[attr-defined]
            buffer.write(
                f"CPU seconds in all threads under the profiler (start-up and imports included; "
                f"the profiler inflates them several times): {total:.2f}\n"
            )
            stats.sort_stats("tottime").print_stats(20)
            assert database.handed_off() == n
        finally:
            database.close()
    lines_ = [line.rstrip() for line in buffer.getvalue().splitlines()]
    start = next(i for i, line in enumerate(lines_) if "ncalls" in line)
    header = [line for line in lines_ if line.startswith("CPU seconds")]
    return [*header, "", "```", *[line for line in lines_[start:] if line.strip()], "```"]


# -- the report ------------------------------------------------------------------------------


def tuple_row(run: Run) -> list[str]:
    """One run's dead-tuple figures for ``messages``."""
    t = run.tuples
    hot = t["n_tup_hot_upd"] / max(1, t["n_tup_upd"])
    return [
        run.storage, str(run.workers), f"{t['n_tup_upd']:,}", f"{t['n_tup_hot_upd']:,} ({hot:.0%})",
        f"{t['n_dead_tup']:,}", f"{t['n_dead_tup'] / run.n:.2f}", str(t["autovacuum_count"]),
    ]  # fmt: skip


def report(
    runs: list[Run], concurrency: int, batch: int, command: str, prof: list[str]
) -> list[str]:
    one = next((r for r in runs if r.workers == 1), None)
    rows = []
    for run in runs:
        ceiling = run.ceiling(concurrency)
        cpu_rate = run.worker_cpu * run.rate  # cores the workers kept busy
        rows.append([
            str(run.workers), f"{run.n:,}", f"{run.seconds:.1f}", f"{run.rate:,.0f}",
            f"{run.rate / one.rate:.2f}x" if one else "—",
            f"{ceiling:,.0f}", f"{run.rate / ceiling:.0%}",
            f"{run.worker_cpu * 1000:.2f}", f"{cpu_rate:.2f}", f"{run.sandbox_cpu * 1000:.2f}",
            f"{run.duplicates}", f"{run.machine_busy:.0%}", f"{run.load:.1f}",
        ])  # fmt: skip
    header = [
        "workers", "messages", "seconds", "messages/s", "vs 1 worker", "in-flight ceiling/s",
        "of ceiling", "worker CPU ms/msg", "cores busy (workers)", "sandbox CPU ms/msg",
        "duplicates", "machine CPU busy", "load avg",
    ]  # fmt: skip
    out = [
        SECTION, "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {cores()} cores "
        f"({cpu_model()}), Python {platform.python_version()}, PostgreSQL of "
        f"`scripts/test-postgres.sh`; sandbox in a child process answering each create in "
        f"{LATENCY_MS} ms; `DRIPSMS_CONCURRENCY={concurrency}`, `DRIPSMS_BATCH_SIZE={batch}` "
        "per worker, no rate limit. Command: `" + command + "`.", "",
        *table(header, rows), "",
    ]  # fmt: skip
    four = next((r for r in runs if r.workers == 4), None)
    if one and four:
        ratio = four.rate / one.rate
        verdict = "met" if ratio >= TARGET else "missed"
        busy = four.worker_cpu * four.rate + four.sandbox_cpu * four.rate
        out += [
            f"4 workers = **{ratio:.2f}x** one worker (target ≥ {TARGET:g}x: {verdict}). "
            f"Duplicates: {sum(r.duplicates for r in runs)} "
            f"(creates at the sandbox = messages: "
            f"{all(r.creates == r.distinct for r in runs)}).",
            "",
            f"At 4 workers the workers and the sandbox kept {busy:.2f} of {cores()} cores busy; "
            f"all processes together (PostgreSQL and anything else running) "
            f"{four.machine_busy:.0%} of the machine. "
            + (
                "The machine's CPU, not the claim or the database, is the cap: this near "
                "full, the processes queue for a core (one worker alone reaches "
                f"{one.rate / one.ceiling(concurrency):.0%} of its in-flight ceiling with the "
                f"machine {one.machine_busy:.0%} busy); on more cores the ratio grows towards the "
                "in-flight ceiling."
                if four.machine_busy >= 0.85 or busy >= 0.75 * cores()
                else "CPU is not saturated: the gap is in the design (see the profile)."
            ),
            "",
        ]  # fmt: skip
    out += [
        "Dead tuples: `messages` in pg_stat_user_tables once the workers exited (storage "
        "`0005`: the migration's fillfactor 70 and autovacuum at 2%; `default`: reset).", "",
        *table(
            ["storage", "workers", "updates", "HOT updates", "dead tuples", "dead per message",
             "autovacuums"],
            [tuple_row(r) for r in runs],
        ), "",
    ]  # fmt: skip
    if prof:
        out += ["Where one worker's CPU goes: cProfile of `dripsms tick` draining the batch, "
                "by own time:", "", *prof, ""]  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=3_000, help="messages per run")
    parser.add_argument("--workers", default="1,4", help="worker counts, comma-separated")
    parser.add_argument("--concurrency", type=int, default=8, help="DRIPSMS_CONCURRENCY")
    parser.add_argument("--batch", type=int, default=200, help="DRIPSMS_BATCH_SIZE")
    parser.add_argument(
        "--storage", default="0005",
        help="comma-separated: 0005 (the migration's fillfactor/autovacuum), default (reset)",
    )  # fmt: skip
    parser.add_argument("--profile", action="store_true", help="cProfile one `dripsms tick`")
    parser.add_argument("--write", action="store_true", help="update bench/results.md")
    args = parser.parse_args(argv)
    admin_url = postgres_admin_url()
    twilio = Twilio()
    try:
        runs = [
            drain(admin_url, twilio, int(k), args.n, args.concurrency, args.batch, storage)
            for storage in args.storage.split(",")
            for k in args.workers.split(",")
        ]
        prof = (
            profile(admin_url, twilio, args.n, args.concurrency, args.batch) if args.profile else []
        )
    finally:
        twilio.close()
    command = f".venv/bin/python bench/scaleout_bench.py --n {args.n} --workers {args.workers}"
    command += f" --concurrency {args.concurrency} --batch {args.batch}"
    command += f" --storage {args.storage}" if args.storage != "0005" else ""
    command += " --profile" if args.profile else ""
    section = report(runs, args.concurrency, args.batch, command, prof)
    print("\n".join(section))
    for run in runs:
        if run.duplicates or run.creates != run.distinct:
            raise SystemExit(f"{run.workers} workers: duplicates at the sandbox")
    if args.write:
        write_section(SECTION, section)


if __name__ == "__main__":
    main()
