"""Benchmark: a ``dripsms worker`` process's memory with few and with very many pending messages.

Builds migrated SQLite databases (WAL, ``synchronous=FULL``, as dripsms configures them)
with ``--sizes`` messages of the example sequence (``postop``, 5 steps per enrollment) in
state ``planned`` and due a year ahead, written with raw SQL by ``tick_bench.py``'s
builder. For each it starts a real ``dripsms worker`` (the console script, a process of its
own) against it and the sandbox over HTTP, lets it run ``--passes`` dispatcher passes
(``DRIPSMS_POLL_INTERVAL`` = ``--poll``; each good pass writes the worker's heartbeat row,
which this script watches), and reads the process's resident memory from
``/proc/PID/status``: ``VmRSS`` after its first pass and at the end, and ``VmHWM`` (the
most it ever held). The goal (PERFORMANCE.md): memory does not grow with the number of
pending messages: RSS at 1,000,000 ≤ 1.2x RSS at 10,000.

    .venv/bin/python bench/rss_bench.py [--sizes 0,10000,1000000] [--passes 20] [--write]

Nothing may happen: nothing is due, so the worker must log no ``tick`` and no failed
pass, and the sandbox must see no message. Prints a Markdown section; ``--write`` replaces
the "## Worker memory" section of ``bench/results.md`` and leaves every other section alone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dripsms.catalog import load_file
from dripsms.clock import system_clock
from dripsms.sandbox import Sandbox, SandboxServer
from reporting import RESULTS, cores, cpu_model, fmt, table, write_section
from tick_bench import migrated, populate

ROOT = Path(__file__).resolve().parent.parent
SEQUENCE_FILE = Path("sequences/postop.yaml")
SECTION = "## Worker memory"
DRIPSMS = Path(sys.executable).with_name("dripsms")
HEARTBEATS = "SELECT updated_at FROM cursors WHERE name LIKE 'dispatcher:%'"
START_TIMEOUT = 120.0  # seconds for the worker's first pass (imports, a cold cache)


@dataclass
class Sample:
    """One worker run: its memory (kB, from /proc) and what it did."""

    pending: int
    build_seconds: float
    first_rss: int = 0
    end_rss: int = 0
    hwm: int = 0
    anon: int = 0
    passes: int = 0
    seconds: float = 0.0
    exit_code: int | None = None
    problems: list[str] = field(default_factory=list)


def status(pid: int) -> dict[str, int]:
    """The ``Vm*``/``Rss*`` lines of ``/proc/PID/status``, in kB."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name.startswith(("Vm", "Rss")) and rest.strip().endswith("kB"):
            values[name] = int(rest.split()[0])
    return values


def heartbeat(path: Path) -> str | None:
    """The worker's last heartbeat (its ``updated_at``), read without taking a lock."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        row = connection.execute(HEARTBEATS).fetchone()
    except sqlite3.OperationalError:  # a checkpoint in progress: ask again
        return None
    finally:
        connection.close()
    return None if row is None else str(row[0])


def worker_env(path: Path, sequences: Path, sandbox_url: str, poll: float) -> dict[str, str]:
    """The environment of ``dripsms worker``: ours, less any dripsms or Twilio setting."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DRIPSMS_", "TWILIO_"))}
    env.update(
        DRIPSMS_DATABASE_URL=f"sqlite:///{path}",
        DRIPSMS_SEQUENCES_DIR=str(sequences),
        DRIPSMS_TWILIO_API_BASE=sandbox_url,  # no TWILIO_*: the sandbox, at this address
        DRIPSMS_POLL_INTERVAL=str(poll),
        DRIPSMS_LOG_FORMAT="json",
    )
    return env


