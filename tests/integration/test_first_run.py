"""The first operator: ``dripsms run`` in sandbox mode creates an admin when there is none
(its password printed once); with real Twilio it creates nobody and says how to."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from dripsms.cli import render
from dripsms.engine.operators import authenticate
from dripsms.engine.users import FIRST_ADMIN, audit_log, first_run, list_users

NOW = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)


def test_sandbox_mode_creates_one_admin_once(engine: Engine) -> None:
    first = first_run(engine, create=True, now=NOW)
    assert first.created is not None and first.created.email == FIRST_ADMIN
    assert first.password and first.created.is_admin
    assert authenticate(engine, FIRST_ADMIN, first.password) is not None
    again = first_run(engine, create=True, now=NOW)
    assert (again.created, again.password, again.existing) == (None, None, 1)
    assert [row.email for row in list_users(engine)] == [FIRST_ADMIN]
    [event] = audit_log(engine)
    assert (event.action, event.subject) == ("add_operator", f"operator:{FIRST_ADMIN}")


def test_real_twilio_creates_nobody(engine: Engine) -> None:
    first = first_run(engine, create=False, now=NOW)
    assert (first.created, first.password, first.existing) == (None, None, 0)
    assert list_users(engine) == []


def test_the_banner_prints_the_password_only_when_just_created(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    render.operators_banner(first_run(engine, create=False, now=NOW), host="127.0.0.1", port=8000)
    nobody = capsys.readouterr().err
    assert "no operator yet" in nobody and "dripsms users add EMAIL --role admin" in nobody
    created = first_run(engine, create=True, now=NOW)
    render.operators_banner(created, host="127.0.0.1", port=8000)
    shown = capsys.readouterr().err
    assert f"http://127.0.0.1:8000/console/ as {FIRST_ADMIN} with password" in shown
    assert str(created.password) in shown
    render.operators_banner(first_run(engine, create=True, now=NOW), host="::1", port=8000)
    later = capsys.readouterr().err
    assert "http://[::1]:8000/console/; operators exist: dripsms users add/list" in later
