"""Late enrollments through the dispatcher and the sandbox: missed steps never go out,
what waits on them is released, catch-up sends one now; each loss is logged at WARNING."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from dripsms.core.planning import EnrollmentRequest
from dripsms.store.tables import events, messages
from dripsms.testing import SandboxWorld

PHONE = "+14155550100"


def ada(anchor: str, catch_up: bool | None = None) -> EnrollmentRequest:
    return EnrollmentRequest(
        "postop", PHONE, "America/New_York", {"first_name": "Ada"}, anchor, catch_up=catch_up
    )


def states(world: SandboxWorld) -> dict[str, str]:
    with world.engine.connect() as connection:
        return {r.step_id: r.state for r in connection.execute(select(messages))}


def no_contact_data_in(records: list[logging.LogRecord]) -> bool:
    shown = " ".join(f"{r.getMessage()} {r.__dict__}" for r in records)
    return PHONE not in shown and "4155550100" not in shown and "Ada" not in shown


def test_a_step_past_at_enrollment_is_missed_logged_and_never_sent(
    world: SandboxWorld, caplog: pytest.LogCaptureFixture
) -> None:
    now = datetime(2026, 3, 8, 17, 0, tzinfo=UTC)  # day 1 was due at 14:00; max_delay 2h
    world.at(now)
    with caplog.at_level(logging.WARNING, logger="dripsms"):
        enrolled = world.runtime.enroller.enroll(ada("2026-03-07"), now=now)
    assert enrolled.prepared.missed == ("day1",)
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.__dict__["step"] == "day1"
    assert warning.__dict__["enrollment_id"] == enrolled.enrollment_id
    assert no_contact_data_in(caplog.records)
    with world.engine.connect() as connection:
        causes = [(e.cause, e.to_state) for e in connection.execute(select(events)) if e.message_id]
    assert causes == [("missed_at_enrollment", "missed")]
    # Day 3 waits on day 1's reply, which cannot come: released on the very next pass,
    # not a day later when day 1's reply window would have closed.
    report = world.tick()
    assert report.released == 2
    found = states(world)
    assert (found["day1"], found["day3"], found["day3_escalated"]) == (
        "missed", "scheduled", "skipped",
    )  # fmt: skip
    assert all("pain right now" not in m.body for m in world.sandbox.messages())


def test_catch_up_sends_the_most_recent_missed_step_now(world: SandboxWorld) -> None:
    now = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # Monday 10:00 EST; surgery 60 days back
    world.at(now)
    enrolled = world.runtime.enroller.enroll(ada("2026-01-01", catch_up=True), now=now)
    assert enrolled.prepared.caught_up == ("day30",)
    report = world.tick()
    assert report.sent_now == 1
    [sent] = world.sandbox.messages()
    assert "30" in sent.body or "month" in sent.body.lower()
    found = states(world)
    assert found.pop("day30") == "queued"
    assert set(found.values()) == {"missed"}


def test_a_fully_missed_enrollment_has_nothing_left_to_send(world: SandboxWorld) -> None:
    now = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    world.at(now)
    world.runtime.enroller.enroll(ada("2026-01-01"), now=now)
    assert set(states(world).values()) == {"missed"}
    world.tick()
    assert world.sandbox.messages() == []


def test_the_dispatchers_expiry_is_logged_at_warning(
    world: SandboxWorld, caplog: pytest.LogCaptureFixture
) -> None:
    world.runtime.enroller.enroll(ada("2026-03-07"), now=world.now)
    world.at(datetime(2026, 3, 8, 17, 0, tzinfo=UTC))  # the worker was down past max_delay
    with caplog.at_level(logging.WARNING, logger="dripsms"):
        report = world.tick()
    assert report.expired == 1
    [warning] = [r for r in caplog.records if r.__dict__.get("action") == "expired"]
    assert warning.levelno == logging.WARNING
    assert warning.__dict__["step"] == "day1"
    assert isinstance(warning.__dict__["message_id"], int)
    assert no_contact_data_in(caplog.records)