def run_worker(sample: Sample, path: Path, env: dict[str, str], passes: int, cwd: Path) -> None:
    """Start ``dripsms worker``, watch ``passes`` heartbeats after its first, stop it."""
    log_path = cwd / f"worker-{sample.pending}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(DRIPSMS), "worker"], env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            seen = watch(sample, process, path, passes)
            sample.passes = seen
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                sample.exit_code = process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                sample.exit_code = process.wait()
                sample.problems.append("did not stop within 60 s of SIGTERM")
    if sample.exit_code != 0:
        sample.problems.append(f"exit status {sample.exit_code}")
    for line in log_path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # the start banner
        if record.get("action") in {"tick", "pass_failed", "heartbeat_failed"}:
            sample.problems.append(f"{record['action']}: {line[:200]}")
        elif record.get("level") in {"ERROR", "CRITICAL"}:
            sample.problems.append(line[:200])


def watch(sample: Sample, process: subprocess.Popen[bytes], path: Path, passes: int) -> int:
    """Poll the heartbeat row; sample memory after the first pass and after ``passes`` more."""
    deadline = time.monotonic() + START_TIMEOUT
    last = None
    while last is None:
        if process.poll() is not None:
            raise SystemExit(f"dripsms worker ({sample.pending:,} pending) ended at start")
        if time.monotonic() > deadline:
            raise SystemExit(f"dripsms worker ({sample.pending:,} pending): no pass in time")
        time.sleep(0.01)
        last = heartbeat(path)
    sample.first_rss = status(process.pid)["VmRSS"]
    started, seen = time.monotonic(), 0
    deadline = started + START_TIMEOUT
    while seen < passes:
        if process.poll() is not None:
            raise SystemExit(f"dripsms worker ({sample.pending:,} pending) ended early")
        if time.monotonic() > deadline:
            raise SystemExit(f"dripsms worker ({sample.pending:,} pending): {seen} passes")
        time.sleep(0.01)
        beat = heartbeat(path)
        if beat is not None and beat != last:
            seen, last = seen + 1, beat
    sample.seconds = time.monotonic() - started
    memory = status(process.pid)
    sample.end_rss, sample.hwm, sample.anon = memory["VmRSS"], memory["VmHWM"], memory["RssAnon"]
    return seen


def mb(kb: int) -> str:
    return fmt(kb / 1024, 1)


def run(sizes: list[int], passes: int, poll: float) -> list[str]:
    started = time.perf_counter()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    loaded = load_file(ROOT / SEQUENCE_FILE)
    samples: list[Sample] = []
    with tempfile.TemporaryDirectory(prefix="dripsms-rss-bench-") as tmp:
        directory = Path(tmp)
        sequences = directory / "sequences"
        sequences.mkdir()
        shutil.copy(ROOT / SEQUENCE_FILE, sequences / SEQUENCE_FILE.name)
        sandbox = Sandbox()
        with SandboxServer(sandbox) as server:
            for n in sizes:
                path = directory / f"pending-{n}.db"
                print(f"building a database with {n:,} planned messages...", file=sys.stderr)
                migrated(path)
                sample = Sample(n, populate(path, loaded, n))
                print(f"dripsms worker, {n:,} pending, {passes} passes...", file=sys.stderr)
                env = worker_env(path, sequences, server.base_url, poll)
                run_worker(sample, path, env, passes, directory)
                samples.append(sample)
                path.unlink()
            created = (sandbox.creates, len(sandbox.messages()))
    elapsed = time.perf_counter() - started
    return report(samples, sizes, passes, poll, load, created, elapsed)


