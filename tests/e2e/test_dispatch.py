"""The dispatcher through the real twilio SDK against the sandbox, with the clocks moved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select
from tests.e2e.worlds import rows

from dripsms.core.planning import EnrollmentRequest
from dripsms.engine.stopping import unenroll
from dripsms.store.tables import events
from dripsms.testing import SandboxWorld, sandbox_world

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]

ADA = EnrollmentRequest(
    "postop", "+14155550100", "America/New_York", {"first_name": "Ada"}, "2026-03-07"
)


def test_a_30_day_sequence_is_handed_off_once_each_in_order_with_exact_send_at(
    world: SandboxWorld,
) -> None:
    world.runtime.enroller.enroll(ADA, now=T0)
    world.walk(until=T0 + timedelta(days=45), step=timedelta(hours=6))
    ours = rows(world)
    at_sandbox = {m.sid: m for m in world.sandbox.messages()}
    sent = {step: r for step, r in ours.items() if r.sid and r.kind == "step"}  # type: ignore[attr-defined]
    # day3_escalated is skipped (no escalation); the other four went to Twilio.
    assert set(sent) == {"day1", "day3", "day7", "day30"}
    assert ours["day3_escalated"].state == "skipped"  # type: ignore[attr-defined]
    for step, row in sent.items():
        message = at_sandbox[row.sid]  # type: ignore[attr-defined]
        assert message.send_at == row.due_at, step  # type: ignore[attr-defined]
        assert message.to == "+14155550100"
        assert message.body == row.body  # type: ignore[attr-defined]
        assert message.status == "delivered", step
        # No callback reaches this world: status reconciliation fetched each one.
        assert row.state == "delivered", step  # type: ignore[attr-defined]
    # Day 1 went unanswered: its on_no_reply alerted the care team's phone, once.
    [alert] = [r for r in ours.values() if r.kind == "staff"]  # type: ignore[attr-defined]
    assert alert.state == "delivered"  # type: ignore[attr-defined]
    staff = at_sandbox[alert.sid]  # type: ignore[attr-defined]
    assert (staff.to, staff.send_at) == ("+15555550123", None)
    assert "did not answer day1" in staff.body
    assert world.sandbox.creates == 5


PLAIN = """key: plain
name: Plain
anchor: surgery_date
timezone: Europe/London
attributes:
  surgery_date: date
