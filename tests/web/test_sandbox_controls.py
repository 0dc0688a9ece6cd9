"""``/v1/sandbox/*``: present only in sandbox mode, behind the run's control token (or an
API token); a bad move names its field and moves nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
from sqlalchemy import Engine

from dripsms.clock import VirtualClock
from dripsms.engine.sandbox_session import SandboxSession
from dripsms.runtime import Runtime
from dripsms.sandbox import Sandbox
from dripsms.settings import Settings
from dripsms.testing import serve_app
from dripsms.web.app import create_app
from tests.web.conftest import NOW, REPO, TOKEN, Served

CONTROL = "control-token-of-this-run"


@pytest.fixture
def sandboxed(engine: Engine) -> Iterator[tuple[Served, SandboxSession]]:
    config = Settings(
        database_url=engine.url.render_as_string(hide_password=False),
        sequences_dir=REPO / "sequences", api_tokens=[TOKEN],
    )  # fmt: skip
    clock = VirtualClock(NOW, lambda: 0.0)  # stands still unless moved
    with Sandbox(now=NOW) as sandbox:
        runtime = Runtime(config, clock)
        runtime.sandbox_session = SandboxSession(clock, sandbox, runtime.engine, CONTROL)
        with serve_app(create_app(runtime)) as url, requests.Session() as session:
            yield Served(url, runtime, session), runtime.sandbox_session
        runtime.engine.dispose()


def control(served: Served, method: str, path: str, token: str = CONTROL, **kw: object) -> Any:
    return served.session.request(
        method, served.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10,
        **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def test_with_real_twilio_there_are_no_sandbox_controls(app: Served) -> None:
    for method, path in (("GET", "/v1/sandbox/clock"), ("POST", "/v1/sandbox/replies")):
        assert app.api(method, path, json={}).status_code == 404


def test_a_wrong_or_missing_token_is_refused(sandboxed: tuple[Served, SandboxSession]) -> None:
    served, session = sandboxed
    assert control(served, "GET", "/v1/sandbox/clock", token="wrong").status_code == 401
    bare = served.session.post(served.url + "/v1/sandbox/clock", json={"advance": "1d"})
    assert bare.status_code == 401
    assert session.clock() == NOW  # nothing moved
    assert control(served, "GET", "/v1/sandbox/clock", token=TOKEN).status_code == 200


def test_advance_moves_the_clock_and_the_sandbox(sandboxed: tuple[Served, SandboxSession]) -> None:
    served, session = sandboxed
    moved = control(served, "POST", "/v1/sandbox/clock", json={"advance": "1d12h"})
    assert moved.status_code == 200, moved.text
    later = NOW + timedelta(days=1, hours=12)
    assert moved.json()["now"] == later.isoformat().replace("+00:00", "Z")
    assert session.clock() == later
    assert session.sandbox.now() == later
    assert session.wake.is_set()
    shown = control(served, "GET", "/v1/sandbox/clock").json()
    assert shown == {"now": later.isoformat().replace("+00:00", "Z"), "next_due": None}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"advance": "tomorrow"}, "advance"),
        ({"advance": "0s"}, None),
        ({"to": "yesterday"}, "to"),
        ({"advance": "1d", "to": "next"}, None),
        ({}, None),
        ({"advance": "-1d"}, "advance"),
    ],
)
def test_a_bad_move_is_refused_by_name_and_moves_nothing(
    sandboxed: tuple[Served, SandboxSession], body: dict[str, str], field: str | None
) -> None:
    served, session = sandboxed
    answer = control(served, "POST", "/v1/sandbox/clock", json=body)
    assert answer.status_code == 422, answer.text
    if field is not None:
        assert field in answer.text
    assert session.clock() == NOW


def test_next_with_nothing_due_says_so(sandboxed: tuple[Served, SandboxSession]) -> None:
    served, session = sandboxed
    answer = control(served, "POST", "/v1/sandbox/clock", json={"to": "next"})
    assert answer.status_code == 404
    assert "nothing to move the clock to" in answer.text
    assert session.clock() == NOW


def test_a_reply_with_a_bad_phone_names_the_field(
    sandboxed: tuple[Served, SandboxSession],
) -> None:
    served, session = sandboxed
    answer = control(served, "POST", "/v1/sandbox/replies", json={"phone": "nope", "text": "8"})
    assert answer.status_code == 422, answer.text
    assert "phone" in answer.text
    assert session.sandbox.messages() == []
