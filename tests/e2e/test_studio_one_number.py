"""Studio and dripsms on one number, end to end through the sandbox: dripsms is the
number's inbound webhook; a new patient's first text reaches the intake flow (a stand-in
for Studio's webhook URL), with Twilio's original parameters, signed as Twilio signs; an
enrolled patient's "8" reaches dripsms and nothing is forwarded."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from sqlalchemy import Engine, select
from twilio.request_validator import RequestValidator

from dripsms.core.planning import EnrollmentRequest
from dripsms.engine.studio import FORWARDED
from dripsms.sandbox import SANDBOX_MESSAGING_SERVICE_SID
from dripsms.store.tables import messages, notifications, replies
from dripsms.testing import SandboxWorld, free_port, sandbox_world, serve_app
from dripsms.web.app import create_app

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ADA = "+14155550100"
NEW = "+14155550177"
FLOW_PATH = "/v1/Accounts/ACxxxxxxxx/Flows/FWxxxxxxxx"


class StudioStandIn(BaseHTTPRequestHandler):
    """Answers as Studio's flow webhook does: 200 and an empty TwiML document."""

    received: list[tuple[str, dict[str, str], dict[str, str]]]
    status: list[int]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        self.received.append(
            (self.path, dict(self.headers), dict(parse_qsl(body, keep_blank_values=True)))
        )
        self.send_response(self.status[0])
        self.send_header("Content-Type", "text/xml")
        self.end_headers()
        self.wfile.write(b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>')

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def studio() -> Iterator[tuple[str, list[Any], list[int]]]:
    received: list[Any] = []
    status = [200]
    handler = type("Handler", (StudioStandIn,), {"received": received, "status": status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}{FLOW_PATH}", received, status
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def live(
    engine: Engine, tmp_path: Path, studio: tuple[str, list[Any], list[int]]
) -> Iterator[SandboxWorld]:
    folder = tmp_path / "sequences"
    folder.mkdir()
    text = (REPO / "sequences" / "postop.yaml").read_text()
    # The care team's notify webhook goes nowhere in this test (it is retried, unseen).
    (folder / "postop.yaml").write_text(text)
    port = free_port()
    url = engine.url.render_as_string(hide_password=False)
    with (
        sandbox_world(
            url, folder, T0, public_url=f"http://127.0.0.1:{port}", rate_limit=10_000,
            studio_flow_url=studio[0],
        ) as world,
        serve_app(create_app(world.runtime), port=port) as served,
    ):  # fmt: skip
        world.sandbox.set_inbound_url(SANDBOX_MESSAGING_SERVICE_SID, f"{served}/twilio/inbound")
        yield world


def _token(world: SandboxWorld) -> str:
    token = world.runtime.webhook_auth_token
    assert token
    return token


def _forwards(world: SandboxWorld) -> list[Any]:
    with world.engine.connect() as connection:
        return list(
            connection.execute(select(notifications).where(notifications.c.target == "studio"))
        )


def test_a_new_patients_first_text_reaches_the_studio_flow(
    live: SandboxWorld, studio: tuple[str, list[Any], list[int]]
) -> None:
    url, received, _ = studio
    sent = live.sandbox.receive(NEW, "Hi, my surgeon said to text this number")
    [delivery] = live.sandbox.inbound_deliveries()
    assert delivery.status_code == 200 and delivery.replies == ()  # dripsms answers nothing
    assert received == []  # Twilio's answer was not held up by the forward

    report = live.tick()  # the dispatcher's notify pass forwards it
    assert report.notified == 1
    [(path, headers, form)] = received
    assert path == FLOW_PATH
    # Twilio's original parameters, all of them, as the sandbox posted them to dripsms.
    assert delivery.webhook is not None
    assert form == delivery.webhook.form
    assert (form["MessageSid"], form["From"], form["Body"]) == (sent.sid, NEW, sent.body)
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    # Signed as Twilio signs a webhook: the account's auth token over this URL and the form.
    assert RequestValidator(_token(live)).validate(url, form, headers["X-Twilio-Signature"])

    with live.engine.connect() as connection:
        stored = connection.execute(select(replies)).one()
    assert (stored.kind, stored.reason) == ("unmatched", FORWARDED)
    assert [f.state for f in _forwards(live)] == ["delivered"]

    live.tick()  # forwarded once
    assert len(received) == 1

    live.sandbox.receive(NEW, "Ada")  # the flow's next question is answered: forwarded too
    live.tick()
    assert [r[2]["Body"] for r in received] == [sent.body, "Ada"]


def test_an_enrolled_patients_8_reaches_dripsms_and_nothing_is_forwarded(
    live: SandboxWorld, studio: tuple[str, list[Any], list[int]]
) -> None:
    _, received, _ = studio
    request = EnrollmentRequest(
        "postop", ADA, "America/New_York", {"first_name": "Ada"}, "2026-03-07"
    )
    live.runtime.enroller.enroll(request, now=live.now)
    live.sandbox.receive(ADA, "thanks, see you tomorrow")  # before day 1: enrolled, not new
    live.at(datetime(2026, 3, 7, 12, 0, tzinfo=UTC))
    live.tick()  # day 1 is scheduled at the sandbox
    live.at(datetime(2026, 3, 8, 14, 5, tzinfo=UTC))  # 5 minutes after it went out
    deadline = time.monotonic() + 10
    while True:
        with live.engine.connect() as connection:
            state = connection.execute(
                select(messages.c.state).where(messages.c.step_id == "day1")
            ).scalar_one()
        if state == "delivered" or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert state == "delivered"

    live.sandbox.receive(ADA, "8")
    deliveries = live.sandbox.inbound_deliveries()
    assert deliveries[-1].replies[0].body.startswith("Thank you, Ada. A score of 8 is high")
    live.tick()
    with live.engine.connect() as connection:
        kinds = [(r.kind, r.value, r.reason) for r in connection.execute(select(replies))]
    assert kinds[-1] == ("matched", 8, None)
    assert FORWARDED not in {reason for _, _, reason in kinds}
    assert received == [] and _forwards(live) == []


def test_a_stop_and_an_opted_out_phone_are_never_forwarded(
    live: SandboxWorld, studio: tuple[str, list[Any], list[int]]
) -> None:
    _, received, _ = studio
    live.sandbox.receive(NEW, "STOP")  # a keyword: dripsms's
    live.sandbox.receive(NEW, "hello?")  # opted out: the flow must not start talking
    live.tick()
    assert received == [] and _forwards(live) == []


def test_a_failing_flow_is_retried_then_given_up_within_minutes(
    live: SandboxWorld, studio: tuple[str, list[Any], list[int]]
) -> None:
    _, received, status = studio
    status[0] = 500
    live.sandbox.receive(NEW, "hello")
    for _ in range(12):  # each pass a minute later: retried with backoff, then given up
        live.tick()
        live.at(live.now.replace(minute=live.now.minute + 1))
    [forward] = _forwards(live)
    assert (forward.state, forward.attempts) == ("failed", 6)
    assert len(received) == 6
