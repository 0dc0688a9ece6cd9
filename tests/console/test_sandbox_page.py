"""``/console/sandbox``: the phone simulator and the clock controls, in sandbox mode only;
POST forms refuse a missing CSRF token; a phone's text reaches dripsms through Twilio's
signed webhook and shows on the phone's screen as text."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from dripsms.core.planning import EnrollmentRequest
from dripsms.engine.sandbox_session import SandboxSession
from dripsms.store.audit import recent
from dripsms.store.tables import replies
from tests.console.conftest import NOW, Console
from tests.console.sandboxed import serve_sandboxed

ADA = "+14155550100"


@pytest.fixture
def sandboxed(engine: Engine) -> Iterator[tuple[Console, SandboxSession]]:
    """The console of a `dripsms run` in sandbox mode: a virtual clock, a sandbox posting
    signed webhooks to it."""
    with serve_sandboxed(engine) as served:
        yield served


def nurse_email(console: Console) -> str:
    return f"nurse{len(console.sessions) - 1}@clinic.example"


def test_with_real_twilio_the_page_and_its_link_are_absent(console: Console) -> None:
    nurse = console.sign_in("nurse")
    assert nurse.get(console.url + "/console/sandbox", timeout=10).status_code == 404
    assert "/console/sandbox" not in nurse.get(console.url + "/console/", timeout=10).text
    token = console.csrf(nurse)
    moved = nurse.post(
        console.url + "/console/sandbox/clock", data={"move": "1d", "csrf_token": token},
        timeout=10, allow_redirects=False,
    )  # fmt: skip
    assert moved.status_code == 404


def test_a_nurse_moves_the_clock_and_a_form_without_csrf_is_refused(
    sandboxed: tuple[Console, SandboxSession],
) -> None:
    console, session = sandboxed
    nurse = console.sign_in("nurse")
    page = nurse.get(console.url + "/console/sandbox", timeout=10)
    assert page.status_code == 200
    assert 'href="/console/sandbox"' in page.text  # the nav link, in sandbox mode
    assert "+1 day" in page.text

    refused = nurse.post(
        console.url + "/console/sandbox/clock", data={"move": "1d"}, timeout=10,
        allow_redirects=False,
    )  # fmt: skip
    assert refused.status_code == 403
    assert session.clock() == NOW

    token = console.csrf(nurse, "/console/sandbox")
    for move, step in (("1h", timedelta(hours=1)), ("1d", timedelta(days=1))):
        before = session.clock()
        moved = nurse.post(
            console.url + "/console/sandbox/clock", data={"move": move, "csrf_token": token},
            timeout=10, allow_redirects=False,
        )  # fmt: skip
        assert moved.status_code == 303, moved.text
        assert session.clock() == before + step
        assert session.sandbox.now() == session.clock()

    bad = nurse.post(
        console.url + "/console/sandbox/clock", data={"move": "-1d", "csrf_token": token},
        timeout=10,
    )  # fmt: skip
    assert bad.status_code == 422
    assert "move:" in bad.text
    with console.runtime.engine.connect() as connection:
        moves = [e for e in recent(connection) if e.action != "sign_in"]
    assert [(e.action, e.detail["move"]) for e in moves] == [("clock", "1d"), ("clock", "1h")]
    assert {e.operator_email for e in moves} == {nurse_email(console)}


def test_next_moves_to_the_next_due_message(sandboxed: tuple[Console, SandboxSession]) -> None:
    console, session = sandboxed
    console.runtime.enroller.enroll(
        EnrollmentRequest("postop", ADA, "America/New_York", {"first_name": "Ada"}, "2026-03-01"),
        now=NOW,
    )
    due = session.next_due()
    assert due is not None
    nurse = console.sign_in("nurse")
    token = console.csrf(nurse, "/console/sandbox")
    moved = nurse.post(
        console.url + "/console/sandbox/clock", data={"move": "next", "csrf_token": token},
        timeout=10, allow_redirects=False,
    )  # fmt: skip
    assert moved.status_code == 303
    assert session.clock() == due


def test_the_phone_texts_dripsms_and_its_text_shows_as_text(
    sandboxed: tuple[Console, SandboxSession],
) -> None:
    console, session = sandboxed
    console.runtime.enroller.enroll(
        EnrollmentRequest("postop", ADA, "America/New_York", {"first_name": "Ada"}, "2026-03-01"),
        now=NOW,
    )
    nurse = console.sign_in("nurse")
    page = nurse.get(console.url + "/console/sandbox", params={"phone": ADA}, timeout=10)
    assert "Ada" in page.text
    token = console.csrf(nurse, "/console/sandbox")
    hostile = "<script>alert(1)</script>"
    sent = nurse.post(
        console.url + "/console/sandbox/reply",
        data={"phone": ADA, "text": hostile, "csrf_token": token}, timeout=10,
    )  # fmt: skip
    assert sent.status_code == 200, sent.text  # followed the 303 to the phone's screen
    assert hostile not in sent.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in sent.text
    with console.runtime.engine.connect() as connection:
        [reply] = connection.execute(select(replies.c.body, replies.c.from_phone)).all()
    assert (reply.body, reply.from_phone) == (hostile, ADA)  # through the signed webhook

    refused = nurse.post(
        console.url + "/console/sandbox/reply", data={"phone": ADA, "text": "8"}, timeout=10
    )
    assert refused.status_code == 403
    empty = nurse.post(
        console.url + "/console/sandbox/reply",
        data={"phone": "not a phone", "text": "8", "csrf_token": token}, timeout=10,
    )  # fmt: skip
    assert empty.status_code == 422
    assert re.search(r"phone: ", empty.text)
    assert len(session.sandbox.inbound_deliveries()) == 1  # nothing more was sent


def test_signed_out_the_page_asks_to_sign_in(sandboxed: tuple[Console, SandboxSession]) -> None:
    console, _ = sandboxed
    answer = console.browser().get(
        console.url + "/console/sandbox", timeout=10, allow_redirects=False
    )
    assert answer.status_code == 303
    assert "/console/login" in answer.headers["location"]
