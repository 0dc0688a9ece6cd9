"""Scale-out on PostgreSQL: several ``dripsms worker`` PROCESSES on one database, against the
sandbox over HTTP with latency and faults, hand every message off exactly once; a
PostgreSQL server restarted mid-run loses nothing, and the workers resume by themselves.

The sandbox counts the creates it processed per (to, body): every body names its contact,
so a duplicate send is a count above one.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from exactly_once import AT_TWILIO, UNFINISHED
from sqlalchemy import Engine, func, select
from tests.e2e.conftest import ONE_STEP_SEQUENCE

from dripsms.clock import system_clock
from dripsms.core.planning import EnrollmentRequest
from dripsms.engine.enrollment import Enroller, lines
from dripsms.engine.library import SequenceLibrary
from dripsms.sandbox import CallKind, FaultConfig, FaultRule, Sandbox, SandboxServer
from dripsms.sandbox.callbacks import StatusCallback
from dripsms.store import heartbeats
from dripsms.store.database import connect, upgrade
from dripsms.store.tables import contacts, enrollments, events, messages

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

REQUEST_TIMEOUT = 0.5
FLAKY_CREATES = FaultRule(
    latency_ms=5,
    error_before=0.02,  # 500, nothing created
    error_after=0.02,  # 500, the message exists: reconciled by a listing
    rate_limited=0.02,  # 429, nothing created
    timeout_after=0.01,  # created, the answer held past the client's timeout
    delay_seconds=REQUEST_TIMEOUT + 0.3,
)
FLAKY_LISTINGS = FaultRule(
    error_before=0.05, timeout_after=0.02, delay_seconds=REQUEST_TIMEOUT + 0.3
)


class NoCallbacks:
    """Status callbacks go nowhere: these tests count creates, not deliveries."""

    def deliver(self, callbacks: Sequence[StatusCallback]) -> None:
        pass

    def close(self) -> None:
        pass


def enroll_due(url: str, folder: Path, count: int) -> None:
    """``count`` contacts enrolled two minutes ago: each one's text is due now."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "now.yaml").write_text(ONE_STEP_SEQUENCE)  # enrolled two minutes ago: due now
    engine = connect(url)
    enroller = Enroller(engine, SequenceLibrary(folder))
    then = system_clock() - timedelta(minutes=2)
    for start in range(0, count, 5_000):
        requests_ = [
            EnrollmentRequest("now", f"+1415{4_000_000 + i:07d}", attributes={"name": f"c{i:06d}"})
            for i in range(start, min(count, start + 5_000))
        ]
        assert not enroller.enroll_batch(lines(requests_), now=then).refused
    engine.dispose()


