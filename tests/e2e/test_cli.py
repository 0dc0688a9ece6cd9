"""The ``dripsms`` command as a user runs it: a real process, real files, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "sequences" / "postop.yaml"


def dripsms(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DRIPSMS_")}
    environ.update(env, COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "dripsms", *args],
        capture_output=True,
        text=True,
        cwd=cwd or REPO,
        env=environ,
        timeout=60,
        check=False,
    )


def test_validate_accepts_the_example() -> None:
    result = dripsms("validate", str(EXAMPLE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 file valid" in result.stderr


def test_validate_reports_file_line_column_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "key: bad\nname: Bad\nsteps:\n  - id: a\n    at: {days: 1, time: 25:00}\n    body: hi\n"
    )
    result = dripsms("validate", str(bad))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{bad}:5:25: steps[0].at.time: '25:00' is not a time of day between 00:00 and 23:59"
    ]


def test_validate_a_folder_finds_duplicate_keys(tmp_path: Path) -> None:
    text = EXAMPLE.read_text()
    (tmp_path / "a.yaml").write_text(text)
    (tmp_path / "b.yml").write_text(text)
    result = dripsms("validate", str(tmp_path), "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["files"] == 2
    assert report["valid"] is False
    [problem] = report["problems"]
    assert problem["file"] == str(tmp_path / "b.yml")
    assert (problem["line"], problem["column"]) == (4, 6)
    assert "'postop' is also used by" in problem["message"]


def test_validate_defaults_to_the_configured_sequences_dir(tmp_path: Path) -> None:
    folder = tmp_path / "seqs"
    folder.mkdir()
    (folder / "broken.yaml").write_text("key: x\n")
    result = dripsms("validate", cwd=tmp_path, DRIPSMS_SEQUENCES_DIR=str(folder))
    assert result.returncode == 1
    assert "broken.yaml:1:1: name: missing required field 'name'" in result.stdout


def test_validate_warns_about_long_bodies_without_failing(tmp_path: Path) -> None:
    long_body = "Ciao! Com’è andata? " * 12  # the curly apostrophe forces UCS-2
    seq = tmp_path / "long.yaml"
    seq.write_text(
        f'key: long\nname: Long\nsteps:\n  - id: a\n    at: {{days: 1}}\n    body: "{long_body}"\n'
    )
    result = dripsms("validate", str(seq), DRIPSMS_MAX_SEGMENTS="2")
    assert result.returncode == 0
    assert f"{seq}:6:11: warning: steps[0].body: the body is 4 segments (UCS-2)" in result.stdout
    assert "'’' force UCS-2" in result.stdout


def test_preview_json_has_the_documented_keys_and_instants() -> None:
    result = dripsms(
        "preview", str(EXAMPLE), "--tz", "America/New_York", "--anchor", "2026-03-07",
        "--set", "first_name=Ada", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["step"] for r in rows] == ["day1", "day3", "day3_escalated", "day7", "day30"]
    first = rows[0]
    assert {"step", "due_utc", "due_local", "body", "encoding", "segments"} <= set(first)
    # Day 1 is Sunday 2026-03-08, the day New York springs forward; the example's
    # Sunday hours open at 10:00, so 09:00 moves to 10:00 EDT.
    assert first["due_utc"] == "2026-03-08T14:00:00Z"
    assert first["due_local"] == "2026-03-08T10:00:00-04:00"
    assert first["body"].startswith("Hi Ada, this is your care team")
    assert (first["encoding"], first["segments"]) == ("GSM-7", 1)


def test_preview_simulated_reply_takes_the_escalation_path() -> None:
    base = ["preview", str(EXAMPLE), "--tz", "Europe/London", "--anchor", "2026-06-01", "--json"]
    calm = {r["step"]: r for r in json.loads(dripsms(*base, "--reply", "day1=2").stdout)}
    pain = {r["step"]: r for r in json.loads(dripsms(*base, "--reply", "day1=8").stdout)}
    assert (calm["day3"]["status"], calm["day3_escalated"]["status"]) == ("planned", "skipped")
    assert (pain["day3"]["status"], pain["day3_escalated"]["status"]) == ("skipped", "planned")
    assert "(8/10)" in pain["day3_escalated"]["body"]


def test_preview_table_shows_local_time_with_zone_abbreviation() -> None:
    result = dripsms(
        "preview", str(EXAMPLE), "--tz", "Asia/Kathmandu", "--anchor", "2026-05-01",
        "--set", "first_name=Sita",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "2026-05-02 09:00 +0545" in result.stdout
    assert "2026-05-02T03:15:00Z" in result.stdout
    assert "Hi Sita" in result.stdout


def test_preview_defaults_the_anchor_to_today_on_the_pinned_clock() -> None:
    result = dripsms(
        "preview", str(EXAMPLE), "--tz", "UTC", "--json", DRIPSMS_NOW="2026-02-10T12:00:00Z"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["due_utc"] == "2026-02-11T09:00:00Z"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tz", "Mars/Olympus"], "--tz: unknown time zone 'Mars/Olympus'"),
        (["--tz", "UTC", "--anchor", "next tuesday"], "--anchor: 'next tuesday' is neither"),
        (["--tz", "UTC", "--set", "age=3"], "age: not an attribute of postop"),
        (["--tz", "UTC", "--set", "surgery_date=03/07/2026"], "surgery_date: expected a date"),
        (["--tz", "UTC", "--set", "first_name"], "--set 'first_name': write NAME=VALUE"),
        (["--tz", "UTC", "--reply", "day1=lots"], "reply to day1: not a number (got 'lots')"),
        (["--tz", "UTC", "--reply", "day3=5"], "step 'day3' expects no reply"),
        (["--tz", "Asia/Tokyo", "--anchor", "9999-12-31"], "--anchor: 9999-12-31 is outside"),
        (["--tz", "Asia/Tokyo", "--anchor", "0001-01-01"], "--anchor: 0001-01-01 is outside"),
        (["--tz", "UTC", "--anchor", "2023-02-30"], "--anchor: '2023-02-30' is neither"),
    ],
)
def test_preview_bad_input_is_a_clear_error(args: list[str], message: str) -> None:
    result = dripsms("preview", str(EXAMPLE), *args)
    assert result.returncode == 2
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


def test_preview_of_an_invalid_file_prints_its_problems(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("key: bad\nname: Bad\nsteps: []\n")
    result = dripsms("preview", str(bad), "--tz", "UTC")
    assert result.returncode == 1
    assert f"{bad}:3:8: steps:" in result.stdout


def test_bad_now_is_a_clear_error() -> None:
    result = dripsms("preview", str(EXAMPLE), "--tz", "UTC", DRIPSMS_NOW="yesterday")
    assert result.returncode == 2
    assert "DRIPSMS_NOW: 'yesterday' is not an ISO 8601 instant" in result.stderr


def test_init_writes_a_working_project_and_refuses_to_overwrite(tmp_path: Path) -> None:
    result = dripsms("init", str(tmp_path))
    assert result.returncode == 0, result.stderr
    for name in ("sequences/postop.yaml", "dripsms.toml", ".env.example"):
        assert (tmp_path / name).is_file()
    assert (tmp_path / "sequences/postop.yaml").read_text() == EXAMPLE.read_text()
    assert dripsms("validate", cwd=tmp_path).returncode == 0
    again = dripsms("init", str(tmp_path))
    assert again.returncode == 2
    assert "already exist; use --force" in again.stderr
    assert dripsms("init", str(tmp_path), "--force").returncode == 0


def test_settings_come_from_dripsms_toml(tmp_path: Path) -> None:
    assert dripsms("init", str(tmp_path)).returncode == 0
    (tmp_path / "dripsms.toml").write_text('sequences_dir = "elsewhere"\n')
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "x.yaml").write_text("key: x\n")
    result = dripsms("validate", cwd=tmp_path)
    assert result.returncode == 1
    assert "x.yaml:1:1: name: missing required field 'name'" in result.stdout


def test_a_bad_setting_is_named(tmp_path: Path) -> None:
    result = dripsms("validate", cwd=tmp_path, DRIPSMS_MAX_SEGMENTS="zero")
    assert result.returncode == 2
    assert "max_segments" in result.stderr


def test_version() -> None:
    result = dripsms("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("dripsms ")