steps:
""" + "".join(
    f"  - id: d{d}\n    at: {{days: {d}, time: '09:30'}}\n    body: Day {d}\n"
    for d in (30, 1, 3, 7, 14, 21)
)


def test_handoffs_go_in_due_order_as_each_message_enters_the_window(
    engine: Engine, tmp_path: Path
) -> None:
    (tmp_path / "plain.yaml").write_text(PLAIN)
    url = engine.url.render_as_string(hide_password=False)
    with sandbox_world(url, tmp_path, T0, rate_limit=10_000) as world:
        request = EnrollmentRequest(
            "plain", "+447911123456", attributes={"surgery_date": "2026-03-01"}
        )
        world.runtime.enroller.enroll(request, now=T0)
        world.walk(until=T0 + timedelta(days=35), step=timedelta(hours=1))
        created = sorted(world.sandbox.messages(), key=lambda m: m.send_at or T0)
        assert [m.body for m in created] == [f"Day {d}" for d in (1, 3, 7, 14, 21, 30)]
        assert world.sandbox.creates == 6
        latest = timedelta(days=7) - timedelta(minutes=2)  # the horizon less the margin
        for message in created:
            assert message.send_at is not None
            local = message.send_at.astimezone(ZoneInfo("Europe/London"))
            assert local.strftime("%H:%M:%S") == "09:30:00"  # across the end of March DST
            lead = message.send_at - message.date_created
            if message.send_at - T0 <= latest:
                assert message.date_created == T0  # inside the window at enrollment
            else:  # handed off at the first hourly tick after it entered the window
                assert latest - timedelta(hours=1) < lead <= latest, message.body
        handed_off = [m.date_created for m in created]
        assert handed_off == sorted(handed_off)


def test_messages_beyond_the_horizon_wait_for_a_later_tick(world: SandboxWorld) -> None:
    world.runtime.enroller.enroll(ADA, now=T0)
    world.tick()
    assert world.sandbox.creates == 0  # day 1 is 7 days and 2 hours away
    world.at(T0 + timedelta(hours=3))
    world.tick()
    assert [r.step_id for r in rows(world).values() if r.state == "scheduled"] == ["day1"]  # type: ignore[attr-defined]


def test_a_message_due_in_five_minutes_is_sent_at_once(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "soon.yaml").write_text(
        "key: soon\nname: Soon\ntimezone: UTC\nsend_window: {start: '00:00', end: '24:00'}\n"
        "steps:\n  - id: hello\n    at: {minutes: 5}\n    body: Hello!\n"
    )
    url = engine.url.render_as_string(hide_password=False)
    with sandbox_world(url, tmp_path, T0, rate_limit=10_000) as world:
        world.runtime.enroller.enroll(EnrollmentRequest("soon", "+14155550100"), now=T0)
        report = world.tick()
        assert report.sent_now == 1
        [message] = world.sandbox.messages()
        assert message.send_at is None
        assert rows(world)["hello"].state == "queued"  # type: ignore[attr-defined]


def test_a_message_missed_by_more_than_max_delay_expires(world: SandboxWorld) -> None:
    world.runtime.enroller.enroll(ADA, now=T0)
    world.at(datetime(2026, 3, 8, 17, 0, tzinfo=UTC))  # day 1 was due at 14:00; max_delay 2h
    report = world.tick()
    assert report.expired == 1
    assert rows(world)["day1"].state == "expired"  # type: ignore[attr-defined]
    assert all("pain right now" not in m.body for m in world.sandbox.messages())


def test_unenroll_cancels_scheduled_messages_at_the_sandbox(engine: Engine) -> None:
    # A long status grace: day 1's status is still unknown here when the cancel is asked.
    with sandbox_world(
        engine.url.render_as_string(hide_password=False), REPO / "sequences", T0,
        public_url="http://127.0.0.1:9", rate_limit=10_000, status_grace=timedelta(days=30),
    ) as world:  # fmt: skip
        unenroll_after_day1_went_out(world)


def unenroll_after_day1_went_out(world: SandboxWorld) -> None:
    enrolled = world.runtime.enroller.enroll(ADA, now=T0)
    world.at(datetime(2026, 3, 7, 12, 0, tzinfo=UTC))
    world.tick()  # day 1 scheduled
    world.at(datetime(2026, 3, 9, 14, 30, tzinfo=UTC))
    world.tick()  # day 1 went out at the sandbox; day 3 released and scheduled; day 7 too
    scheduled = sorted(r.step_id for r in rows(world).values() if r.state == "scheduled")  # type: ignore[attr-defined]
    assert scheduled == ["day1", "day3", "day7"]  # our view: no status callbacks here
    unenroll(world.engine, now=world.now, enrollment_id=enrolled.enrollment_id)
    report = world.tick()
    assert (report.canceled, report.cancel_too_late) == (2, 1)
    world.at(datetime(2026, 4, 30, tzinfo=UTC))
    world.tick()
    to_ada = [m for m in world.sandbox.messages() if m.to == "+14155550100"]
    by_body = {m.body[:20]: m.status for m in to_ada}
    assert sorted(by_body.values()) == ["canceled", "canceled", "delivered"]
    states = {r.step_id: r.state for r in rows(world).values()}  # type: ignore[attr-defined]
    assert states["day1"] == "delivered"  # Twilio had released it: recorded, not canceled
    assert {states[s] for s in ("day3", "day7", "day30")} == {"canceled"}
    with world.engine.connect() as connection:
        causes = set(connection.execute(select(events.c.cause)).scalars())
    assert {"unenroll", "cancel_requested", "handed_off"} <= causes


def test_a_reply_dependent_step_waits_until_the_reply_window_closes(world: SandboxWorld) -> None:
    world.runtime.enroller.enroll(ADA, now=T0)
    assert rows(world)["day3"].state == "blocked"  # type: ignore[attr-defined]
    world.at(datetime(2026, 3, 7, 12, 0, tzinfo=UTC))
    world.tick()
    assert rows(world)["day3"].state == "blocked"  # type: ignore[attr-defined]
    world.at(datetime(2026, 3, 9, 14, 0, tzinfo=UTC))  # day 1's 24 h window has closed
    report = world.tick()
    assert report.released == 2
    assert rows(world)["day3"].state == "scheduled"  # type: ignore[attr-defined]
    assert rows(world)["day3_escalated"].state == "skipped"  # type: ignore[attr-defined]
