"""``dripsms demo --json``: three patients through the post-op example on a virtual clock
in under 30 s — an escalation, an opt-out canceled at the sandbox, a no-reply alert — and
the database left for the console."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from dripsms.store.database import connect
from dripsms.store.tables import enrollments
from dripsms.store.virtual_clock import saved


def demo(tmp_path: Path, *args: str, **more: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DRIPSMS_", "TWILIO_"))}
    env.update(DRIPSMS_DATABASE_URL=f"sqlite:///{tmp_path / 'demo.db'}", COLUMNS="200", **more)
    return subprocess.run(
        [sys.executable, "-m", "dripsms", "demo", *args], capture_output=True, text=True,
        cwd=tmp_path, env=env, timeout=120, check=False,
    )  # fmt: skip


def test_the_demo_reaches_its_three_outcomes_in_under_30_seconds(tmp_path: Path) -> None:
    began = time.monotonic()
    result = demo(tmp_path, "--json", DRIPSMS_NOW="2026-03-06T15:00:00Z")
    took = time.monotonic() - began
    assert result.returncode == 0, result.stderr[-3000:]
    assert took < 30, f"the demo took {took:.1f} s"
    report = json.loads(result.stdout)
    assert report["ok"] is True
    ada, ben, cleo = report["patients"]

    assert (ada["name"], ada["outcome"], ada["outcome_reached"]) == ("Ada", "escalated", True)
    assert ada["alerts"] == 1
    [score] = [e for e in ada["timeline"] if e["what"] == "reply"]
    assert (score["kind"], score["step"], score["value"]) == ("matched", "day1", 8)
    day3 = {e["step"]: e["state"] for e in ada["timeline"] if e["what"] == "sent"}
    assert (day3["day3"], day3["day3_escalated"]) == ("skipped", "delivered")

    assert (ben["outcome"], ben["outcome_reached"], ben["opted_out"]) == ("opted_out", True, True)
    assert ben["canceled_at_sandbox"] >= 1
    assert ben["alerts"] == 0
    assert any(e["what"] == "reply" and e["body"] == "STOP" for e in ben["timeline"])

    assert (cleo["outcome"], cleo["outcome_reached"]) == ("no_reply_alert", True)
    assert cleo["alerts"] == 1
    assert not [e for e in cleo["timeline"] if e["what"] == "reply"]

    # The database is left for the console, and `dripsms run` resumes the clock after it.
    engine = connect(f"sqlite:///{tmp_path / 'demo.db'}")
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(enrollments)).scalar() == 3
    position = saved(engine)
    engine.dispose()
    assert position is not None
    assert position.isoformat().replace("+00:00", "Z") == report["end"]

    again = demo(tmp_path)  # the same patients cannot be enrolled twice
    assert again.returncode == 2
    assert "already holds the demo's patients" in again.stderr
    assert "Traceback" not in again.stderr


def test_the_demo_refuses_twilio_credentials(tmp_path: Path) -> None:
    refused = demo(
        tmp_path, TWILIO_ACCOUNT_SID="AC" + "1" * 32, TWILIO_AUTH_TOKEN="f" * 32,
        DRIPSMS_MESSAGING_SERVICE_SID="MG" + "1" * 32,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "refuses Twilio credentials" in refused.stderr
    assert not (tmp_path / "demo.db").exists()
    assert "Traceback" not in refused.stderr
