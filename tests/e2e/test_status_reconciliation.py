"""Status reconciliation: with every status callback dropped by the sandbox, messages still
end ``delivered`` in dripsms, fetched through the real SDK once overdue by the grace;
a message Twilio no longer knows ends ``lost`` and is alerted; fetches stay under the rate
limit and come in capped batches."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from dripsms.core.planning import EnrollmentRequest
from dripsms.engine.ratelimit import TokenBucket
from dripsms.engine.status_reconciliation import StatusReconciler
from dripsms.provider.base import ProviderMessage
from dripsms.sandbox import CallbackFaults, FaultConfig
from dripsms.store.tables import events, messages
from dripsms.store.views import stats
from dripsms.testing import SandboxWorld, free_port, sandbox_world, serve_app
from dripsms.web.app import create_app

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
GRACE = timedelta(minutes=10)
DRIP = """key: drip
name: Drip
timezone: UTC
send_window: {start: "00:00", end: "24:00"}
steps:
  - id: now
    at: {minutes: 5}
    body: "Sent at once"
  - id: later
    at: {hours: 1}
    body: "Scheduled for an hour on"
"""


class CountingProvider:
    """The real provider, counting the status fetches made through it."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.fetched: list[str] = []
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def fetch(self, sid: str) -> ProviderMessage:
        with self._lock:
            self.fetched.append(sid)
        return self.real.fetch(sid)  # type: ignore[no-any-return]


@pytest.fixture
def live(engine: Engine, tmp_path: Path) -> Iterator[tuple[SandboxWorld, CountingProvider]]:
    """dripsms serving its webhooks, the sandbox dropping every status callback to them."""
    folder = tmp_path / "sequences"
    folder.mkdir()
    (folder / "drip.yaml").write_text(DRIP)
    port = free_port()
    url = engine.url.render_as_string(hide_password=False)
    with (
        sandbox_world(url, folder, T0, public_url=f"http://127.0.0.1:{port}", rate_limit=10_000)
        as world,
        serve_app(create_app(world.runtime), port=port),
    ):  # fmt: skip
        world.sandbox.faults.configure(FaultConfig(callbacks=CallbackFaults(drop=1.0)))
        counting = CountingProvider(world.runtime.provider)
        vars(world.runtime)["provider"] = counting  # the cached provider, counted
        yield world, counting


def enroll(world: SandboxWorld, phone: str = "+14155550100") -> None:
    world.runtime.enroller.enroll(EnrollmentRequest("drip", phone), now=world.now)


def states(world: SandboxWorld) -> dict[str, str]:
    with world.engine.connect() as connection:
        return {r.step_id: r.state for r in connection.execute(select(messages))}


def row(world: SandboxWorld, step: str) -> Any:
    with world.engine.connect() as connection:
        return connection.execute(select(messages).where(messages.c.step_id == step)).one()


def causes(world: SandboxWorld, step: str) -> list[tuple[str, str | None]]:
    with world.engine.connect() as connection:
        return [
            (e.cause, e.to_state)
            for e in connection.execute(
                select(events.c.cause, events.c.to_state)
                .join(messages, messages.c.id == events.c.message_id)
                .where(messages.c.step_id == step)
                .order_by(events.c.id)
            )
        ]


def test_with_every_callback_dropped_messages_end_delivered_after_the_grace(
    live: tuple[SandboxWorld, CountingProvider],
) -> None:
    world, counting = live
    enroll(world)
    world.tick()
    assert states(world) == {"now": "queued", "later": "scheduled"}
    now_sid, later_sid = row(world, "now").sid, row(world, "later").sid

    # Twilio sends both; not one callback reaches dripsms.
    world.at(T0 + GRACE - timedelta(seconds=1))
    world.tick()
    assert {m.status for m in world.sandbox.messages()} == {"delivered", "scheduled"}
    assert counting.fetched == []  # nothing is fetched before its grace
    assert states(world) == {"now": "queued", "later": "scheduled"}

    world.at(T0 + GRACE)
    report = world.tick()
    assert counting.fetched == [now_sid]  # the scheduled one is not due for an hour
    assert (report.reconciled, report.still_in_flight, report.lost) == (1, 0, 0)
    assert states(world) == {"now": "delivered", "later": "scheduled"}
    assert causes(world, "now")[-1] == ("reconciled", "delivered")
    # Sent when Twilio sent it, not when dripsms found out.
    assert row(world, "now").sent_at == T0

    world.at(T0 + timedelta(hours=1) + GRACE)
    world.sandbox.process()  # the sandbox released "later" at its SendAt
    report = world.tick()
    assert counting.fetched == [now_sid, later_sid]
    assert states(world) == {"now": "delivered", "later": "delivered"}
    assert row(world, "later").sent_at == T0 + timedelta(hours=1)

    # Delivered messages are never fetched again.
    world.walk(until=T0 + timedelta(days=2), step=timedelta(hours=6))
    assert counting.fetched == [now_sid, later_sid]
    # Every callback was dropped: each state after the handoff came from reconciliation.
    assert [c for c in causes(world, "now") + causes(world, "later") if c[0] != "reconciled"] == [
        ("handoff_started", "handing_off"), ("handed_off", "queued"),
        ("handoff_started", "handing_off"), ("handed_off", "scheduled"),
    ]  # fmt: skip


