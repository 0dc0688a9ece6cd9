"""The dispatcher survives what ends a pass: a held SQLite write lock under ``dripsms run``,
a lost PostgreSQL connection; ``run`` stops serving when its dispatcher dies."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import requests
from sqlalchemy import select, text

from dripsms.cli.engine import _listening, _serve_while_dispatching, _server
from dripsms.engine.supervisor import DispatcherHealth
from dripsms.runtime import Runtime
from dripsms.settings import Settings
from dripsms.store import heartbeats
from dripsms.store.database import connect, upgrade
from dripsms.store.tables import messages
from dripsms.testing import free_port

TOKEN = "supervisor-test-token"
PHONE = "+14155550123"
LATER_BODY = "Your knee check-in tomorrow, Zephyrine"
# The step enters the scheduling window (horizon 17m20s minus a 30 s margin) 10 s after
# enrollment: while the test holds the write lock. It is handed off after the lock.
SEQUENCE = f"""key: lock
name: Lock
timezone: UTC
send_window: {{start: "00:00", end: "24:00"}}
steps:
  - id: later
    at: {{minutes: 17}}
    body: "{LATER_BODY}"
"""


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def status_of(url: str) -> int | None:
    try:
        return requests.get(url, timeout=5).status_code
    except requests.RequestException:
        return None


def test_run_survives_a_held_write_lock_and_healthz_tells(tmp_path: Path) -> None:
    (tmp_path / "lock.yaml").write_text(SEQUENCE)
    db = tmp_path / "dripsms.db"
    engine = connect(f"sqlite:///{db}")
    upgrade(engine)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DRIPSMS_", "TWILIO_"))}
    env.update(
        DRIPSMS_DATABASE_URL=f"sqlite:///{db}", DRIPSMS_SEQUENCES_DIR=str(tmp_path),
        DRIPSMS_PUBLIC_URL=base, DRIPSMS_API_TOKENS=TOKEN, DRIPSMS_POLL_INTERVAL="0.2",
        DRIPSMS_HEALTH_STALE_PASSES="5", DRIPSMS_HEALTH_STALE_MIN="2",
        DRIPSMS_HORIZON="17m20s", DRIPSMS_WINDOW_MARGIN="30s", DRIPSMS_LOG_LEVEL="INFO",
    )  # fmt: skip
    lines: list[str] = []
    with subprocess.Popen(
        [sys.executable, "-m", "dripsms", "run", "--port", str(port)], cwd=tmp_path, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    ) as run:  # fmt: skip
        assert run.stderr is not None
        reader = threading.Thread(target=lambda: lines.extend(run.stderr or ()), daemon=True)
        reader.start()
        try:
            wait_until(lambda: status_of(f"{base}/healthz") == 200, 30, "dripsms run to start")
            enrolled = requests.post(
                f"{base}/v1/enrollments", timeout=10, headers={"Authorization": f"Bearer {TOKEN}"},
                json={"sequence": "lock", "phone": PHONE},
            )  # fmt: skip
            assert enrolled.status_code == 201, enrolled.text

            lock = sqlite3.connect(db, isolation_level=None)
            lock.execute("BEGIN IMMEDIATE")  # a backup, a long import: the write lock held
            during: list[int | None] = []
            held_until = time.monotonic() + 15
            while time.monotonic() < held_until:
                during.append(status_of(f"{base}/healthz"))
                time.sleep(0.5)
            stale = requests.get(f"{base}/healthz", timeout=5).json()
            lock.execute("COMMIT")
            lock.close()

            wait_until(lambda: status_of(f"{base}/healthz") == 200, 30, "/healthz to recover")
            healthy = requests.get(f"{base}/healthz", timeout=5).json()
            metrics = requests.get(f"{base}/metrics", timeout=5).text

            def handed_off() -> bool:
                with engine.connect() as connection:
                    row = connection.execute(select(messages.c.state, messages.c.sid)).one()
                return row.state == "scheduled" and row.sid is not None

            wait_until(handed_off, 30, "the message to be handed off after the lock")
            with engine.connect() as connection:
                beats = heartbeats.recent(connection)
            assert run.poll() is None, "dripsms run exited"
        finally:
            run.send_signal(signal.SIGTERM)
            run.wait(timeout=30)
            reader.join(timeout=10)
    engine.dispose()
    log = "".join(lines)
    (tmp_path / "run.log").write_text(log)
    assert 503 in during, (during, log[-3000:])
    assert during[0] == 200  # the lock was taken after a good pass
    assert stale["checks"]["dispatcher"]["ok"] is False
    assert stale["checks"]["dispatcher"]["last_error"] == "OperationalError"
    assert stale["checks"]["database"]["ok"] is True  # reads do not wait for the lock
    assert healthy["checks"]["dispatcher"]["consecutive_failures"] == 0
    errors = re.search(
        r'dripsms_dispatcher_pass_errors_total\{error="OperationalError"\} (\d+)', metrics
    )
    assert errors is not None and float(errors.group(1)) >= 1
    assert run.returncode == 0, log[-3000:]
    [beat] = beats  # the worker's heartbeat, for a `dripsms serve` elsewhere
    assert beat.details["failed_passes"] >= 1
    assert "action=pass_failed" in log
    assert 'reason="database is locked"' in log
    assert "action=pass_recovered" in log
    assert "action=tick" in log
    assert "POST /v1/enrollments HTTP/1.1" in log  # access lines are logged
    # health data stays out of the log: no number in any form, no body
    digits = PHONE[1:]
    assert not any(form in log for form in (PHONE, digits, digits[1:], "555-0123", "5550123"))
    assert LATER_BODY not in log and "Zephyrine" not in log


def test_run_stops_serving_and_reports_when_its_dispatcher_dies(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'd.db'}", sequences_dir=tmp_path)
    runtime = Runtime(settings, lambda: None)  # type: ignore[arg-type,return-value]
    from dripsms.web.app import create_app

    server = _server(create_app(runtime), "127.0.0.1", 0)
    stop = threading.Event()

    def dies() -> None:
        while not server.started:
            time.sleep(0.01)
        raise SystemExit("a dispatcher thread that ends")

    died: list[bool] = []
    serving = threading.Thread(
        target=lambda: died.append(
            _serve_while_dispatching(server, _listening("127.0.0.1", 0), dies, stop)
        )
    )
    serving.start()  # in a thread only so that a server that keeps serving fails the test
    serving.join(timeout=20)
    stopped_by_itself = not serving.is_alive()
    server.should_exit = True  # only to clean up after a failure
    serving.join(timeout=20)
    assert stopped_by_itself, "the server kept serving with a dead dispatcher"
    assert died == [True]
    assert stop.is_set()


def test_a_normal_stop_is_not_reported_as_a_death(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'd.db'}", sequences_dir=tmp_path)
    from dripsms.web.app import create_app

    server = _server(create_app(Runtime(settings, lambda: None)), "127.0.0.1", 0)  # type: ignore[arg-type,return-value]
    stop = threading.Event()
    health = DispatcherHealth(lambda: None)  # type: ignore[arg-type,return-value]

    def dispatch() -> None:
        health.started()
        while not server.started:
            time.sleep(0.01)
        server.should_exit = True  # as SIGTERM does
        stop.wait()

    sock = _listening("127.0.0.1", 0)
    assert _serve_while_dispatching(server, sock, dispatch, stop) is False


def test_no_request_sees_a_dispatcher_that_is_only_starting(tmp_path: Path) -> None:
    """A probe that connects while the dispatcher is still being built waits, then gets 200:
    never a 503 "not running" from a process that is merely starting."""
    from dripsms.clock import system_clock
    from dripsms.web.app import create_app

    engine = connect(f"sqlite:///{tmp_path / 'd.db'}")
    upgrade(engine)
    settings = Settings(database_url=str(engine.url), sequences_dir=tmp_path)
    runtime = Runtime(settings, system_clock)
    health = DispatcherHealth(system_clock)
    runtime.dispatcher_health = health
    server = _server(create_app(runtime), "127.0.0.1", 0)
    stop, go = threading.Event(), threading.Event()

    def dispatch() -> None:  # a dispatcher slow to build: it starts only on `go`
        go.wait()
        health.started()
        health.passed()
        stop.wait()

    sock = _listening("127.0.0.1", 0)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/healthz"
    answers: list[int | None] = []
    probed = threading.Event()

    def probe() -> None:
        answers.append(status_of(url))
        probed.set()

    def serve() -> None:
        _serve_while_dispatching(server, sock, dispatch, stop, ready=health.ready)

    serving = threading.Thread(target=serve)
    serving.start()
    prober = threading.Thread(target=probe)
    prober.start()
    probed.wait(2)  # without the guard the 503 comes back here, before the dispatcher starts
    go.set()
    prober.join()
    assert answers == [200]
    server.should_exit = True
    serving.join(10)
    engine.dispose()


def test_a_lost_postgresql_connection_is_replaced_before_the_next_pass(postgres_url: str) -> None:
    engine = connect(postgres_url)
    upgrade(engine)
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))  # one pooled connection
        pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
    admin = connect(postgres_url)
    with admin.connect() as connection:
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        connection.commit()
    admin.dispose()
    # The pooled connection is dead (a server restart, a failover); the next pass must not fail.
    with engine.connect() as connection:
        assert connection.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
    engine.dispose()


def test_run_on_a_port_in_use_says_so_and_starts_nothing(tmp_path: Path) -> None:
    taken = _listening("127.0.0.1", 0)
    port = taken.getsockname()[1]
    env = {
        **os.environ, "DRIPSMS_DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}",
        "DRIPSMS_SEQUENCES_DIR": str(tmp_path),
    }  # fmt: skip
    try:
        ran = subprocess.run(
            [sys.executable, "-m", "dripsms", "run", "--port", str(port)], env=env,
            capture_output=True,
            text=True, timeout=60, check=False,
        )  # fmt: skip
    finally:
        taken.close()
    assert ran.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in ran.stderr
    assert "Traceback" not in ran.stderr
    assert "dripsms run: talking to" not in ran.stderr  # nothing started
