"""``enroll``, ``import`` and ``stats`` say which steps were missed at enrollment."""

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


@pytest.fixture
def project(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    sandbox = Sandbox()
    sandbox.set_now(datetime(2026, 3, 2, 15, tzinfo=UTC))
    with SandboxServer(sandbox) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DRIPSMS_", "TWILIO_"))}
        env.update(
            COLUMNS="200",
            DRIPSMS_DATABASE_URL=f"sqlite:///{tmp_path / 'dripsms.db'}",
            DRIPSMS_SEQUENCES_DIR=str(REPO / "sequences"),
            DRIPSMS_TWILIO_API_BASE=server.base_url,
            DRIPSMS_PUBLIC_URL="http://127.0.0.1:9",
            DRIPSMS_NOW="2026-03-02T15:00:00Z",  # Monday 10:00 in New York
        )
        assert run(env, tmp_path, "db", "upgrade").returncode == 0
        yield tmp_path, env


def run(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dripsms", *args],
        capture_output=True, text=True, cwd=cwd, env=env, timeout=60, check=False,
    )  # fmt: skip


ENROLL = ("enroll", "postop", "--tz", "America/New_York", "--set", "first_name=Ada")


def test_enroll_prints_the_missed_steps_and_stats_counts_them(
    project: tuple[Path, dict[str, str]],
) -> None:
    cwd, env = project
    shown = run(env, cwd, *ENROLL, "--phone", "+14155550100", "--anchor", "2026-02-28")
    assert shown.returncode == 0, shown.stderr
    assert "missed: day1 (already past their latest send time" in " ".join(shown.stdout.split())
    caught = run(
        env, cwd, *ENROLL, "--phone", "+14155550101", "--anchor", "2026-01-01", "--catch-up",
        "--json",
    )  # fmt: skip
    record = json.loads(caught.stdout)
    assert record["caught_up"] == ["day30"]
    assert record["missed"] == ["day1", "day3", "day3_escalated", "day7"]
    stats = run(env, cwd, "stats")
    assert "never sent: 0 expired, 5 missed at enrollment" in stats.stdout
    as_json = json.loads(run(env, cwd, "stats", "--json").stdout)
    assert sum(r["count"] for r in as_json if r["state"] == "missed") == 5


def test_import_all_or_nothing_and_no_progress_bar_off_a_terminal(
    project: tuple[Path, dict[str, str]],
) -> None:
    cwd, env = project
    csv = cwd / "in.csv"
    csv.write_bytes(
        b"phone,first_name,surgery_date,timezone\n"
        b"+14155550100,Ada,2026-02-28,America/New_York\n"
        b"+14155550101,Jos\xe9,2026-03-07,America/New_York\n"
    )
    refused = run(env, cwd, "import", "postop", str(csv), "--all-or-nothing")
    assert refused.returncode == 1
    assert "line 3: encoding: byte 0xE9 at line 3, column 17" in refused.stdout
    assert "nothing written" in refused.stderr
    assert "checking the file" not in refused.stderr  # no progress bar: not a terminal
    assert json.loads(run(env, cwd, "stats", "--json").stdout) == []
    csv.write_bytes(csv.read_bytes().replace(b"Jos\xe9", b"Jose"))
    done = json.loads(run(env, cwd, "import", "postop", str(csv), "--json").stdout)
    assert (done["enrolled"], done["written"]) == (2, True)
    assert done["missed"] == [{"line": 2, "steps": ["day1"]}]
    assert done["missed_total"] == 1
