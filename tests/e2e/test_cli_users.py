"""``dripsms users`` and ``dripsms audit`` as a user runs them, and the operator that
``dripsms run`` creates on its first run in sandbox mode."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from tests.e2e.test_cli import dripsms
from tests.e2e.test_run_restart import banners, dripsms_run

from dripsms.store.database import connect, upgrade

PASSWORD = "correct horse battery\n"


@pytest.fixture
def database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'dripsms.db'}"
    engine = connect(url)
    upgrade(engine)
    engine.dispose()
    return url


def users(database: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return _dripsms(database, "users", *args, stdin=stdin)


def _dripsms(database: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    if not stdin:
        return dripsms(*args, DRIPSMS_DATABASE_URL=database)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DRIPSMS_")}
    environ.update(DRIPSMS_DATABASE_URL=database, COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "dripsms", *args], input=stdin, capture_output=True, text=True,
        env=environ, timeout=60, check=False,
    )  # fmt: skip


def test_add_list_and_disable_operators(database: str) -> None:
    added = users(database, "add", "Ada@Clinic.Example", "--role", "admin", "--password-stdin",
                  stdin=PASSWORD)  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "added admin ada@clinic.example"
    assert "correct horse" not in added.stdout + added.stderr
    users(database, "add", "nia@clinic.example", "--role", "nurse", "--password-stdin",
          stdin=PASSWORD)  # fmt: skip
    assert users(database, "disable", "NIA@clinic.example").returncode == 0
    listed = json.loads(users(database, "list", "--json").stdout)
    assert [(u["email"], u["role"], u["disabled"] is not None) for u in listed] == [
        ("ada@clinic.example", "admin", False),
        ("nia@clinic.example", "nurse", True),
    ]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", listed[0]["created"])
    table = users(database, "list").stdout
    assert "ada@clinic.example" in table and "admin" in table


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("add", "not-an-email", "--role", "nurse", "--password-stdin"), PASSWORD, "email:"),
        (("add", "bo@clinic.example", "--role", "boss", "--password-stdin"), PASSWORD, "role:"),
        (("add", "bo@clinic.example", "--role", "nurse", "--password-stdin"), "short\n",
         "password: at least 10 characters"),
        (("add", "bo@clinic.example", "--role", "nurse", "--password-stdin"), "",
         "password: nothing on standard input"),
        (("disable", "ghost@clinic.example"), "", "email: no operator"),
    ],
)  # fmt: skip
def test_bad_input_exits_2_naming_the_field_and_writes_nothing(
    database: str, args: tuple[str, ...], stdin: str, message: str
) -> None:
    result = users(database, *args, stdin=stdin)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert json.loads(users(database, "list", "--json").stdout) == []
    assert json.loads(_dripsms(database, "audit", "--json").stdout) == []


def test_an_existing_email_exits_2(database: str) -> None:
    users(database, "add", "bo@clinic.example", "--role", "nurse", "--password-stdin",
          stdin=PASSWORD)  # fmt: skip
    again = users(database, "add", "BO@clinic.example", "--role", "admin", "--password-stdin",
                  stdin=PASSWORD)  # fmt: skip
    assert again.returncode == 2
    assert "email: an operator 'bo@clinic.example' exists already" in again.stderr


def test_audit_lists_what_the_commands_did_newest_first(database: str) -> None:
    users(database, "add", "bo@clinic.example", "--role", "nurse", "--password-stdin",
          stdin=PASSWORD)  # fmt: skip
    users(database, "disable", "bo@clinic.example")
    rows = json.loads(_dripsms(database, "audit", "--json", "--since", "1h").stdout)
    assert [(r["action"], r["subject"]) for r in rows] == [
        ("disable_operator", "operator:bo@clinic.example"),
        ("add_operator", "operator:bo@clinic.example"),
    ]
    assert all(r["operator"].startswith("cli:") for r in rows)
    limited = json.loads(_dripsms(database, "audit", "--json", "--limit", "1").stdout)
    assert [r["action"] for r in limited] == ["disable_operator"]
    future = _dripsms(database, "audit", "--json", "--since", "2999-01-01")
    assert json.loads(future.stdout) == []
    text = _dripsms(database, "audit").stdout
    assert "disable_operator" in text and "UTC" in text


@pytest.mark.parametrize(("option", "value"), [("--since", "yesterday"), ("--limit", "0")])
def test_audit_refuses_a_bad_option_naming_it(database: str, option: str, value: str) -> None:
    result = _dripsms(database, "audit", option, value)
    assert result.returncode == 2
    assert f"{option}:" in result.stderr


def _sign_in(url: str, email: str, password: str) -> int:
    browser = requests.Session()
    page = browser.get(url + "/console/login", timeout=10)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    form = {"email": email, "password": password, "csrf_token": token.group(1)}
    answer = browser.post(url + "/console/login", data=form, allow_redirects=False, timeout=10)
    return answer.status_code


def test_the_first_run_creates_an_admin_and_prints_its_password_once(
    tmp_path: Path, database: str
) -> None:
    (tmp_path / "sequences").mkdir()
    with dripsms_run(tmp_path, database) as (url, _):
        pass
    first = banners[-1]
    found = re.search(r"as (admin@dripsms\.local) with password (\S+) ", first)
    assert found, first
    password = found.group(2)
    assert first.count(password) == 1  # the banner line only: not in any log line
    with dripsms_run(tmp_path, database) as (url, _):
        assert _sign_in(url, "admin@dripsms.local", password) == 303
    second = banners[-1]
    assert password not in second
    assert "operators exist: dripsms users add/list" in second
    listed = json.loads(users(database, "list", "--json").stdout)
    assert [(u["email"], u["role"]) for u in listed] == [("admin@dripsms.local", "admin")]
