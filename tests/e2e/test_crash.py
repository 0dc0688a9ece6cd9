"""Exactly once through crashes and lost leases, counted by the sandbox.

`dripsms tick` processes are SIGKILLed at random moments while they hand off 2,000
messages (SQLite), then a clean run finishes; deterministically, a worker dies right after
its N-th create; and a dispatcher that outlives its lease
while another one takes its messages over sends none of them a second time.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from exactly_once import STEPS, assert_exactly_once, enroll_contacts, unfinished, write_drip
from sqlalchemy import Engine, select

from dripsms.engine.dispatcher import Dispatcher
from dripsms.engine.enrollment import Enroller
from dripsms.engine.library import SequenceLibrary
from dripsms.sandbox import CallKind, FaultConfig, FaultRule, Sandbox, SandboxServer
from dripsms.store import outbox
from dripsms.store.database import connect, upgrade
from dripsms.store.tables import events, messages
from dripsms.testing import sandbox_world

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CONTACTS = 400
KILLS = 24
RESTART_EVERY = timedelta(seconds=45)  # leases (2 min) of killed workers run out mid-way
LEASE_AND_RECONCILE = timedelta(minutes=2, seconds=30)


def environment(url: str, sequences: Path, api_base: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DRIPSMS_", "TWILIO_"))}
    env.update(
        DRIPSMS_DATABASE_URL=url,
        DRIPSMS_SEQUENCES_DIR=str(sequences),
        DRIPSMS_TWILIO_API_BASE=api_base,
        DRIPSMS_PUBLIC_URL="http://127.0.0.1:9",
        DRIPSMS_RATE_LIMIT="100000",
        DRIPSMS_REQUEST_TIMEOUT="10",
    )
    return env


def tick_command() -> list[str]:
    return [sys.executable, "-m", "dripsms", "tick", "--json"]


def leased_by(db: Path, owner: str) -> int:
    """How many messages ``owner`` (a worker's host:pid) holds claimed (read-only)."""
    with closing(sqlite3.connect(db, timeout=10)) as connection:
        query = "SELECT count(*) FROM messages WHERE lease_owner = ? AND state = 'handing_off'"
        return int(connection.execute(query, (owner,)).fetchone()[0])


def kill_mid_handoff(worker: subprocess.Popen[bytes], db: Path, delay: float) -> bool:
    """Once ``worker`` has claimed messages, SIGKILL it after ``delay`` seconds. True when
    it died holding claimed messages (mid-handoff); False when it finished first."""
    owner = f"{socket.gethostname()}:{worker.pid}"
    deadline = time.monotonic() + 60
    while not leased_by(db, owner):  # waiting for the subprocess to start work
        if worker.poll() is not None:
            return False
        assert time.monotonic() < deadline, "the worker never claimed anything"
        time.sleep(0.005)
    try:
        worker.wait(delay)
    except subprocess.TimeoutExpired:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        return leased_by(db, owner) > 0
    return False


def test_workers_killed_at_random_moments_hand_off_each_message_exactly_once(
    tmp_path: Path,
) -> None:
    total = CONTACTS * STEPS
    db = tmp_path / "dripsms.db"
    url = f"sqlite:///{db}"
    sequences = write_drip(tmp_path / "sequences")
    engine = connect(url)
    rng = random.Random(2026)
    # Calls take a little while at the sandbox, so some are in flight when a worker dies
    # (the sandbox still processes them, as Twilio would).
    slow = FaultRule(latency_ms=15)
    sandbox = Sandbox(
        now=T0, faults=FaultConfig(rules={CallKind.CREATE: slow, CallKind.LIST: slow})
    )
    try:
        upgrade(engine)
        enroll_contacts(Enroller(engine, SequenceLibrary(sequences)), CONTACTS, T0, seed=21)
        with SandboxServer(sandbox) as server:
            env = environment(url, sequences, server.base_url)
            now, kills, log = T0, 0, tmp_path / "workers.log"
            with log.open("ab") as stderr:
                for _ in range(KILLS * 2):
                    sandbox.set_now(now)
                    with subprocess.Popen(
                        tick_command(), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=stderr,
                        env={**env, "DRIPSMS_NOW": now.isoformat(), "DRIPSMS_BATCH_SIZE": "10"},
                    ) as worker:  # fmt: skip
                        kills += kill_mid_handoff(worker, db, rng.uniform(0.0, 0.6))
                        assert worker.returncode in (0, -signal.SIGKILL), log.read_text()[-2000:]
                    now += RESTART_EVERY
                    if kills == KILLS:
                        break
            assert kills == KILLS  # each left claimed messages behind
            assert unfinished(engine) > total // 10  # the clean run still has work to do

            # A clean run once every lease has run out: reconcile what the killed left.
            now += LEASE_AND_RECONCILE
            for _ in range(5):
                sandbox.set_now(now)
                done = subprocess.run(
                    tick_command(), cwd=tmp_path, capture_output=True,
                    env={**env, "DRIPSMS_NOW": now.isoformat()}, timeout=120, check=False,
                )  # fmt: skip
                assert done.returncode == 0, done.stderr.decode()[-2000:]
                if not unfinished(engine):
                    break
                now += timedelta(minutes=1)
            assert unfinished(engine) == 0

            with engine.connect() as connection:
                causes = Counter(connection.execute(select(events.c.cause)).scalars())
            # Workers died between the create and its record: found at Twilio, adopted.
            assert causes["reconciled"] > 0, causes
            assert_exactly_once(engine, sandbox.messages(), sandbox.creates, total)
            assert set(sandbox.creates_by_recipient().values()) == {1}
    finally:
        engine.dispose()


class Stopwatch:
    """A monotonic clock that moves only when told: the time a slow Twilio takes."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self) -> float:
        return self.seconds


class SlowTwilio:
    """The real provider, where each create takes ``per_create`` seconds of ``watch`` time.
    Once ``takeover_at`` seconds have passed, ``meanwhile`` runs before the next create (what
    another dispatcher does while this one is still busy)."""

    def __init__(
        self, provider: Any, watch: Stopwatch, per_create: float, takeover_at: float,
        meanwhile: Callable[[], None],
    ) -> None:  # fmt: skip
        self.provider, self.watch, self.per_create = provider, watch, per_create
        self.takeover_at, self.meanwhile, self.took_over = takeover_at, meanwhile, False

    def create(self, **kwargs: Any) -> Any:
        if not self.took_over and self.watch.seconds >= self.takeover_at:
            self.took_over = True
            self.meanwhile()
        handoff = self.provider.create(**kwargs)
        self.watch.seconds += self.per_create
        return handoff

    def __getattr__(self, name: str) -> Any:  # recent, fetch, cancel: as they are
        return getattr(self.provider, name)


@pytest.mark.parametrize(
    ("contacts", "batch_size", "per_create", "takeover_at"),
    [
        # A long pass: the third batch is claimed 100 s in, and another dispatcher looks
        # 130 s in. The batch's lease must count from its claim, not from the pass's start.
        (3, 5, 10.0, 130.0),
        # A slow batch: one create takes 25 s, another dispatcher looks 125 s in, past the
        # batch's lease. No create may start after half the lease is gone.
        (2, 10, 25.0, 125.0),
    ],
    ids=["long-pass", "slow-batch"],
)
def test_a_pass_that_outlives_its_lease_never_sends_what_another_dispatcher_took_over(
    engine: Engine, tmp_path: Path, contacts: int, batch_size: int, per_create: float,
    takeover_at: float,
) -> None:  # fmt: skip
    total = contacts * STEPS
    url = engine.url.render_as_string(hide_password=False)
    with sandbox_world(
        url, write_drip(tmp_path / "sequences"), T0, public_url="http://127.0.0.1:9",
        rate_limit=100_000, concurrency=1, batch_size=batch_size,
    ) as world:  # fmt: skip
        enroll_contacts(world.runtime.enroller, contacts, T0, seed=22)
        watch = Stopwatch()

        def another_dispatcher() -> None:
            other = world.runtime.dispatcher()
            try:
                other.tick(T0 + timedelta(seconds=takeover_at))
            finally:
                other.close()

        runtime = world.runtime
        slow = SlowTwilio(runtime.provider, watch, per_create, takeover_at, another_dispatcher)
        plain = runtime.dispatcher()
        plain.close()
        config = replace(plain.config, owner="slow")
        dispatcher = Dispatcher(runtime.engine, slow, runtime.library, config, monotonic=watch)
        try:
            dispatcher.tick(T0)
        finally:
            dispatcher.close()
        assert slow.took_over
        world.at(T0 + timedelta(minutes=10))  # what was handed back goes now
        world.tick()
        assert unfinished(world.engine) == 0
        sandbox = world.sandbox
        assert_exactly_once(world.engine, sandbox.messages(), sandbox.creates, total)


def test_a_claim_takes_one_batch_at_most(engine: Engine, tmp_path: Path) -> None:
    """What a dying worker strands, and what its lease must cover, is one batch."""
    enroll_contacts(Enroller(engine, SequenceLibrary(write_drip(tmp_path))), 6, T0, seed=23)
    with engine.begin() as connection:
        claimed = outbox.claim_due(
            connection, now=T0, until=T0 + timedelta(days=7), limit=5, owner="w",
            lease=timedelta(minutes=2), stale=False,
        )  # fmt: skip
        states = Counter(connection.execute(select(messages.c.state)).scalars())
    assert len(claimed) == 5
    assert states == {"handing_off": 5, "planned": 6 * STEPS - 5}


class Crash(BaseException):
    """The process dies: nothing after it runs (not an ``Exception``: nothing catches it)."""


class CrashingTwilio:
    """The real provider, until the ``crash_after``-th create: that one reaches the sandbox,
    then the process "dies" before its answer is recorded, and makes no call after."""

    def __init__(self, provider: Any, crash_after: int) -> None:
        self.provider, self.crash_after, self.creates, self.dead = provider, crash_after, 0, False

    def create(self, **kwargs: Any) -> Any:
        if self.dead:
            raise Crash
        handoff = self.provider.create(**kwargs)
        self.creates += 1
        if self.creates == self.crash_after:
            self.dead = True
            raise Crash
        return handoff

    def __getattr__(self, name: str) -> Any:  # recent, fetch, cancel
        if self.dead:
            raise Crash
        return getattr(self.provider, name)


@pytest.mark.parametrize("crash_after", [1, 7, 23])
def test_a_worker_that_dies_after_the_nth_create_is_reconciled_exactly_once(
    engine: Engine, tmp_path: Path, crash_after: int
) -> None:
    """The deterministic twin of the random kills: the N-th create lands at Twilio, its
    answer is lost with the process, and a later pass adopts it instead of sending again."""
    contacts = 10
    total = contacts * STEPS
    url = engine.url.render_as_string(hide_password=False)
    with sandbox_world(
        url, write_drip(tmp_path / "sequences"), T0, public_url="http://127.0.0.1:9",
        rate_limit=100_000, concurrency=1, batch_size=10,
    ) as world:  # fmt: skip
        enroll_contacts(world.runtime.enroller, contacts, T0, seed=24)
        runtime = world.runtime
        plain = runtime.dispatcher()
        plain.close()
        crashing = CrashingTwilio(runtime.provider, crash_after)
        config = replace(plain.config, owner="doomed")
        doomed = Dispatcher(runtime.engine, crashing, runtime.library, config)
        try:
            with pytest.raises(Crash):
                doomed.tick(T0)
        finally:
            doomed.close()
        assert world.sandbox.creates == crash_after
        assert unfinished(world.engine) > 0

        # Once the dead worker's lease has run out, a clean dispatcher finishes the work.
        world.at(T0 + LEASE_AND_RECONCILE)
        for _ in range(5):
            world.tick()
            if not unfinished(world.engine):
                break
            world.at(world.now + timedelta(minutes=1))
        assert unfinished(world.engine) == 0
        with world.engine.connect() as connection:
            causes = Counter(connection.execute(select(events.c.cause)).scalars())
        assert causes["reconciled"] == 1, causes  # the N-th create, adopted
        sandbox = world.sandbox
        assert_exactly_once(world.engine, sandbox.messages(), sandbox.creates, total)