def test_a_message_twilio_no_longer_knows_is_marked_lost_and_alerted(
    live: tuple[SandboxWorld, CountingProvider], caplog: pytest.LogCaptureFixture
) -> None:
    world, counting = live
    enroll(world)
    world.tick()
    lost = row(world, "later")
    world.sandbox.forget_message(lost.sid)

    world.at(T0 + timedelta(hours=1) + GRACE)
    with caplog.at_level(logging.WARNING, logger="dripsms"):
        report = world.tick()

    assert (report.reconciled, report.lost) == (1, 1)
    assert states(world) == {"now": "delivered", "later": "lost"}
    assert causes(world, "later")[-1] == ("reconciled", "lost")
    [alert] = [r for r in caplog.records if getattr(r, "reason", None) == "message_lost"]
    assert alert.levelno == logging.WARNING
    assert alert.action == "alert"  # type: ignore[attr-defined]
    assert alert.message_id == lost.id  # type: ignore[attr-defined]
    with world.engine.connect() as connection:  # visible in `dripsms stats`
        assert ("drip", "later", "lost", 1) in stats(connection)

    fetched = len(counting.fetched)
    world.walk(until=T0 + timedelta(days=1), step=timedelta(hours=3))
    assert len(counting.fetched) == fetched  # a lost message is not asked about again


def test_a_message_still_in_flight_is_asked_about_again_later_not_every_pass(
    live: tuple[SandboxWorld, CountingProvider],
) -> None:
    world, counting = live
    enroll(world)
    world.tick()
    sid = row(world, "now").sid

    # The sandbox's clock stays: Twilio still holds the message as accepted.
    def tick_at(delay: timedelta) -> None:
        world.now = T0 + delay
        world.tick()

    tick_at(GRACE)
    assert counting.fetched == [sid]
    assert world.reports[-1].still_in_flight == 1
    assert states(world)["now"] == "queued"
    for minutes in range(11, 20):  # passes every minute: no fetch until the wait is over
        tick_at(timedelta(minutes=minutes))
    assert counting.fetched == [sid]
    tick_at(timedelta(minutes=20))  # 10 minutes old when checked: asked again 10 min on
    assert counting.fetched == [sid, sid]
    tick_at(timedelta(minutes=39))  # 20 minutes old when checked: next at 40
    assert counting.fetched == [sid, sid]
    tick_at(timedelta(minutes=40))
    assert counting.fetched == [sid, sid, sid]

    world.at(T0 + timedelta(minutes=80))  # Twilio sends it at last
    world.tick()
    assert states(world)["now"] == "delivered"
    assert counting.fetched.count(sid) == 4


class FakeTime:
    """A monotonic clock that sleeping moves on (thread-safe), recording each sleep."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


def test_reconciliation_shares_the_rate_limit_and_fetches_capped_batches(
    engine: Engine, tmp_path: Path
) -> None:
    (tmp_path / "drip.yaml").write_text(DRIP)
    url = engine.url.render_as_string(hide_password=False)
    with sandbox_world(
        url, tmp_path, T0, public_url="http://127.0.0.1:9", rate_limit=5, status_batch=10
    ) as world:
        for n in range(15):
            enroll(world, f"+1415555{n:04d}")
        world.tick()  # 15 sent at once (under the real bucket: two seconds)
        dispatcher = world.runtime.dispatcher()
        [reconcile] = [p for p in dispatcher.passes if isinstance(p, StatusReconciler)]
        assert reconcile.bucket is dispatcher.bucket  # handoffs and fetches share one limit
        dispatcher.close()

        time = FakeTime()
        bucket = TokenBucket(5, monotonic=time.monotonic, sleep=time.sleep)
        reconciler = world.runtime.status_reconciler(bucket, reconcile.config.window)
        counting = CountingProvider(reconciler.provider)
        reconciler.provider = counting
        world.at(T0 + GRACE)

        assert reconciler(world.now) == {"reconciled": 10}  # the batch cap
        assert len(counting.fetched) == 10
        # 10 fetches at 5 a second with a burst of 5: at least a second of waiting.
        assert time.now >= (10 - 5) / 5
        assert reconciler(world.now) == {"reconciled": 5}
        assert reconciler(world.now) == {}
        assert len(set(counting.fetched)) == 15
