"""Exactly once under a flaky Twilio: thousands of handoffs through the real SDK against the
sandbox, with 500s before and after processing, 429s and timeouts after the create, on
creates and on the listings that reconcile them. The sandbox counts what it created.

2,000 messages on SQLite; 500 on PostgreSQL (the same paths; all 2,000 on both would take
the file past a minute on a two-core machine).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from exactly_once import STEPS, assert_exactly_once, enroll_contacts, unfinished, write_drip
from sqlalchemy import Engine

from dripsms.engine.outcomes import TickReport
from dripsms.sandbox import CallKind, FaultConfig, FaultRule
from dripsms.testing import sandbox_world

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
REQUEST_TIMEOUT = 0.5
FLAKY = FaultRule(
    error_before=0.10,  # 500, nothing created
    error_after=0.10,  # 500, the message exists
    rate_limited=0.10,  # 429 with Retry-After, nothing created
    retry_after=2,
    timeout_after=0.05,  # created, the answer held past the client's timeout
    delay_seconds=REQUEST_TIMEOUT + 0.3,
)
CONTACTS = {"sqlite": 400, "postgresql": 100}
STEP = timedelta(seconds=31)  # past reconcile_after (30 s), so unknown outcomes get settled


def test_every_message_reaches_twilio_exactly_once_through_500s_429s_and_timeouts(
    engine: Engine, tmp_path: Path
) -> None:
    contacts = CONTACTS[engine.dialect.name]
    total = contacts * STEPS
    url = engine.url.render_as_string(hide_password=False)
    with sandbox_world(
        url, write_drip(tmp_path / "sequences"), T0, public_url="http://127.0.0.1:9",
        rate_limit=100_000, request_timeout=REQUEST_TIMEOUT,
    ) as world:  # fmt: skip
        enroll_contacts(world.runtime.enroller, contacts, T0, seed=20)
        world.sandbox.faults.configure(
            FaultConfig(seed=11, rules={CallKind.CREATE: FLAKY, CallKind.LIST: FLAKY})
        )
        for _ in range(200):
            world.tick()
            if not unfinished(world.engine):
                break
            world.at(world.now + STEP)
        assert unfinished(world.engine) == 0

        done = TickReport()
        for report in world.reports:
            for name, count in report.as_json().items():
                done.add(name, count)
        # The faults happened: answers were lost and found, creates refused and retried.
        assert done.adopted > total * 0.1, done
        assert done.unknown > 0 and done.retrying > 0, done
        assert done.handed_off == total, done
        assert done.failed == done.expired == done.lost_lease == 0, done
        sandbox = world.sandbox
        assert_exactly_once(world.engine, sandbox.messages(), sandbox.creates, total)
        assert set(sandbox.creates_by_recipient().values()) == {1}
        # Both kinds of handoff: scheduled with SendAt, and sent at once.
        immediate = sum(1 for m in sandbox.messages() if m.send_at is None)
        assert total * 0.05 < immediate < total * 0.5, immediate
