"""``dripsms run`` in sandbox mode: one virtual clock that ``dripsms clock`` moves (the
sandbox sends what came due, the dispatcher runs at once), ``dripsms sandbox reply`` texts
through Twilio's signed webhook, a restart resumes the clock, a wrong token is refused."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from tests.e2e.test_run_restart import banners, dripsms_run, wait_for

from dripsms.clock import parse_instant
from dripsms.store.database import connect, upgrade
from dripsms.store.tables import messages, replies

REPO = Path(__file__).resolve().parents[2]
ADA = "+14155550100"
START = "2026-03-07T14:30:00Z"  # a Saturday; day 1 is Sunday 10:00 in New York (14:00Z)


def cli(tmp_path: Path, url: str, *args: str, **more: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DRIPSMS_", "TWILIO_"))}
    env.update(
        DRIPSMS_DATABASE_URL=url, DRIPSMS_SEQUENCES_DIR=str(tmp_path / "sequences"),
        COLUMNS="300", **more,
    )  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "dripsms", *args], capture_output=True, text=True,
        cwd=tmp_path, env=env, timeout=90, check=False,
    )  # fmt: skip


def states(url: str) -> dict[str, str]:
    engine = connect(url)
    try:
        with engine.connect() as connection:
            return {r.step_id: r.state for r in connection.execute(select(messages))}
    finally:
        engine.dispose()


def test_clock_advance_and_a_phone_reply_against_a_running_server(tmp_path: Path) -> None:
    (tmp_path / "sequences").mkdir()
    shutil.copy(REPO / "sequences" / "postop.yaml", tmp_path / "sequences")
    database = tmp_path / "dripsms.db"
    url = f"sqlite:///{database}"
    upgrade(connect(url))
    run_file = tmp_path / "dripsms.db.run.json"

    with dripsms_run(tmp_path, url, DRIPSMS_NOW=START) as (server, process):
        assert stat.S_IMODE(run_file.stat().st_mode) == 0o600
        assert json.loads(run_file.read_text())["url"] == server
        # No DRIPSMS_NOW here: the command takes the running server's virtual clock (on the
        # machine's, every step of a March surgery would be long missed).
        enrolled = cli(
            tmp_path, url, "enroll", "postop", "--phone", ADA, "--tz", "America/New_York",
            "--set", "first_name=Ada", "--anchor", "2026-03-07",
        )  # fmt: skip
        assert enrolled.returncode == 0, enrolled.stderr
        wait_for("day 1 handed off", lambda: states(url).get("day1") == "scheduled", process)

        moved = cli(tmp_path, url, "clock", "advance", "1d", "--json")
        assert moved.returncode == 0, moved.stderr
        now = parse_instant(json.loads(moved.stdout)["now"])
        assert now >= datetime(2026, 3, 8, 14, 30, tzinfo=UTC)
        # The sandbox released day 1 at its SendAt; its callbacks reached dripsms.
        wait_for("day 1 delivered", lambda: states(url)["day1"] == "delivered", process)

        answered = cli(tmp_path, url, "sandbox", "reply", ADA, "8")
        assert answered.returncode == 0, answered.stderr
        assert "delivered to dripsms (webhook answered 200)" in answered.stdout
        assert "A score of 8 is high" in answered.stdout
        engine = connect(url)
        with engine.connect() as connection:
            reply = connection.execute(select(replies)).one()
        engine.dispose()
        assert (reply.kind, reply.step_id, reply.value) == ("matched", "day1", 8)

        # A month in one move: the clock stops at each due text on the way (a pass at each),
        # so the care team's alert, due when Ada answered, and every step go out on time;
        # one jump would have handed them off past their latest send time (expired).
        month = cli(tmp_path, url, "clock", "advance", "30d")
        assert month.returncode == 0, month.stderr

        def all_out() -> bool:
            now = states(url)
            staff = [state for step, state in now.items() if "#staff" in step]
            steps = [now[s] for s in ("day1", "day3_escalated", "day7", "day30")]
            return staff == ["delivered"] and steps == ["delivered"] * 4

        wait_for("the alert and every step delivered", all_out, process)
        assert "expired" not in states(url).values()

        refused = cli(tmp_path, url, "clock", "show", "--token", "not-the-token")
        assert refused.returncode == 2
        assert "refused the token (401)" in refused.stderr
        assert "Traceback" not in refused.stderr

        shown = cli(tmp_path, url, "clock", "show", "--json")
        assert shown.returncode == 0, shown.stderr
        stopped_at = parse_instant(json.loads(shown.stdout)["now"])

    assert "virtual clock: 2026-03-07 14:30:00 UTC" in banners[-1]
    [console_line] = [line for line in banners[-1].splitlines() if line.startswith("console: ")]
    assert re.search(r"http://127\.0\.0\.1:\d+/console/", console_line)
    assert not run_file.exists()  # removed at exit
    gone = cli(tmp_path, url, "clock", "show")
    assert gone.returncode == 3
    assert "no running `dripsms run` found" in gone.stderr

    # The same DRIPSMS_NOW again: the clock resumes where it stopped, not a day earlier.
    with dripsms_run(tmp_path, url, DRIPSMS_NOW=START):
        shown = cli(tmp_path, url, "clock", "show", "--json")
        assert shown.returncode == 0, shown.stderr
        assert parse_instant(json.loads(shown.stdout)["now"]) >= stopped_at
    assert "resumed where the previous run on this database stopped" in banners[-1]


def test_run_with_twilio_credentials_refuses_dripsms_now(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'dripsms.db'}"
    refused = cli(
        tmp_path, url, "run", DRIPSMS_NOW=START, TWILIO_ACCOUNT_SID="AC" + "1" * 32,
        TWILIO_AUTH_TOKEN="f" * 32, DRIPSMS_MESSAGING_SERVICE_SID="MG" + "1" * 32,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "DRIPSMS_NOW: with Twilio credentials `dripsms run` runs on the machine's clock" in (
        refused.stderr
    )
    assert "Traceback" not in refused.stderr


def test_a_run_file_of_a_server_gone_is_a_clear_message(tmp_path: Path) -> None:
    from dripsms import runfile
    from dripsms.testing import free_port

    url = f"sqlite:///{tmp_path / 'dripsms.db'}"
    gone = runfile.RunFile(url=f"http://127.0.0.1:{free_port()}", token="t", pid=1)
    runfile.write(tmp_path / "dripsms.db.run.json", gone)
    for args in (("clock", "show"), ("clock", "advance", "1d"), ("sandbox", "reply", ADA, "8")):
        answer = cli(tmp_path, url, *args)
        assert answer.returncode == 3, answer.stderr
        assert "cannot reach dripsms at http://127.0.0.1:" in answer.stderr
        assert "Traceback" not in answer.stderr
    bad = cli(tmp_path, url, "clock", "advance", "soon", "--url", gone.url, "--token", "t")
    assert bad.returncode == 2
    assert "DURATION: 'soon' is not a duration" in bad.stderr
