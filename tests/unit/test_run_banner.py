"""The banner of `dripsms run`: the console's URL, the provider, the database without its
password, how to switch to real Twilio (sandbox mode), the virtual clock."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from dripsms.cli import render


def runtime(url: str, *, sandbox: bool) -> SimpleNamespace:
    return SimpleNamespace(settings=SimpleNamespace(database_url=url, uses_sandbox=sandbox))


OPERATORS_EXIST = SimpleNamespace(created=None, password=None, existing=1)


def test_sandbox_mode_names_the_console_the_database_and_the_way_to_twilio(
    capsys: pytest.CaptureFixture[str],
) -> None:
    render.run_overview(
        runtime("postgresql+psycopg://dripsms:s3cret@db/dripsms", sandbox=True),
        "0.0.0.0",
        8000,
        OPERATORS_EXIST,
    )
    render.virtual_clock(
        datetime(2026, 3, 7, 12, tzinfo=UTC), resumed=True, run_file="dripsms.db.run.json"
    )
    banner = capsys.readouterr().err
    assert "console: http://0.0.0.0:8000/console/" in banner
    assert banner.count("console:") == 1  # one line names the console, and who signs in
    assert "provider: the built-in sandbox" in banner
    assert "s3cret" not in banner
    assert "database: postgresql+psycopg://dripsms:***@db/dripsms" in banner
    assert "to use real Twilio: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN" in banner
    assert "virtual clock: 2026-03-07 12:00:00 UTC" in banner
    assert "resumed where the previous run on this database stopped" in banner


def test_with_twilio_there_is_no_switch_line(capsys: pytest.CaptureFixture[str]) -> None:
    render.run_overview(
        runtime("sqlite:///dripsms.db", sandbox=False), "127.0.0.1", 8000, OPERATORS_EXIST
    )
    banner = capsys.readouterr().err
    assert "provider: Twilio" in banner
    assert "to use real Twilio" not in banner
