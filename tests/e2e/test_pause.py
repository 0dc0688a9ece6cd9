"""Pausing and resuming an enrollment from the console, against the sandbox through the real
SDK: nothing is sent while paused, what Twilio held is canceled there, and after the resume
each step goes out once (or expires when past its max_delay)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from dripsms.core.planning import EnrollmentRequest
from dripsms.engine.contact_actions import pause, resume
from dripsms.engine.operators import Operator, Role
from dripsms.errors import Conflict
from dripsms.store.tables import audit_events, enrollments, messages
from dripsms.testing import SandboxWorld, sandbox_world

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ADA = "+14155550100"
NURSE = Operator(1, "nurse@clinic.example", Role.NURSE)
SEQUENCE = """key: checkin
name: Check-in
timezone: UTC
send_window: {start: "00:00", end: "24:00"}
max_delay: 1h
steps:
  - id: soon
    at: {minutes: 5}
    body: "Soon: how are you?"
  - id: later
    at: {hours: 3}
    body: "Later: any pain?"
"""


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> Iterator[SandboxWorld]:
    folder = tmp_path / "sequences"
    folder.mkdir()
    (folder / "checkin.yaml").write_text(SEQUENCE)
    url = engine.url.render_as_string(hide_password=False)
    with sandbox_world(
        url, folder, T0, public_url="http://127.0.0.1:9", rate_limit=10_000
    ) as world:
        yield world


def enroll(world: SandboxWorld) -> int:
    request = EnrollmentRequest("checkin", ADA, "UTC", {}, None)
    return world.runtime.enroller.enroll(request, now=world.now).enrollment_id


def sent(world: SandboxWorld) -> list[tuple[str, str]]:
    """(body, status) of every message the sandbox was asked to send, in order."""
    return [(m.body, str(m.status)) for m in world.sandbox.messages()]


def states(world: SandboxWorld) -> dict[str, str]:
    with world.engine.connect() as connection:
        rows = connection.execute(select(messages.c.step_id, messages.c.state)).all()
    return {row.step_id: row.state for row in rows}


def test_nothing_is_handed_off_while_paused_and_nothing_twice_after_resume(
    world: SandboxWorld,
) -> None:
    enrollment_id = enroll(world)
    assert pause(world.engine, ADA, enrollment_id, NURSE, now=world.now, audited_at=world.now) == 0

    world.at(T0 + timedelta(minutes=10))  # "soon" is due, "later" is within Twilio's window
    world.tick()
    world.tick()
    assert sent(world) == []
    assert states(world) == {"soon": "planned", "later": "planned"}
    with world.engine.connect() as connection:  # paused: the completion scan leaves it be
        assert connection.execute(select(enrollments.c.state)).scalar_one() == "active"

    world.at(T0 + timedelta(minutes=20))
    assert resume(world.engine, ADA, enrollment_id, NURSE, now=world.now, audited_at=world.now) == 0
    world.tick()
    world.tick()
    world.at(T0 + timedelta(minutes=21))
    world.tick()
    bodies = [body for body, _ in sent(world)]
    assert sorted(bodies) == ["Later: any pain?", "Soon: how are you?"]
    assert world.sandbox.creates == 2
    with world.engine.connect() as connection:
        actions = connection.execute(select(audit_events.c.action)).scalars().all()
    assert actions == ["pause", "resume"]


def test_what_twilio_held_is_canceled_there_and_planned_again_on_resume(
    world: SandboxWorld,
) -> None:
    enrollment_id = enroll(world)
    world.tick()  # "later" (in 3 hours) is scheduled at Twilio
    assert states(world)["later"] == "scheduled"

    world.at(T0 + timedelta(minutes=1))
    assert pause(world.engine, ADA, enrollment_id, NURSE, now=world.now, audited_at=world.now) == 1
    with pytest.raises(Conflict, match="still being canceled"):
        resume(world.engine, ADA, enrollment_id, NURSE, now=world.now, audited_at=world.now)
    world.tick()  # the cancel is carried out at the sandbox
    assert ("Later: any pain?", "canceled") in sent(world)
    assert states(world)["later"] == "canceled"

    world.at(T0 + timedelta(hours=2))
    assert resume(world.engine, ADA, enrollment_id, NURSE, now=world.now, audited_at=world.now) == 1
    world.tick()
    world.tick()
    assert states(world)["later"] == "scheduled"
    world.at(T0 + timedelta(hours=3, minutes=5))  # its SendAt has passed: the sandbox sends
    world.tick()
    later = [status for body, status in sent(world) if body == "Later: any pain?"]
    assert sorted(later) == ["canceled", "delivered"] or sorted(later) == ["canceled", "sent"]


def test_a_step_past_its_max_delay_at_resume_expires(world: SandboxWorld) -> None:
    enrollment_id = enroll(world)
    world.tick()
    world.at(T0 + timedelta(minutes=1))
    pause(world.engine, ADA, enrollment_id, NURSE, now=world.now, audited_at=world.now)
    world.tick()
    world.at(T0 + timedelta(hours=4, minutes=30))  # "later" was due at 15:00; max_delay 1h
    assert resume(world.engine, ADA, enrollment_id, NURSE, now=world.now, audited_at=world.now) == 1
    world.tick()
    assert states(world)["later"] == "expired"
    assert [status for body, status in sent(world) if body == "Later: any pain?"] == ["canceled"]
