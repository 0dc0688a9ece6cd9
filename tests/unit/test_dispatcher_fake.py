"""The dispatcher's decisions, with the in-process FakeProvider and SQLite: no HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from dripsms.core.planning import EnrollmentRequest
from dripsms.engine.dispatcher import Dispatcher, DispatcherConfig
from dripsms.engine.outcomes import TickReport
from dripsms.engine.stopping import unenroll
from dripsms.runtime import Runtime
from dripsms.sandbox import SANDBOX_MESSAGING_SERVICE_SID
from dripsms.settings import Settings
from dripsms.store.database import upgrade
from dripsms.store.tables import contacts, messages
from dripsms.testing import FakeProvider, Scripted

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PHONE = "+14155550100"
DRIP = """key: drip
name: Drip
anchor: start
timezone: UTC
send_window: {start: "00:00", end: "24:00"}
max_delay: 2h
attributes:
  start: {type: datetime, required: true}
steps:
  - {id: now, at: {minutes: 0}, body: "Step one."}
  - {id: later, at: {days: 1}, body: "Step two."}
"""


@dataclass
class World:
    runtime: Runtime
    fake: FakeProvider
    now: datetime = T0

    @property
    def engine(self) -> Engine:
        return self.runtime.engine

    def tick(self, at: datetime | None = None) -> TickReport:
        self.now = at or self.now
        config = DispatcherConfig.from_settings(
            self.runtime.settings,
            messaging_service_sid=SANDBOX_MESSAGING_SERVICE_SID,
            callback_secret="secret",
            owner="test",
        )
        dispatcher = Dispatcher(
            self.engine, self.fake, self.runtime.library, config, jitter=lambda: 0.0
        )
        try:
            return dispatcher.tick(self.now)
        finally:
            dispatcher.close()

    def rows(self) -> dict[str, dict[str, object]]:
        with self.engine.connect() as connection:
            return {r.step_id: dict(r._mapping) for r in connection.execute(select(messages))}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    (tmp_path / "sequences").mkdir()
    (tmp_path / "sequences" / "drip.yaml").write_text(DRIP)
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'dripsms.db'}",
        sequences_dir=tmp_path / "sequences",
        public_url="http://127.0.0.1:9",
        rate_limit=100_000,
    )
    runtime = Runtime(settings, lambda: T0)
    upgrade(runtime.engine)
    world = World(runtime, FakeProvider(lambda: world.now))
    request = EnrollmentRequest("drip", PHONE, attributes={"start": T0.isoformat()})
    runtime.enroller.enroll(request, now=T0)
    try:
        yield world
    finally:
        runtime.engine.dispose()


def test_a_due_step_is_sent_now_and_a_later_one_scheduled_with_send_at(world: World) -> None:
    report = world.tick()
    assert (report.sent_now, report.scheduled) == (1, 1)
    first, second = world.fake.calls_of("create")
    assert (first.args["body"], first.args["send_at"]) == ("Step one.", None)
    assert (second.args["body"], second.args["send_at"]) == ("Step two.", T0 + timedelta(days=1))
    rows = world.rows()
    assert (rows["now"]["state"], rows["later"]["state"]) == ("queued", "scheduled")
    assert {rows["now"]["sid"], rows["later"]["sid"]} == set(world.fake.messages)
    assert world.tick(T0 + timedelta(minutes=5)).scheduled == 0
    assert world.fake.creates == 2


def test_a_429_is_retried_after_its_retry_after_and_sent_once(world: World) -> None:
    world.fake.script("create", Scripted.rate_limited(retry_after=120), Scripted.rate_limited())
    report = world.tick()
    assert report.retrying == 2
    rows = world.rows()
    assert rows["now"]["state"] == "planned"
    assert rows["now"]["error_code"] == 20429
    assert rows["now"]["next_attempt_at"] >= T0 + timedelta(seconds=120)
    assert world.fake.creates == 0
    world.tick(T0 + timedelta(minutes=10))
    assert world.fake.creates == 2
    assert world.rows()["now"]["state"] == "queued"


def test_a_500_after_create_is_reconciled_and_adopted_not_created_twice(world: World) -> None:
    world.fake.script("create", Scripted.server_error(after=True))
    report = world.tick()
    assert report.adopted == 1
    [created] = [m for m in world.fake.messages.values() if m.body == "Step one."]
    assert world.rows()["now"]["sid"] == created.sid
    world.tick(T0 + timedelta(hours=1))
    bodies = [c.args["body"] for c in world.fake.calls_of("create")]
    assert bodies.count("Step one.") == 1


def test_a_timeout_after_create_whose_listing_fails_waits_then_adopts(world: World) -> None:
    world.fake.script("create", Scripted.timeout_after())
    world.fake.script("recent", Scripted.server_error())
    report = world.tick()
    assert report.unknown == 1
    assert world.rows()["now"]["state"] == "handing_off"
    world.tick(T0 + timedelta(minutes=5))
    rows = world.rows()
    assert rows["now"]["state"] == "queued"
    assert [c.args["body"] for c in world.fake.calls_of("create")].count("Step one.") == 1


def test_a_500_before_create_is_retried_and_sent_once(world: World) -> None:
    world.fake.script("create", Scripted.server_error())
    assert world.tick().unknown == 1  # a 500 may hide a create: never retried blind
    assert world.rows()["now"]["state"] == "handing_off"
    # Past reconcile_after the listing shows nothing was created: planned afresh, then sent.
    world.tick(T0 + timedelta(minutes=10))
    assert world.rows()["now"]["state"] == "planned"
    world.tick(T0 + timedelta(minutes=11))
    assert world.rows()["now"]["state"] == "queued"
    assert [c.args["body"] for c in world.fake.calls_of("create")].count("Step one.") == 2
    assert [m.body for m in world.fake.messages.values()].count("Step one.") == 1


@pytest.mark.parametrize("code", [21610, 21614])
def test_a_permanent_error_fails_the_message_without_a_retry(world: World, code: int) -> None:
    world.fake.script("create", Scripted.twilio(code), Scripted.twilio(code))
    report = world.tick()
    assert report.failed == 2
    rows = world.rows()
    assert (rows["now"]["state"], rows["now"]["error_code"]) == ("failed", code)
    world.tick(T0 + timedelta(hours=2))
    assert len(world.fake.calls_of("create")) == 2
    with world.engine.connect() as connection:
        opted_out = connection.execute(select(contacts.c.opted_out_at)).scalar_one()
    assert (opted_out is not None) is (code == 21610)


def test_a_cancel_too_late_records_what_twilio_did(world: World) -> None:
    world.tick()
    later = world.rows()["later"]
    world.fake.set_status(str(later["sid"]), "sent")
    unenroll(world.engine, now=T0 + timedelta(minutes=1), enrollment_id=int(later["enrollment_id"]))  # type: ignore[call-overload]
    report = world.tick(T0 + timedelta(minutes=2))
    assert report.cancel_too_late == 1
    assert world.fake.calls_of("cancel")[0].args == {"sid": later["sid"]}
    assert world.rows()["later"]["state"] == "sent"


def test_a_cancel_in_time_cancels_at_the_provider(world: World) -> None:
    world.tick()
    later = world.rows()["later"]
    unenroll(world.engine, now=T0 + timedelta(minutes=1), enrollment_id=int(later["enrollment_id"]))  # type: ignore[call-overload]
    report = world.tick(T0 + timedelta(minutes=2))
    assert report.canceled == 1
    assert world.fake.messages[str(later["sid"])].status == "canceled"
    assert world.rows()["later"]["state"] == "canceled"