def report(
    samples: list[Sample],
    sizes: list[int],
    passes: int,
    poll: float,
    load: float,
    created: tuple[int, int],
    elapsed: float,
) -> list[str]:
    by_size = {s.pending: s for s in samples}
    small = by_size.get(10_000, samples[0])
    large = by_size.get(1_000_000, samples[-1])
    rows = []
    for s in samples:
        rows.append(
            [
                f"**{s.pending:,}**" if s in (small, large) else f"{s.pending:,}",
                f"{s.passes} in {s.seconds:.1f} s",
                mb(s.first_rss),
                mb(s.end_rss),
                mb(s.hwm),
                mb(s.anon),
                f"{s.end_rss / small.end_rss:.2f}x",
                f"{s.hwm / small.hwm:.2f}x",
            ]
        )
    command = (
        f".venv/bin/python bench/rss_bench.py --sizes {','.join(str(n) for n in sizes)} "
        f"--passes {passes} --poll {poll:g}"
    )
    problems = [f"{s.pending:,} pending: {p}" for s in samples for p in s.problems]
    if any(created):
        problems.append(f"the sandbox saw {created[0]} create(s)")
    built = ", ".join(f"{s.pending:,} in {s.build_seconds:.1f} s" for s in samples)
    lines = [
        SECTION,
        "",
        f"Run {system_clock():%Y-%m-%d %H:%M} UTC on {cores()} cores ({cpu_model()}), "
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"SQLite {sqlite3.sqlite_version}, {platform.platform()}, load average {load:.1f} at "
        f"the start. Reproduce: `{command} --write` (`make bench` prints the same tables "
        "without writing).",
        "",
        "Workload: a real `dripsms worker` process (the console script) per database, on "
        "SQLite as dripsms configures it (WAL, `synchronous=FULL`), talking to the sandbox "
        "over HTTP (`DRIPSMS_TWILIO_API_BASE`; the sandbox runs in this script's process), "
        f"default settings but `DRIPSMS_POLL_INTERVAL={poll:g}`. Each database holds the "
        "given number of messages in state `planned`, due a year ahead (5 per enrollment of "
        f"`{SEQUENCE_FILE}`, one contact each; written with raw SQL by `tick_bench.py`'s "
        f"builder: {built}). Memory from `/proc/PID/status`: `VmRSS` once the first pass "
        f"wrote its heartbeat and again after {passes} more passes (the heartbeat row "
        "watched), `VmHWM` (the peak) and `RssAnon` (the heap, without mapped files) at the "
        "end. MB = 2^20 bytes.",
        "",
        f"**Worker RSS with {large.pending:,} pending: {mb(large.end_rss)} MB, "
        f"{large.end_rss / small.end_rss:.2f}x the {mb(small.end_rss)} MB with "
        f"{small.pending:,} (peak {large.hwm / small.hwm:.2f}x).**",
        "",
        *table(
            [
                "pending (planned)",
                "passes",
                "RSS after the 1st pass MB",
                "RSS at the end MB",
                "peak (VmHWM) MB",
                "heap (RssAnon) MB",
                f"RSS ÷ {small.pending:,}",
                f"peak ÷ {small.pending:,}",
            ],
            rows,
        ),
        "",
        "Nothing may happen, since nothing is due: "
        + (
            "every worker logged no `tick` and no failed pass, and stopped with status 0 on SIGTERM"
            if not problems
            else "**it did**: " + "; ".join(problems)
        )
        + f"; the sandbox saw {created[0]} create(s) and holds {created[1]} message(s).",
        "",
        f"The whole benchmark took {elapsed:.0f} s.",
        "",
    ]
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--sizes", default="0,10000,1000000",
        help="pending (planned) messages of each database, comma-separated",
    )  # fmt: skip
    parser.add_argument("--passes", type=int, default=20, help="passes after the first")
    parser.add_argument("--poll", type=float, default=0.25, help="DRIPSMS_POLL_INTERVAL, s")
    parser.add_argument("--write", action="store_true", help=f"update {SECTION!r} in results.md")
    args: Any = parser.parse_args(argv)
    try:
        sizes = [int(n) for n in args.sizes.split(",")]
    except ValueError:
        parser.error("--sizes: whole numbers, comma-separated")
    if not sizes or any(n < 0 for n in sizes) or args.passes < 1 or args.poll <= 0:
        parser.error("--sizes must be ≥ 0, --passes ≥ 1, --poll > 0")
    if not Path("/proc/self/status").exists():
        raise SystemExit("rss_bench.py reads /proc/PID/status: Linux only")
    section = run(sizes, args.passes, args.poll)
    print("\n".join(section))
    if args.write:
        write_section(SECTION, section)
        print(f"wrote {SECTION!r} to {RESULTS.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
