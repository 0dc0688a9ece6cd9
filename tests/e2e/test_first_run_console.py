"""The first five minutes: from what a fresh clone has (the ``sequences/`` folder and the
installed venv), ``make run``'s commands answer on ``/console/login`` within 120 s, the
banner names the first admin and a one-time password, and that admin signs in over HTTP."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests
from tests.console.conftest import CSRF

from dripsms.testing import free_port

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
BUDGET = 120.0
"""Seconds from the first command to a console that answers."""
PHONE = "+14155550100"
BANNER = re.compile(r"console: sign in at (\S+) as (\S+) with password (\S+) \(shown this once")


def _environment(home: Path) -> dict[str, str]:
    """The user's environment, without any dripsms or Twilio setting (a fresh clone has none)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DRIPSMS_", "TWILIO_"))}
    env.update(HOME=str(home), COLUMNS="300")
    return env


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def test_make_runs_commands_answer_and_the_first_admin_signs_in(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    shutil.copytree(REPO / "sequences", clone / "sequences")
    env = _environment(tmp_path)
    dripsms = str(BIN / "dripsms")
    started = time.monotonic()
    for command in (["validate", "sequences"], ["db", "upgrade"]):  # as `make run` does
        done = subprocess.run(
            [dripsms, *command], cwd=clone, env=env, capture_output=True, text=True, timeout=BUDGET
        )  # fmt: skip
        assert done.returncode == 0, f"dripsms {' '.join(command)}:\n{done.stderr[-3000:]}"

    port = free_port()
    stderr_path = tmp_path / "run.stderr"
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            [dripsms, "run", "--port", str(port)], cwd=clone, env=env,
            stdout=subprocess.DEVNULL, stderr=stderr, text=True,
        )  # fmt: skip
    try:
        login = f"http://127.0.0.1:{port}/console/login"
        while not _answers(login):
            elapsed = time.monotonic() - started
            assert process.poll() is None, f"dripsms run exited:\n{stderr_path.read_text()}"
            assert elapsed < BUDGET, f"no console after {elapsed:.0f} s:\n{stderr_path.read_text()}"
            time.sleep(0.1)  # a real process starting: there is no clock to pass it
        banner = BANNER.search(stderr_path.read_text())
        assert banner, stderr_path.read_text()
        console_url, email, password = banner.groups()
        assert console_url == f"http://127.0.0.1:{port}/console/"

        browser = requests.Session()
        token = CSRF.search(browser.get(login, timeout=10).text)
        assert token
        form = {"email": email, "password": password, "csrf_token": token.group(1),
                "next": "/console/"}  # fmt: skip
        signed = browser.post(login, data=form, timeout=10)
        assert signed.status_code == 200, signed.text
        assert signed.url == console_url  # the form led to the overview
        assert f"{email} (admin)" in signed.text
        assert browser.get(console_url, timeout=10).status_code == 200
        for path in (f"contacts/{PHONE}", f"contacts/%2B{PHONE[1:]}", f"sandbox?phone={PHONE}"):
            assert browser.get(console_url + path, timeout=10).status_code < 500, path
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    log = stderr_path.read_text()
    assert process.returncode == 0, log
    assert "GET /console/" in log  # the access lines are there, with the phones masked
    assert PHONE[2:] not in log
    assert password not in (clone / "dripsms.db").read_bytes().decode("latin-1")
