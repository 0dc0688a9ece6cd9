"""Twilio's permanent errors, and the scheduled-message budget, through the SDK."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from dripsms.core.planning import EnrollmentRequest
from dripsms.store.tables import contacts, enrollments, messages
from dripsms.testing import SandboxWorld, sandbox_world

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SOON = """key: soon
name: Soon
timezone: UTC
send_window: {start: "00:00", end: "24:00"}
steps:
  - id: now
    at: {minutes: 1}
    body: "Hello {{ contact.phone }}"
  - id: later
    at: {days: 2}
    body: "Two days on"
  - id: much_later
    at: {days: 10}
    body: "Ten days on"
"""


LATER = """key: later
name: Later
timezone: UTC
send_window: {start: "00:00", end: "24:00"}
steps:
  - id: in_two_days
    at: {days: 2}
    body: "Two days on"
"""


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> Iterator[SandboxWorld]:
    (tmp_path / "soon.yaml").write_text(SOON)
    (tmp_path / "later.yaml").write_text(LATER)
    url = engine.url.render_as_string(hide_password=False)
    with sandbox_world(url, tmp_path, T0, rate_limit=10_000, scheduled_budget=3) as built:
        yield built


def by_phone(world: SandboxWorld) -> dict[tuple[str, str], object]:
    with world.engine.connect() as connection:
        rows = connection.execute(
            select(contacts.c.phone, messages.c.step_id, messages)
            .join(enrollments, enrollments.c.id == messages.c.enrollment_id)
            .join(contacts, contacts.c.id == enrollments.c.contact_id)
        ).all()
    return {(r.phone, r.step_id): r for r in rows}


def test_an_opted_out_number_fails_with_21610_and_the_contact_is_opted_out(
    world: SandboxWorld,
) -> None:
    world.sandbox.opt_out("+14155550111")
    world.runtime.enroller.enroll(EnrollmentRequest("soon", "+14155550111"), now=T0)
    report = world.tick()
    assert report.failed == 2  # the two inside Twilio's window were both refused
    rows = by_phone(world)
    for step in ("now", "later"):
        row = rows[("+14155550111", step)]
        assert (row.state, row.error_code) == ("failed", 21610)  # type: ignore[attr-defined]
    assert rows[("+14155550111", "much_later")].state == "suppressed"  # type: ignore[attr-defined]
    with world.engine.connect() as connection:
        assert connection.execute(select(contacts.c.opted_out_at)).scalar_one() == T0


def test_a_landline_fails_with_21614_without_retrying(world: SandboxWorld) -> None:
    world.sandbox.add_landline("+14155550112")
    world.runtime.enroller.enroll(EnrollmentRequest("soon", "+14155550112"), now=T0)
    world.tick()
    world.at(T0 + timedelta(hours=1))
    world.tick()
    row = by_phone(world)[("+14155550112", "now")]
    assert (row.state, row.error_code, row.attempts) == ("failed", 21614, 1)  # type: ignore[attr-defined]
    assert "21614" in row.error_message  # type: ignore[attr-defined]
    assert world.sandbox.creates == 0


def test_the_scheduled_budget_caps_what_twilio_holds_earliest_first(world: SandboxWorld) -> None:
    for n in range(5):  # each due two days after enrolling, an hour apart
        request = EnrollmentRequest("later", f"+1415555012{n}")
        world.runtime.enroller.enroll(request, now=T0 + timedelta(hours=n))
    assert world.tick().scheduled == 3  # the budget
    held = sorted(
        (r.due_at, phone)
        for (phone, _), r in by_phone(world).items()  # type: ignore[attr-defined]
        if r.state == "scheduled"  # type: ignore[attr-defined]
    )
    assert [phone for _, phone in held] == [f"+1415555012{n}" for n in range(3)]  # earliest
    # Two of the three have gone out at their SendAt: their slots are free again.
    world.at(T0 + timedelta(days=2, hours=1, minutes=30))
    assert world.tick().scheduled == 2
