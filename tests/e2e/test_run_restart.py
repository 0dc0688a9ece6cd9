"""``dripsms run`` started twice on one database: the second run's sandbox mints new SIDs,
so its dispatcher hands off and keeps running, and its per-run token signs the callbacks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import Engine, select
from tests.e2e.conftest import ONE_STEP_SEQUENCE

from dripsms.store.database import connect, upgrade
from dripsms.store.tables import messages
from dripsms.testing import free_port

TOKEN = "run-twice-token"
banners: list[str] = []
"""What each server printed on stderr, in order."""


def wait_for(
    what: str, check: Callable[[], Any], process: subprocess.Popen[str], timeout: float = 30
) -> Any:
    """Poll ``check`` until it is truthy; fail with the server's output if it never is."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _, stderr = process.communicate()
            raise AssertionError(f"dripsms run exited while waiting for {what}:\n{stderr[-3000:]}")
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def dripsms_run(
    tmp_path: Path, database_url: str, command: str = "run", **more: str
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``dripsms run`` (or ``serve``) on a free port, without credentials unless given."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DRIPSMS_", "TWILIO_"))}
    env.update(
        DRIPSMS_DATABASE_URL=database_url, DRIPSMS_SEQUENCES_DIR=str(tmp_path / "sequences"),
        DRIPSMS_API_TOKENS=TOKEN, DRIPSMS_PUBLIC_URL=url, DRIPSMS_POLL_INTERVAL="0.1",
        DRIPSMS_RATE_LIMIT="1000", COLUMNS="300", **more,
    )  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "dripsms", command, "--port", str(port)], cwd=tmp_path, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for("/healthz", lambda: _up(url), process)
        yield url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            _, stderr = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
        banners.append(stderr)


def _up(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def enroll(url: str, phone: str) -> int:
    answer = requests.post(
        f"{url}/v1/enrollments", json={"sequence": "now", "phone": phone, "name": "Ada"},
        headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10,
    )  # fmt: skip
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def message_of(engine: Engine, enrollment_id: int) -> tuple[str | None, str]:
    with engine.connect() as connection:
        row = connection.execute(
            select(messages.c.sid, messages.c.state).where(
                messages.c.enrollment_id == enrollment_id
            )
        ).one()
    return row.sid, row.state


def delivered(engine: Engine, enrollment_id: int) -> str | None:
    """The message's SID once the sandbox's signed callbacks said it was delivered."""
    sid, state = message_of(engine, enrollment_id)
    return sid if state == "delivered" else None


def test_a_second_run_on_the_same_database_hands_off_and_keeps_running(tmp_path: Path) -> None:
    (tmp_path / "sequences").mkdir()
    (tmp_path / "sequences" / "now.yaml").write_text(ONE_STEP_SEQUENCE)
    database_url = f"sqlite:///{tmp_path / 'dripsms.db'}"
    engine = connect(database_url)
    upgrade(engine)
    try:
        with dripsms_run(tmp_path, database_url) as (url, process):
            first = enroll(url, "+14155550101")
            # Delivered means: handed off, and the callbacks signed with this run's token
            # were accepted by /twilio/status.
            first_sid = wait_for(
                "the first run's message", lambda: delivered(engine, first), process
            )
        with dripsms_run(tmp_path, database_url) as (url, process):
            second = enroll(url, "+14155550102")
            second_sid = wait_for(
                "the second run's message", lambda: delivered(engine, second), process
            )
            # The dispatcher survived its first handoff: a later enrollment goes out too.
            third = enroll(url, "+14155550103")
            third_sid = wait_for("a later message", lambda: delivered(engine, third), process)
            assert process.poll() is None
            home = requests.get(f"{url}/", timeout=10)  # what a person opens after a restart
            assert home.status_code == 200, home.text
            assert home.headers["content-type"].startswith("text/html")
            assert 'Health: <span class="ok">ok</span>' in home.text
        assert len({first_sid, second_sid, third_sid}) == 3
        assert "webhooks: X-Twilio-Signature checked" in banners[-1]
        assert f"listening on {url}: open {url}/ in a browser" in banners[-1]
    finally:
        engine.dispose()


def test_serve_with_an_api_key_and_no_auth_token_refuses_webhooks(tmp_path: Path) -> None:
    (tmp_path / "sequences").mkdir()
    database_url = f"sqlite:///{tmp_path / 'dripsms.db'}"
    engine = connect(database_url)
    upgrade(engine)
    engine.dispose()
    credentials = {
        "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
        "TWILIO_API_KEY": "SK" + "2" * 32,
        "TWILIO_API_SECRET": "secret",
    }
    with dripsms_run(tmp_path, database_url, "serve", **credentials) as (url, _):
        answer = requests.post(
            f"{url}/twilio/inbound", data={"MessageSid": "SM" + "3" * 32, "From": "+14155550100",
            "Body": "STOP"}, headers={"X-Twilio-Signature": "x"}, timeout=10,
        )  # fmt: skip
        assert answer.status_code == 503
        assert "set TWILIO_AUTH_TOKEN" in answer.json()["error"]["message"]
    banner = " ".join(banners[-1].split())
    assert "webhooks refused (503)" in banner
    assert "an API key cannot check Twilio's signatures" in banner
    assert f"listening on {url}" in banner
