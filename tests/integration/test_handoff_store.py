"""Intents and answers recorded many rows to a transaction (SQLite and PostgreSQL): each row
is fenced on its own, so a claimer that lost its message to another writes nothing to it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, select

from dripsms.core.planning import EnrollmentRequest
from dripsms.core.states import MessageState
from dripsms.engine.enrollment import Enroller
from dripsms.engine.library import SequenceLibrary
from dripsms.store import outbox
from dripsms.store.handoffs import Answer, Intent, record_answers, record_intents
from dripsms.store.tables import events, messages

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(minutes=2)
SEQUENCE = """key: now
name: Now
timezone: UTC
send_window: {start: "00:00", end: "24:00"}
steps:
  - id: hello
    at: {minutes: 1}
    body: "Hello"
"""


def claim_three(engine: Engine, tmp_path: Path) -> list[outbox.Claimed]:
    (tmp_path / "now.yaml").write_text(SEQUENCE)
    enroller = Enroller(engine, SequenceLibrary(tmp_path))
    requests = [(i + 1, EnrollmentRequest("now", f"+1415555010{i}")) for i in range(3)]
    assert len(enroller.enroll_batch(requests, now=NOW).enrolled) == 3
    with engine.begin() as connection:
        return outbox.claim_due(
            connection, now=NOW, until=NOW + timedelta(minutes=5), limit=10, owner="first",
            lease=LEASE,
        )  # fmt: skip


def take_over(engine: Engine, message_id: int) -> None:
    """Another dispatcher claims the message once the first one's lease ran out."""
    later = NOW + LEASE + timedelta(seconds=1)
    with engine.begin() as connection:
        taken = outbox.claim_due(
            connection, now=later, until=later, limit=10, owner="second", lease=LEASE
        )
    assert [c.id for c in taken] == [message_id]


def rows(engine: Engine) -> dict[int, tuple[str, str | None, str | None]]:
    with engine.connect() as connection:
        query = select(messages.c.id, messages.c.state, messages.c.sid, messages.c.body)
        return {r.id: (r.state, r.sid, r.body) for r in connection.execute(query)}


def test_an_intent_is_recorded_only_where_the_claim_still_holds(
    engine: Engine, tmp_path: Path
) -> None:
    first, second, third = claim_three(engine, tmp_path)
    with engine.begin() as connection:  # the lease of the second only runs out
        connection.execute(
            messages.update()
            .where(messages.c.id != second.id)
            .values(lease_expires_at=NOW + timedelta(hours=1))
        )
    take_over(engine, second.id)
    intents = [Intent(c.id, c.fence, f"body {c.id}", None, 1) for c in (first, second, third)]
    with engine.begin() as connection:
        recorded = record_intents(connection, intents, NOW)
    assert recorded == {first.id, third.id}
    after = rows(engine)
    assert after[first.id][2] == f"body {first.id}"
    assert after[second.id][2] is None  # the second claimer's row: untouched
    with engine.connect() as connection:
        started = connection.execute(
            select(events.c.message_id).where(events.c.cause == "handoff_started")
        ).scalars()
        assert sorted(started) == sorted([first.id, third.id])


def test_an_answer_is_recorded_only_where_the_claim_still_holds(
    engine: Engine, tmp_path: Path
) -> None:
    first, second, third = claim_three(engine, tmp_path)
    with engine.begin() as connection:
        connection.execute(
            messages.update()
            .where(messages.c.id != second.id)
            .values(lease_expires_at=NOW + timedelta(hours=1))
        )
    take_over(engine, second.id)
    answers = [
        Answer(c.id, c.fence, f"SM{c.id:032d}", "queued", MessageState.QUEUED)
        for c in (first, second, third)
    ]
    with engine.begin() as connection:
        moved = record_answers(connection, answers, NOW)
    assert moved == {first.id, third.id}
    after = rows(engine)
    assert after[first.id][:2] == ("queued", f"SM{first.id:032d}")
    assert after[third.id][:2] == ("queued", f"SM{third.id:032d}")
    assert after[second.id][:2] == ("handing_off", None)  # still the second claimer's
    with engine.connect() as connection:
        handed = connection.execute(
            select(events.c.message_id).where(events.c.cause == "handed_off")
        ).scalars()
        assert sorted(handed) == sorted([first.id, third.id])
