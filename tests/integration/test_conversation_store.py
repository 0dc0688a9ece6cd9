"""The conversation side's store functions against a real database (SQLite and PostgreSQL):
notify webhooks, stored replies (kinds written and compared as enums), recovery cursors,
contacts created by a STOP, and the writes a rule's actions make."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from dripsms.core.planning import EnrollmentRequest
from dripsms.core.states import EnrollmentState, MessageKind, MessageState, ReplyKind
from dripsms.engine.conversations import contact_id_of
from dripsms.engine.enrollment import Enroller
from dripsms.engine.library import SequenceLibrary
from dripsms.store import contacts as stored_contacts
from dripsms.store import conversations as store
from dripsms.store import enrollments as stored_enrollments
from dripsms.store import messages as stored_messages
from dripsms.store import notifications
from dripsms.store.outbox import replies_of
from dripsms.store.replies import (
    invalid_count,
    load_cursor,
    reply_stored,
    save_cursor,
    store_reply,
    stored_sids,
)
from dripsms.store.repository import contacts_by_phone
from dripsms.store.tables import contacts, enrollments, messages, replies
from dripsms.store.tables import notifications as notifications_table

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)
ADA = "+14155550100"


@pytest.fixture
def enrollment_id(engine: Engine) -> int:
    enroller = Enroller(engine, SequenceLibrary(REPO / "sequences"))
    request = EnrollmentRequest(
        sequence="postop", phone=ADA, timezone="America/New_York",
        attributes={"first_name": "Ada"}, anchor="2026-03-07",
    )  # type: ignore[arg-type]  # fmt: skip
    return enroller.enroll(request, now=NOW).enrollment_id


def _state(engine: Engine) -> tuple[str, int, str | None]:
    n = notifications_table.c
    with engine.connect() as connection:
        row = connection.execute(select(n.state, n.attempts, n.last_error)).one()
    return row.state, row.attempts, row.last_error


def test_a_notification_is_due_until_delivered_and_then_stays_delivered(engine: Engine) -> None:
    with engine.begin() as connection:
        notifications.queue_notification(
            connection,
            None,
            "nurse",
            "http://x.invalid/hook",
            {"a": 1},
            NOW,  # type: ignore[arg-type]
        )
    with engine.connect() as connection:
        assert notifications.due_notifications(connection, NOW - timedelta(seconds=1), 10) == []
        (due,) = notifications.due_notifications(connection, NOW, 10)
    assert (due.url, due.payload, due.attempts) == ("http://x.invalid/hook", {"a": 1}, 0)
    with engine.begin() as connection:
        notifications.retry_at(connection, due.id, 1, "HTTP 500", NOW + timedelta(minutes=1))
    with engine.connect() as connection:
        assert notifications.due_notifications(connection, NOW, 10) == []
        assert len(notifications.due_notifications(connection, NOW + timedelta(minutes=1), 10)) == 1
    with engine.begin() as connection:
        notifications.mark_delivered(connection, due.id, 2, NOW + timedelta(minutes=1))
    assert _state(engine) == ("delivered", 2, "HTTP 500")
    with engine.begin() as connection:  # a late failure never undoes a delivery
        notifications.mark_failed(connection, due.id, 3, "Timeout")
        assert notifications.due_notifications(connection, NOW + timedelta(days=1), 10) == []
    assert _state(engine) == ("delivered", 2, "HTTP 500")


def test_replies_are_stored_once_with_their_kind_and_read_back_by_kind(
    engine: Engine, enrollment_id: int
) -> None:
    with engine.begin() as connection:
        contact_id = contacts_by_phone(connection, [ADA])[ADA].id
        for sid, kind, value in [
            ("SM1", ReplyKind.INVALID, None),
            ("SM2", ReplyKind.MATCHED, 3),
            ("SM3", ReplyKind.MATCHED, 8),
            ("SM4", ReplyKind.FOLLOWUP, 9),
        ]:
            store_reply(
                connection, message_sid=sid, contact_id=contact_id,
                enrollment_id=enrollment_id, step_id="day1", kind=kind, body="x",
                value=value, received_at=NOW + timedelta(minutes=int(sid[2:])), from_phone=ADA,
            )  # fmt: skip
    with engine.connect() as connection:
        kinds = connection.execute(select(replies.c.kind).order_by(replies.c.id)).scalars()
        assert list(kinds) == ["invalid", "matched", "matched", "followup"]
        assert reply_stored(connection, "SM2") and not reply_stored(connection, "SM9")
        assert stored_sids(connection, ["SM1", "SM9", "SM4"]) == {"SM1", "SM4"}
        assert stored_sids(connection, []) == set()
        assert replies_of(connection, [enrollment_id]) == {enrollment_id: {"day1": 8}}
        assert invalid_count(connection, enrollment_id, "day1") == 1


def test_a_recovery_cursor_is_saved_and_moved(engine: Engine) -> None:
    with engine.begin() as connection:
        assert load_cursor(connection, "inbound:+15550001") is None
        save_cursor(connection, "inbound:+15550001", NOW, NOW)
        save_cursor(connection, "inbound:+15550001", NOW + timedelta(hours=1), NOW)
    with engine.connect() as connection:
        assert load_cursor(connection, "inbound:+15550001") == NOW + timedelta(hours=1)
        assert load_cursor(connection, "inbound:+15550002") is None


def test_a_stop_from_a_stranger_makes_a_bare_contact_that_start_resubscribes(
    engine: Engine,
) -> None:
    with engine.begin() as connection:
        assert contacts_by_phone(connection, ["+14155550199"]) == {}
        assert contact_id_of(connection, "+14155550199") is None
        assert contact_id_of(connection, None) is None
        contact_id = stored_contacts.add_bare_contact(connection, "+14155550199", NOW)
        assert contact_id_of(connection, "+14155550199") == contact_id
        connection.execute(contacts.update().values(opted_out_at=NOW))
        stored_contacts.resubscribe(connection, contact_id, NOW + timedelta(hours=1))
        row = connection.execute(select(contacts)).one()
    assert (row.attributes, row.opted_out_at) == ({}, None)
    assert row.updated_at == NOW + timedelta(hours=1)


def test_rule_writes_texts_staff_alerts_and_completion(engine: Engine, enrollment_id: int) -> None:
    m = messages.c
    with engine.begin() as connection:
        store.add_text(connection, enrollment_id, "day1#SM1#" + "x" * 80, "hi", NOW)
        store.add_text(
            connection, enrollment_id, "day1#SM1#staff0", "alert", NOW,
            kind=MessageKind.STAFF, to_phone="+15555550123",
        )  # fmt: skip
        rows = connection.execute(
            select(m.step_id, m.kind, m.state, m.to_phone)
            .where(m.kind != MessageKind.STEP)
            .order_by(m.id)
        ).all()
        assert [tuple(r) for r in rows] == [
            (("day1#SM1#" + "x" * 80)[:64], "text", "planned", None),
            ("day1#SM1#staff0", "staff", "planned", "+15555550123"),
        ]
        S = MessageState
        pending = stored_messages.steps_of_enrollment(
            connection, enrollment_id, states=[S.PLANNED, S.SCHEDULED]
        )
        assert {p.step_id for p in pending} == {"day1", "day7", "day30"}
        assert all(p.state is MessageState.PLANNED for p in pending)
        blocked = stored_messages.steps_of_enrollment(connection, enrollment_id, states=[S.BLOCKED])
        assert sorted(b.step_id for b in blocked) == ["day3", "day3_escalated"]
        assert all(b.due_at is not None for b in blocked)
        skipped = stored_messages.stop_unsent(
            connection, [enrollment_id], S.SKIPPED, NOW, states=[S.BLOCKED]
        )
        assert len(skipped) == 2
        assert (
            stored_messages.steps_of_enrollment(connection, enrollment_id, states=[S.BLOCKED]) == []
        )
        assert {m.step_id: m.state for m in stored_messages.all_of_enrollment(
            connection, enrollment_id, step_ids=["day3", "day1"])} == {
            "day3": S.SKIPPED, "day1": S.PLANNED,
        }  # fmt: skip
        completed = EnrollmentState.COMPLETED
        ended = stored_enrollments.end(
            connection, enrollment_id, state=completed, reason="finished", now=NOW
        )
        again = stored_enrollments.end(
            connection, enrollment_id, state=completed, reason="finished", now=NOW
        )
        assert ended is not None and again is None  # once
        facts = store.enrollment_facts(connection, enrollment_id)
        state = connection.execute(select(enrollments.c.state)).scalar_one()
    assert (facts.phone, facts.timezone) == (ADA, "America/New_York")
    assert state == EnrollmentState.COMPLETED
