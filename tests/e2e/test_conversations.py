"""Conversations end to end: the sandbox's phone replies, the webhook, the rules, the
dispatcher — through the real SDK and real HTTP, with both clocks moved together."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from tests.e2e.worlds import rows, wait_for

from dripsms.core.planning import EnrollmentRequest
from dripsms.engine.notifier import SIGNATURE_HEADER, verify
from dripsms.sandbox import SANDBOX_MESSAGING_SERVICE_SID
from dripsms.store.tables import contacts, enrollments, replies
from dripsms.testing import SandboxWorld, free_port, sandbox_world, serve_app
from dripsms.web.app import create_app

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ADA = "+14155550100"


class Receiver(BaseHTTPRequestHandler):
    """A clinic's notify endpoint: records what it gets, answers 200."""

    received: list[tuple[dict[str, str], bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.received.append((dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def clinic() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    received: list[tuple[dict[str, str], bytes]] = []
    handler = type("Handler", (Receiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks", received
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def live(engine: Engine, tmp_path: Path, clinic: tuple[str, list[Any]]) -> Iterator[SandboxWorld]:
    """dripsms serving its webhooks, the sandbox posting to them, one clock for both."""
    folder = tmp_path / "sequences"
    folder.mkdir()
    text = (REPO / "sequences" / "postop.yaml").read_text()
    (folder / "postop.yaml").write_text(
        text.replace("https://clinic.example.org/hooks/dripsms", clinic[0])
    )
    (folder / "meds.yaml").write_text(MEDS)
    port = free_port()
    url = engine.url.render_as_string(hide_password=False)
    with (
        sandbox_world(
            url, folder, T0, public_url=f"http://127.0.0.1:{port}", rate_limit=10_000
        ) as world,
        serve_app(create_app(world.runtime), port=port) as served,
    ):
        world.sandbox.set_inbound_url(SANDBOX_MESSAGING_SERVICE_SID, f"{served}/twilio/inbound")
        yield world


MEDS = """key: meds
name: Medication check
timezone: America/New_York
send_window: {start: "08:00", end: "20:00"}
steps:
  - id: took_meds
    at: {days: 7, time: "12:00"}
    body: "Did you take your medication today? Reply YES or NO."
    expect_reply: {type: yes_no, window: 2h}
"""


def enroll_ada(world: SandboxWorld) -> int:
    request = EnrollmentRequest(
        "postop", ADA, "America/New_York", {"first_name": "Ada"}, "2026-03-07"
    )
    return world.runtime.enroller.enroll(request, now=world.now).enrollment_id


def deliver_day1(world: SandboxWorld) -> None:
    world.at(datetime(2026, 3, 7, 12, 0, tzinfo=UTC))
    world.tick()  # day 1 is scheduled at the sandbox
    world.at(datetime(2026, 3, 8, 14, 5, tzinfo=UTC))  # 5 minutes after it went out
    wait_for(lambda: rows(world)["day1"].state == "delivered")


def test_a_pain_score_of_8_alerts_the_nurse_and_changes_the_path(
    live: SandboxWorld, clinic: tuple[str, list[Any]]
) -> None:
    enroll_ada(live)
    deliver_day1(live)
    assert rows(live)["day1"].sent_at is not None  # the callback told us when it went

    live.sandbox.receive(ADA, "8/10")
    [delivery] = live.sandbox.inbound_deliveries()
    assert delivery.status_code == 200
    [answer] = delivery.replies
    assert answer.body.startswith("Thank you, Ada. A score of 8 is high")
    with live.engine.connect() as connection:
        reply = connection.execute(select(replies)).one()
        attributes = connection.execute(select(enrollments.c.attributes)).scalar_one()
    assert (reply.kind, reply.step_id, reply.value) == ("matched", "day1", 8)
    assert attributes["escalated"] is True

    report = live.tick()  # notify webhook and the staff text go out
    assert report.notified == 1
    [(headers, body)] = clinic[1]
    secret = live.runtime.notify_secret
    assert verify(secret, headers[SIGNATURE_HEADER], body)
    payload = json.loads(body)
    assert (payload["step"], payload["value"], payload["phone"]) == ("day1", 8, ADA)
    staff = [m for m in live.sandbox.messages() if m.to == "+15555550123"]
    assert len(staff) == 1
    # who (name, masked number), which step, the answer and its value, and why
    public = live.runtime.settings.public_url
    assert staff[0].body == (
        "dripsms alert (Post-surgery follow-up): Ada (+1415***0100) answered day1: "
        f'"8/10" = 8; rule matched: reply >= 7. {public}/console/c/1'  # the console's page
    )
    assert ADA not in staff[0].body
    assert payload["contact"]["url"] == f"{public}/console/contacts/{ADA}"
    assert (payload["answer"], payload["reason"], payload["contact"]["phone"]) == (
        "8/10",
        "reply",
        ADA,
    )

    live.at(datetime(2026, 3, 9, 14, 30, tzinfo=UTC))  # day 1's window has closed
    live.tick()
    after = rows(live)
    assert after["day3"].state == "skipped"
    assert after["day3_escalated"].state == "scheduled"
    assert "(8/10)" in after["day3_escalated"].body


def test_a_reply_after_the_window_is_late_and_fires_nothing(
    live: SandboxWorld, clinic: tuple[str, list[Any]]
) -> None:
    enroll_ada(live)
    deliver_day1(live)
    live.at(datetime(2026, 3, 9, 15, 0, tzinfo=UTC))  # 25 hours after day 1
    live.sandbox.receive(ADA, "9")
    [delivery] = live.sandbox.inbound_deliveries()
    assert delivery.replies == ()
    with live.engine.connect() as connection:
        reply = connection.execute(select(replies)).one()
    assert (reply.kind, reply.step_id, reply.value) == ("late", "day1", 9)
    live.tick()
    assert [h for h, _ in clinic[1] if "no_reply" not in _.decode()] == []  # no reply alert
    assert rows(live)["day3"].state != "skipped"


def test_two_overlapping_sequences_each_get_their_own_replies(live: SandboxWorld) -> None:
    enroll_ada(live)
    live.runtime.enroller.enroll(EnrollmentRequest("meds", ADA), now=live.now)
    deliver_day1(live)  # postop's day 1 went out at 10:00 New York time
    live.at(datetime(2026, 3, 8, 15, 55, tzinfo=UTC))
    live.tick()  # meds' question (12:00 New York, 16:00 UTC) is scheduled
    live.at(datetime(2026, 3, 8, 16, 10, tzinfo=UTC))
    wait_for(lambda: rows(live)["took_meds"].state == "delivered")
    live.sandbox.receive(ADA, "yes")  # both windows open: the latest question wins
    live.at(datetime(2026, 3, 8, 18, 30, tzinfo=UTC))  # meds' 2-hour window has closed
    live.sandbox.receive(ADA, "3")
    with live.engine.connect() as connection:
        got = {
            r.step_id: (r.kind, r.value)
            for r in connection.execute(select(replies).order_by(replies.c.received_at))
        }
    assert got == {"took_meds": ("matched", True), "day1": ("matched", 3)}


def test_stop_cancels_everything_held_at_twilio_and_start_resubscribes(
    live: SandboxWorld,
) -> None:
    enroll_ada(live)
    live.at(datetime(2026, 3, 9, 14, 30, tzinfo=UTC))
    live.tick()
    held = [m for m in live.sandbox.messages() if m.status == "scheduled" and m.to == ADA]
    assert len(held) >= 2  # day 3 and day 7 wait at Twilio
    live.sandbox.receive(ADA, "STOP")
    with live.engine.connect() as connection:
        opted = connection.execute(select(contacts.c.opted_out_at)).scalar_one()
        states = set(connection.execute(select(enrollments.c.state)).scalars())
    assert opted is not None
    assert states == {"exited"}
    report = live.tick()
    assert report.canceled == len(held)
    live.at(datetime(2026, 5, 1, tzinfo=UTC))
    live.tick()
    stopped_at = datetime(2026, 3, 9, 14, 31, tzinfo=UTC)
    after_stop = [
        m
        for m in live.sandbox.messages()
        if m.to == ADA and m.date_sent is not None and m.date_sent > stopped_at
    ]
    assert after_stop == []  # nothing went out after STOP, as the sandbox counts
    live.sandbox.receive(ADA, "START")
    with live.engine.connect() as connection:
        assert connection.execute(select(contacts.c.opted_out_at)).scalar_one() is None
        kinds = [r.kind for r in connection.execute(select(replies).order_by(replies.c.id))]
    assert kinds == ["opt_out", "opt_in"]


def test_a_reply_the_webhook_missed_is_recovered_from_twilios_list(live: SandboxWorld) -> None:
    enroll_ada(live)
    deliver_day1(live)
    live.sandbox.set_inbound_url(SANDBOX_MESSAGING_SERVICE_SID, f"http://127.0.0.1:{free_port()}/")
    live.sandbox.receive(ADA, "eight")  # the server was down: Twilio does not retry
    [delivery] = live.sandbox.inbound_deliveries()
    assert delivery.status_code is None
    with live.engine.connect() as connection:
        assert connection.execute(select(replies)).all() == []
    report = live.tick()
    assert report.recovered == 1
    with live.engine.connect() as connection:
        reply = connection.execute(select(replies)).one()
    assert (reply.kind, reply.step_id, reply.value) == ("matched", "day1", 8)
    # the rule's answer could not ride on TwiML: it went through the outbox instead
    live.tick()
    answers = [m for m in live.sandbox.messages() if m.to == ADA and "score of 8" in m.body]
    assert len(answers) == 1
    live.at(live.now + timedelta(minutes=5))  # past the recovery interval: it lists again
    assert live.tick().recovered == 0  # the cursor moved on; nothing is handled twice


def test_a_notify_webhook_is_retried_until_acknowledged(
    live: SandboxWorld, clinic: tuple[str, list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    enroll_ada(live)
    deliver_day1(live)
    answers = iter([503, 500, 200])
    monkeypatch.setattr(Receiver, "do_POST", _flaky(answers))
    live.sandbox.receive(ADA, "9")
    assert live.tick().notify_retrying == 1
    for minutes in (10, 30):  # past each backoff
        live.at(datetime(2026, 3, 8, 14, minutes, tzinfo=UTC))
        live.tick()
    assert len(clinic[1]) == 3
    bodies = {body for _, body in clinic[1]}
    assert len(bodies) == 1  # the same payload every time
    with live.engine.connect() as connection:
        from dripsms.store.tables import notifications

        row = connection.execute(select(notifications)).one()
    assert (row.state, row.attempts) == ("delivered", 3)


def _flaky(statuses: Iterator[int]) -> Any:
    def do_post(self: Receiver) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.received.append((dict(self.headers), body))
        self.send_response(next(statuses))
        self.end_headers()

    return do_post


def test_an_unreachable_notify_webhook_does_not_delay_the_answer_it_is_delivered_later(
    live: SandboxWorld, clinic: tuple[str, list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The care team's endpoint hangs (it answers nothing until ``reachable`` is set): the
    patient's reply is answered at once all the same, with nothing posted to it; the
    dispatcher's next pass delivers the alert."""
    enroll_ada(live)
    deliver_day1(live)
    reachable = threading.Event()
    monkeypatch.setattr(Receiver, "do_POST", _hanging(reachable))
    try:
        live.sandbox.receive(ADA, "9")
        [delivery] = live.sandbox.inbound_deliveries()
        assert delivery.status_code == 200  # a post to the clinic would still be hanging
        assert delivery.replies[0].body.startswith("Thank you, Ada. A score of 9 is high")
        assert clinic[1] == []  # nothing reached the clinic from the webhook's request
        with live.engine.connect() as connection:
            from dripsms.store.tables import notifications

            assert connection.execute(select(notifications.c.state)).scalars().all() == ["pending"]
    finally:
        reachable.set()
    assert live.tick().notified == 1  # the dispatcher's pass delivers it
    [(_, body)] = clinic[1]
    assert json.loads(body)["value"] == 9


def _hanging(reachable: threading.Event) -> Any:
    def do_post(self: Receiver) -> None:
        reachable.wait(30)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.received.append((dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    return do_post
