"""A rule's ``goto`` end to end: the phone's reply through the signed webhook skips the steps
between the question and the target (cancels at Twilio one it holds) and plans the target at
once; the next pass sends it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from tests.e2e.worlds import rows, wait_for

from dripsms.core.planning import EnrollmentRequest
from dripsms.sandbox import SANDBOX_MESSAGING_SERVICE_SID
from dripsms.testing import SandboxWorld, free_port, sandbox_world, serve_app
from dripsms.web.app import create_app

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ADA = "+14155550100"
TRIAGE = """key: triage
name: Triage
timezone: UTC
send_window: {start: "00:00", end: "24:00"}
steps:
  - id: ask
    at: {days: 1, time: "09:00"}
    body: "Pain from 0 to 10?"
    expect_reply: {type: integer, min: 0, max: 10, window: 4h}
    on_reply:
      - if: "reply >= 7"
        then: [{goto: call_us}]
  - id: thanks
    after: {step: ask, from: reply, hours: 1}
    body: "Thanks for telling us."
  - id: routine
    at: {days: 3, time: "09:00"}
    body: "Day 3: how are you?"
  - id: call_us
    body: "Please call us now."
"""


@pytest.fixture
def live(engine: Engine, tmp_path: Path) -> Iterator[SandboxWorld]:
    """dripsms serving its webhooks, the sandbox posting to them, one clock for both."""
    folder = tmp_path / "sequences"
    folder.mkdir()
    (folder / "triage.yaml").write_text(TRIAGE)
    port = free_port()
    url = engine.url.render_as_string(hide_password=False)
    with (
        sandbox_world(url, folder, T0, public_url=f"http://127.0.0.1:{port}") as world,
        serve_app(create_app(world.runtime), port=port) as served,
    ):
        world.sandbox.set_inbound_url(SANDBOX_MESSAGING_SERVICE_SID, f"{served}/twilio/inbound")
        yield world


def test_a_goto_skips_the_steps_between_and_sends_its_target_at_once(live: SandboxWorld) -> None:
    live.runtime.enroller.enroll(EnrollmentRequest("triage", ADA), now=live.now)
    before = rows(live)
    assert (before["thanks"].state, before["call_us"].state) == ("blocked", "blocked")
    assert before["call_us"].due_at is None  # only a goto reaches it
    live.at(datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
    live.tick()  # the question is scheduled at the sandbox for 09:00
    replied_at = datetime(2026, 3, 2, 9, 5, tzinfo=UTC)
    live.at(replied_at)
    wait_for(lambda: rows(live)["ask"].state == "delivered")

    live.sandbox.receive(ADA, "8")
    [delivery] = live.sandbox.inbound_deliveries()
    assert delivery.status_code == 200
    after = rows(live)
    assert after["thanks"].state == "skipped"  # planned here: skipped at once
    assert after["routine"].state == "scheduled"  # held by Twilio: its cancel is asked for
    assert after["routine"].cancel_requested_at is not None
    assert after["call_us"].state == "planned"
    assert after["call_us"].due_at.replace(tzinfo=UTC) == replied_at  # at once

    live.tick()  # the target goes, the step Twilio held is canceled there
    assert rows(live)["routine"].state == "canceled"
    sent = [m for m in live.sandbox.messages() if m.to == ADA and m.body == "Please call us now."]
    assert len(sent) == 1
    assert rows(live)["call_us"].state not in ("planned", "blocked", "skipped")