def worker_env(url: str, folder: Path, api_base: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DRIPSMS_", "TWILIO_"))}
    env.update(
        DRIPSMS_DATABASE_URL=url, DRIPSMS_SEQUENCES_DIR=str(folder),
        DRIPSMS_TWILIO_API_BASE=api_base, DRIPSMS_PUBLIC_URL="http://127.0.0.1:9",
        DRIPSMS_RATE_LIMIT="100000", DRIPSMS_CONCURRENCY="8", DRIPSMS_BATCH_SIZE="50",
        DRIPSMS_POLL_INTERVAL="0.5", DRIPSMS_REQUEST_TIMEOUT=str(REQUEST_TIMEOUT),
        DRIPSMS_RECONCILE_AFTER="2s", DRIPSMS_LEASE="60s", DRIPSMS_LOG_LEVEL="WARNING",
    )  # fmt: skip
    env.update(extra)
    return env


@dataclass
class Process:
    popen: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def processes(
    command: list[str], count: int, env: dict[str, str], logs: Path
) -> Iterator[list[Process]]:
    """``count`` copies of ``command``, stopped with SIGTERM (and waited for) on the way out.
    Their stderr goes to files: a pipe nobody reads would block them."""
    started: list[Process] = []
    try:
        for i in range(count):
            log = logs / f"{command[0]}-{i}.log"
            with log.open("wb") as sink:
                popen = subprocess.Popen(
                    [sys.executable, "-m", "dripsms", *command], cwd=logs, env=env,
                    stdout=subprocess.DEVNULL, stderr=sink,
                )  # fmt: skip
            started.append(Process(popen, log))
        yield started
    finally:
        for process in started:
            if process.popen.poll() is None:
                process.popen.send_signal(signal.SIGTERM)
        for process in started:
            try:
                process.popen.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.popen.kill()
                process.popen.wait()


def count_unfinished(engine: Engine) -> int:
    with engine.connect() as connection:
        query = select(func.count()).where(messages.c.state.in_(UNFINISHED))
        return int(connection.execute(query).scalar_one())


def wait_until(
    check: Callable[[], bool], timeout: float, what: str, workers: list[Process]
) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        for process in workers:
            assert process.popen.poll() is None, f"a worker died:\n{process.output()[-3000:]}"
        assert time.monotonic() < deadline, f"timed out: {what}"
        time.sleep(0.2)


def assert_each_handed_off_once(engine: Engine, sandbox: Sandbox, total: int) -> None:
    """Every row at Twilio with its own SID; the sandbox created each (to, body) once."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(messages.c.state, messages.c.sid, messages.c.body, contacts.c.phone)
            .join(enrollments, enrollments.c.id == messages.c.enrollment_id)
            .join(contacts, contacts.c.id == enrollments.c.contact_id)
        ).all()  # fmt: skip
    assert len(rows) == total
    assert {r.state for r in rows} <= AT_TWILIO, {r.state for r in rows}
    created = sandbox.creates_by_recipient()
    duplicates = {key: n for key, n in created.items() if n > 1}
    assert not duplicates, f"{len(duplicates)} sent more than once, e.g. {list(duplicates)[:3]}"
    assert sandbox.creates == len(created) == total
    assert set(created) == {(r.phone, r.body) for r in rows}
    by_sid = {m.sid: (m.to, m.body) for m in sandbox.messages()}
    assert len({r.sid for r in rows}) == total
    assert all(by_sid[r.sid] == (r.phone, r.body) for r in rows)


def test_four_worker_processes_hand_20000_messages_off_exactly_once_through_faults(
    postgres_url: str, tmp_path: Path
) -> None:
    total = 20_000
    engine = connect(postgres_url)
    upgrade(engine)
    enroll_due(postgres_url, tmp_path / "sequences", total)
    faults = FaultConfig(
        seed=7, rules={CallKind.CREATE: FLAKY_CREATES, CallKind.LIST: FLAKY_LISTINGS}
    )
    sandbox = Sandbox(faults=faults, callback_sink=NoCallbacks())
    with SandboxServer(sandbox, follow_real_time=True) as server:
        env = worker_env(postgres_url, tmp_path / "sequences", server.base_url)
        with processes(["worker"], 4, env, tmp_path) as workers:
            wait_until(
                lambda: count_unfinished(engine) == 0, 900, "handing everything off", workers
            )
        for process in workers:  # each stopped cleanly on SIGTERM
            assert process.popen.returncode == 0, process.output()[-3000:]
    logs = "".join(process.output() for process in workers)
    assert_each_handed_off_once(engine, sandbox, total)
    with engine.connect() as connection:
        leased = connection.execute(
            select(func.count()).where(messages.c.lease_owner.is_not(None))
        ).scalar_one()
        causes = dict(
            connection.execute(select(events.c.cause, func.count()).group_by(events.c.cause)).all()
        )
        beats = heartbeats.recent(connection)
    assert leased == 0  # every lease released
    assert len(beats) == 4  # four processes each passed over the one database
    # The faults happened: answers were lost and the creates found again at the sandbox.
    assert causes.get("reconciled", 0) > 0, causes
    assert causes.get("outcome_unknown", 0) > 0, causes
    assert "Traceback" not in logs, logs[-3000:]
    engine.dispose()


# -- a PostgreSQL server of our own, restarted mid-run ------------------------------------


def _bindir() -> Path:
    found = shutil.which("pg_config")
    if found:
        candidate = subprocess.run([found, "--bindir"], capture_output=True, text=True).stdout
        if (Path(candidate.strip()) / "initdb").exists():
            return Path(candidate.strip())
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    if not versions:
        pytest.fail("no PostgreSQL binaries: run scripts/test-postgres.sh once to install them")
    return versions[-1]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    """A throwaway PostgreSQL server (the binaries and options of scripts/test-postgres.sh)."""

    bindir: Path
    directory: Path
    port: int

    def _ctl(self, *args: str) -> None:
        command = [str(self.bindir / "pg_ctl"), "-D", str(self.directory), *args]
        if os.getuid() == 0:  # initdb and postgres refuse to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._ctl("-l", str(self.directory / "server.log"), "-w", "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        self._ctl("-m", mode, "-w", "stop")


@contextmanager
def dedicated_postgres() -> Iterator[Server]:
    """Started here, stopped and deleted on the way out: restarting it disturbs no other test."""
    bindir = _bindir()
    directory = Path(tempfile.mkdtemp(prefix="dripsms-restart-pg-"))
    try:
        initdb = [str(bindir / "initdb"), "-D", str(directory), "-A", "trust", "-U", "dripsms",
                  "--no-sync", "-E", "UTF8"]  # fmt: skip
        if os.getuid() == 0:
            subprocess.run(["id", "postgres"], check=True, capture_output=True)
            shutil.chown(directory, "postgres")
            initdb = ["runuser", "-u", "postgres", "--", *initdb]
        subprocess.run(initdb, check=True, capture_output=True, timeout=120)
        server = Server(bindir, directory, _free_port())
        server.start()
        try:
            yield server
        finally:
            server.stop("immediate")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _health(url: str) -> tuple[int, bool]:
    answer = requests.get(f"{url}/healthz", timeout=10)
    return answer.status_code, bool(answer.json()["checks"]["database"]["ok"])


def test_a_postgresql_restart_mid_run_loses_nothing_and_workers_resume(tmp_path: Path) -> None:
    total, password = 3_000, "pw-never-logged"
    with ExitStack() as stack:
        server = stack.enter_context(dedicated_postgres())
        # trust authentication ignores the password: it is there to be looked for in the logs
        url = f"postgresql+psycopg://dripsms:{password}@127.0.0.1:{server.port}/postgres"
        engine = connect(url)
        upgrade(engine)
        enroll_due(url, tmp_path / "sequences", total)
        slow = FaultRule(latency_ms=20, error_after=0.02)
        sandbox = Sandbox(faults=FaultConfig(seed=3, rules={CallKind.CREATE: slow}),
                          callback_sink=NoCallbacks())  # fmt: skip
        sandbox_server = stack.enter_context(SandboxServer(sandbox, follow_real_time=True))
        env = worker_env(url, tmp_path / "sequences", sandbox_server.base_url, DRIPSMS_LEASE="20s")
        web_port = _free_port()
        web = stack.enter_context(processes(["serve", "--port", str(web_port)], 1, env, tmp_path))
        workers = stack.enter_context(processes(["worker"], 3, env, tmp_path))
        web_url = f"http://127.0.0.1:{web_port}"

        def healthy() -> bool:
            try:
                return _health(web_url) == (200, True)
            except requests.ConnectionError:
                return False

        wait_until(healthy, 60, "dripsms serve answering", web + workers)
        wait_until(lambda: sandbox.creates >= total // 4, 300, "a quarter handed off", workers)

        server.stop("fast")  # connections dropped mid-pass, calls in flight
        down_at = time.monotonic()
        assert _health(web_url) == (503, False)  # /healthz says the database is down
        wait_until(
            lambda: any("dispatcher pass failed" in w.output() for w in workers), 60,
            "a worker noticing the database is gone", workers,
        )  # fmt: skip
        time.sleep(max(0.0, 3 - (time.monotonic() - down_at)))  # a few failed passes
        creates_while_down = sandbox.creates
        server.start()
        up_at = time.monotonic()

        # Workers resume handing off by themselves within 30 s; /healthz recovers.
        in_flight = 3 * 8
        wait_until(
            lambda: sandbox.creates > creates_while_down + in_flight, 30,
            "workers resuming within 30 s of the server coming back", workers,
        )  # fmt: skip
        resumed_after = time.monotonic() - up_at
        wait_until(healthy, 30, "/healthz recovering", web)
        wait_until(lambda: count_unfinished(engine) == 0, 600, "handing everything off", workers)

        assert_each_handed_off_once(engine, sandbox, total)
        engine.dispose()
    logs = "".join(process.output() for process in workers + web)
    assert resumed_after < 30
    assert password not in logs  # the DSN's password is never logged
    assert "Traceback" not in logs, logs[-3000:]
    for process in workers:
        assert process.popen.returncode == 0, process.output()[-3000:]
    # uvicorn ends on SIGTERM by raising the signal again
    assert web[0].popen.returncode in (0, -signal.SIGTERM), web[0].output()[-3000:]
