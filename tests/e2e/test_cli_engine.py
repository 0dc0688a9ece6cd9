"""The engine's commands as a user runs them, against a sandbox on a real port."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dripsms.sandbox import Sandbox, SandboxServer

REPO = Path(__file__).resolve().parents[2]
NOW = "2026-03-07T12:00:00Z"


@pytest.fixture
def project(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str], Sandbox]]:
    sandbox = Sandbox()
    sandbox.set_now(datetime(2026, 3, 7, 12, tzinfo=UTC))
    with SandboxServer(sandbox) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DRIPSMS_", "TWILIO_"))}
        env.update(
            COLUMNS="200",
            DRIPSMS_DATABASE_URL=f"sqlite:///{tmp_path / 'dripsms.db'}",
            DRIPSMS_SEQUENCES_DIR=str(REPO / "sequences"),
            DRIPSMS_TWILIO_API_BASE=server.base_url,
            DRIPSMS_PUBLIC_URL="http://127.0.0.1:9",
            DRIPSMS_NOW=NOW,
        )
        yield tmp_path, env, sandbox


def run(
    env: dict[str, str], cwd: Path, *args: str, **more: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dripsms", *args],
        capture_output=True, text=True, cwd=cwd, env={**env, **more}, timeout=60, check=False,
    )  # fmt: skip


def test_commands_refuse_an_unmigrated_database(
    project: tuple[Path, dict[str, str], Sandbox],
) -> None:
    cwd, env, _ = project
    result = run(env, cwd, "tick")
    assert result.returncode == 2
    assert "run `dripsms db upgrade` first" in " ".join(result.stderr.split())
    assert run(env, cwd, "db", "upgrade").returncode == 0
    assert "up to date" in run(env, cwd, "db", "upgrade").stderr


def test_enroll_tick_timeline_stats_unenroll(project: tuple[Path, dict[str, str], Sandbox]) -> None:
    cwd, env, sandbox = project
    assert run(env, cwd, "db", "upgrade").returncode == 0
    enrolled = run(
        env, cwd, "enroll", "postop", "--phone", "(415) 555-0100", "--tz", "America/New_York",
        "--set", "first_name=Ada", "--anchor", "2026-03-07", "--json",
    )  # fmt: skip
    assert enrolled.returncode == 0, enrolled.stderr
    record = json.loads(enrolled.stdout)
    assert record["phone"] == "+14155550100"
    assert record["messages"][0] == {
        "step": "day1",
        "state": "planned",
        "due_utc": "2026-03-08T14:00:00Z",
        "due_local": "2026-03-08T10:00:00-04:00",
    }
    duplicate = run(
        env, cwd, "enroll", "postop", "--phone", "+14155550100", "--set", "first_name=Ada",
        "--anchor", "2026-03-07",
    )  # fmt: skip
    assert duplicate.returncode == 2
    assert "already enrolled in postop" in duplicate.stderr

    ticked = run(env, cwd, "tick", "--json")
    assert ticked.returncode == 0, ticked.stderr
    assert json.loads(ticked.stdout)["scheduled"] == 1
    assert "sandbox" in ticked.stderr  # says it talks to the sandbox
    [at_sandbox] = sandbox.messages()
    assert at_sandbox.send_at == datetime(2026, 3, 8, 14, tzinfo=UTC)

    timeline = json.loads(run(env, cwd, "timeline", "--phone", "+14155550100", "--json").stdout)
    day1 = next(row for row in timeline if row["step"] == "day1")
    assert (day1["state"], day1["sid"]) == ("scheduled", at_sandbox.sid)

    stats = json.loads(run(env, cwd, "stats", "postop", "--json").stdout)
    assert {"sequence": "postop", "step": "day1", "state": "scheduled", "count": 1} in stats

    assert run(env, cwd, "unenroll", "--phone", "4155550100", "--json").returncode == 0
    canceled = json.loads(run(env, cwd, "tick", "--json").stdout)
    assert canceled["canceled"] == 1
    assert sandbox.messages()[0].status == "canceled"
    again = run(env, cwd, "unenroll", "--phone", "4155550100")
    assert again.returncode == 2
    assert "no active enrollment" in again.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--anchor", "9999-12-31"], "anchor: surgery_date: 9999-12-31 is outside the supported"),
        (["--anchor", "0001-01-01"], "anchor: surgery_date: 0001-01-01 is outside the supported"),
        (["--anchor", "2023-02-30"], "expected a date as YYYY-MM-DD, got '2023-02-30'"),
        (["--set", "first_name=" + "x" * 1001], "first_name: at most 1000 characters"),
    ],
)
def test_enroll_refuses_extreme_input_with_a_clear_error(
    project: tuple[Path, dict[str, str], Sandbox], args: list[str], message: str
) -> None:
    cwd, env, _ = project
    assert run(env, cwd, "db", "upgrade").returncode == 0
    result = run(
        env, cwd, "enroll", "postop", "--phone", "+14155550100", "--tz", "Asia/Tokyo",
        "--set", "first_name=Ada", *args,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
    assert json.loads(run(env, cwd, "stats", "--json").stdout) == []  # nothing planned


def test_import_exits_1_and_lists_bad_rows(project: tuple[Path, dict[str, str], Sandbox]) -> None:
    cwd, env, _ = project
    assert run(env, cwd, "db", "upgrade").returncode == 0
    csv = cwd / "in.csv"
    csv.write_text(
        "phone,first_name,surgery_date,timezone\n"
        "+14155550100,Ada,2026-03-07,UTC\n"
        "nope,Bob,2026-03-07,UTC\n"
    )
    result = run(env, cwd, "import", "postop", str(csv))
    assert result.returncode == 1
    assert "line 3: phone: not a phone number" in result.stdout
    assert "1 enrolled, 1 refused, 0 already enrolled, 0 blank of 2 rows" in result.stderr
    as_json = json.loads(run(env, cwd, "import", "postop", str(csv), "--json").stdout)
    assert as_json["enrolled"] == 0  # line 2 is now a duplicate
    assert [r["line"] for r in as_json["refused"]] == [3]
    assert [r["line"] for r in as_json["duplicates"]] == [2]


def test_sequences_list_and_migrate(project: tuple[Path, dict[str, str], Sandbox]) -> None:
    cwd, env, _ = project
    folder = cwd / "sequences"
    folder.mkdir()
    (folder / "postop.yaml").write_text((REPO / "sequences" / "postop.yaml").read_text())
    env = {**env, "DRIPSMS_SEQUENCES_DIR": str(folder)}
    assert run(env, cwd, "db", "upgrade").returncode == 0
    assert run(
        env, cwd, "enroll", "postop", "--phone", "+14155550100", "--tz", "UTC",
        "--set", "first_name=Ada", "--anchor", "2026-03-20",
    ).returncode == 0  # fmt: skip
    text = (folder / "postop.yaml").read_text().replace('time: "10:00"', 'time: "11:00"')
    (folder / "postop.yaml").write_text(text)
    listed = json.loads(run(env, cwd, "sequences", "list", "--json").stdout)
    current = listed["sequences"][0]["version"]
    assert [u["version"] for u in listed["in_use"]] != [current]
    migrated = json.loads(run(env, cwd, "sequences", "migrate", "postop", "--json").stdout)
    assert (migrated["version"], migrated["enrollments"], migrated["replanned"]) == (current, 1, 5)
    listed = json.loads(run(env, cwd, "sequences", "list", "--json").stdout)
    assert [u["version"] for u in listed["in_use"]] == [current]
