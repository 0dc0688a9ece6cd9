"""The handoff keeps its slots busy: claims run ahead of the calls, answers are recorded in
batches, and a slow create holds back nothing but itself; a worker that dies with answers
not yet recorded loses nothing and sends nothing twice."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from exactly_once import STEPS, assert_exactly_once, enroll_contacts, unfinished, write_drip
from sqlalchemy import Engine, func, select
from tests.e2e.conftest import due_now

from dripsms.engine.dispatcher import Dispatcher
from dripsms.engine.handoff import Answered
from dripsms.sandbox import CallKind, FaultConfig, FaultRule
from dripsms.store.tables import events, messages
from dripsms.testing import sandbox_world

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LEASE_AND_RECONCILE = timedelta(minutes=2, seconds=30)
SLOW_MS = 3_000


def recorded(engine: Engine) -> int:
    """Messages whose answer from Twilio is recorded (they hold a SID)."""
    with engine.connect() as connection:
        query = select(func.count()).where(messages.c.sid.is_not(None))
        return int(connection.execute(query).scalar_one())


class Timed:
    """The real provider; notes, when a create took over a second, how many answers were
    recorded at the moment it returned."""

    def __init__(self, provider: Any, engine: Engine) -> None:
        self.provider, self.engine = provider, engine
        self.slow: list[int] = []
        self._lock = threading.Lock()

    def create(self, **kwargs: Any) -> Any:
        started = time.monotonic()
        handoff = self.provider.create(**kwargs)
        if time.monotonic() - started > 1.0:
            with self._lock:
                self.slow.append(recorded(self.engine))
        return handoff

    def __getattr__(self, name: str) -> Any:
        return getattr(self.provider, name)


def test_a_slow_create_does_not_hold_back_the_rest_of_its_batch(
    engine: Engine, tmp_path: Path
) -> None:
    """The first create takes 3 s at the sandbox; 19 others, in batches of 5 over 4 slots,
    are all made and recorded before it answers (claims do not wait for a batch's slowest
    create)."""
    contacts = 20
    with due_now(engine, tmp_path, contacts, concurrency=4) as world:
        slow = FaultRule(latency_ms=SLOW_MS, times=1)
        world.sandbox.faults.configure(FaultConfig(rules={CallKind.CREATE: slow}))
        runtime = world.runtime
        plain = runtime.dispatcher()
        plain.close()
        timed = Timed(runtime.provider, runtime.engine)
        dispatcher = Dispatcher(runtime.engine, timed, runtime.library, plain.config)
        try:
            report = dispatcher.tick(world.now)
        finally:
            dispatcher.close()
        assert report.sent_now == contacts
        assert timed.slow == [contacts - 1]  # everything else was in before it answered
        assert recorded(world.engine) == contacts
        assert world.sandbox.creates == contacts


class Crash(BaseException):
    """The process dies: nothing after it runs (not an ``Exception``: nothing catches it)."""


class DiesBeforeRecording(Dispatcher):
    """Its creates reach Twilio, but the process dies before any answer is committed."""

    def _record_answers(self, batch: Sequence[Answered], **kwargs: Any) -> None:
        raise Crash


def test_answers_not_yet_recorded_when_the_worker_dies_are_adopted_exactly_once(
    engine: Engine, tmp_path: Path
) -> None:
    """Every create the dead worker made is found at Twilio and adopted by a later pass;
    none is made again, and the worker made no create after its answers stopped being
    recorded beyond those already in flight."""
    contacts = 12
    total = contacts * STEPS
    url = engine.url.render_as_string(hide_password=False)
    with sandbox_world(
        url, write_drip(tmp_path / "sequences"), T0, public_url="http://127.0.0.1:9",
        rate_limit=100_000, concurrency=4, batch_size=10,
    ) as world:  # fmt: skip
        enroll_contacts(world.runtime.enroller, contacts, T0, seed=31)
        runtime = world.runtime
        plain = runtime.dispatcher()
        plain.close()
        config = replace(plain.config, owner="doomed")
        doomed = DiesBeforeRecording(runtime.engine, runtime.provider, runtime.library, config)
        try:
            try:
                doomed.tick(T0)
            except Crash:
                pass
            else:
                raise AssertionError("the recorder's crash was swallowed")
        finally:
            doomed.close()
        made = world.sandbox.creates
        assert made > 0
        assert recorded(world.engine) == 0  # not one answer was committed
        assert unfinished(world.engine) > 0

        world.at(T0 + LEASE_AND_RECONCILE)
        for _ in range(5):
            world.tick()
            if not unfinished(world.engine):
                break
            world.at(world.now + timedelta(minutes=1))
        assert unfinished(world.engine) == 0
        with world.engine.connect() as connection:
            causes = Counter(connection.execute(select(events.c.cause)).scalars())
        assert causes["reconciled"] == made, causes  # each create of the dead worker, adopted
        sandbox = world.sandbox
        assert_exactly_once(world.engine, sandbox.messages(), sandbox.creates, total)


class StopsAfterFirstCreate:
    """The real provider; after its first create, the worker is asked to stop."""

    def __init__(self, provider: Any) -> None:
        self.provider = provider
        self.dispatcher: Dispatcher | None = None

    def create(self, **kwargs: Any) -> Any:
        handoff = self.provider.create(**kwargs)
        assert self.dispatcher is not None
        self.dispatcher.stopping.set()
        return handoff

    def __getattr__(self, name: str) -> Any:
        return getattr(self.provider, name)


def test_a_stop_mid_pass_claims_no_more_and_records_everything_claimed(
    engine: Engine, tmp_path: Path
) -> None:
    contacts = 40
    with due_now(engine, tmp_path, contacts, concurrency=2) as world:
        runtime = world.runtime
        plain = runtime.dispatcher()
        plain.close()
        stopper = StopsAfterFirstCreate(runtime.provider)
        dispatcher = Dispatcher(runtime.engine, stopper, runtime.library, plain.config)
        stopper.dispatcher = dispatcher
        batches: list[int] = []
        dispatcher.progress = lambda: batches.append(recorded(world.engine))
        try:
            report = dispatcher.tick(world.now)
        finally:
            dispatcher.close()
        assert 5 <= report.sent_now < contacts  # it stopped claiming
        assert world.sandbox.creates == report.sent_now == recorded(world.engine)
        with world.engine.connect() as connection:
            states = Counter(connection.execute(select(messages.c.state)).scalars())
        assert states == {"queued": report.sent_now, "planned": contacts - report.sent_now}
        assert len(batches) == report.sent_now // 5  # progress after each batch claimed


def test_progress_is_reported_after_each_batch_of_a_long_pass(
    engine: Engine, tmp_path: Path
) -> None:
    contacts = 40
    with due_now(engine, tmp_path, contacts, concurrency=2) as world:
        dispatcher = world.runtime.dispatcher()
        progress: list[int] = []
        dispatcher.progress = lambda: progress.append(recorded(world.engine))
        try:
            report = dispatcher.tick(world.now)
        finally:
            dispatcher.close()
        assert report.sent_now == contacts
        assert len(progress) == contacts // 5
        assert progress[-1] < contacts  # reported while the pass was still running
