"""What the conversation side asks about contacts, enrollments and their messages: inbound
routing (who sent this, opt-in/out), the context a step's templates see, and the writes a
rule's actions make (texts, staff alerts, goto, condition rechecks, completion).

One function per question, in the domain's words; every one runs in the caller's
transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from dripsms.core.states import MessageKind, MessageState, ReplyKind
from dripsms.store.tables import contacts, enrollments, messages, replies, sequence_versions

S = MessageState
m = messages.c


# -- contacts ---------------------------------------------------------------------------


def contact_id_of(connection: Connection, phone: str | None) -> int | None:
    """The id of the contact with this phone, or None (also for no phone)."""
    if phone is None:
        return None
    found = connection.execute(select(contacts.c.id).where(contacts.c.phone == phone)).scalar()
    return int(found) if found is not None else None


def add_bare_contact(connection: Connection, phone: str, at: datetime) -> int:
    """A contact with no attributes (a STOP from a number never texted); its id."""
    return int(
        connection.execute(
            insert(contacts)
            .values(phone=phone, attributes={}, created_at=at, updated_at=at)
            .returning(contacts.c.id)
        ).scalar_one()
    )


def resubscribe(connection: Connection, contact_id: int, at: datetime) -> None:
    """Clear the contact's opt-out (START)."""
    connection.execute(
        update(contacts).where(contacts.c.id == contact_id).values(opted_out_at=None, updated_at=at)
    )


# -- enrollments ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EnrollmentFacts:
    """What a step's templates read about an enrollment and its contact."""

    attributes: dict[str, Any]
    contact_attributes: dict[str, Any]
    external_id: str | None
    enrolled_at: datetime
    timezone: str
    phone: str


def enrollment_facts(connection: Connection, enrollment_id: int) -> EnrollmentFacts:
    """The enrollment's attributes and its contact's (for a template context)."""
    e, c = enrollments.c, contacts.c
    row = connection.execute(
        select(
            e.attributes,
            e.external_id,
            e.enrolled_at,
            e.timezone,
            c.phone,
            c.attributes.label("contact_attributes"),
        )
        .join(contacts, c.id == e.contact_id)
        .where(e.id == enrollment_id)
    ).one()
    return EnrollmentFacts(
        dict(row.attributes), dict(row.contact_attributes), row.external_id,
        row.enrolled_at, row.timezone, row.phone,
    )  # fmt: skip


def matched_answers(connection: Connection, enrollment_id: int) -> dict[str, Any]:
    """The enrollment's matched answers by step, the latest winning."""
    r = replies.c
    rows = connection.execute(
        select(r.step_id, r.value)
        .where(r.enrollment_id == enrollment_id, r.kind == ReplyKind.MATCHED.value)
        .order_by(r.received_at)
    )
    return {row.step_id: row.value for row in rows}


def enrollment_attributes(connection: Connection, enrollment_id: int) -> dict[str, Any]:
    """The enrollment's own attributes (as stored, JSON)."""
    e = enrollments.c
    stored = connection.execute(select(e.attributes).where(e.id == enrollment_id)).scalar_one()
    return dict(stored)


def set_enrollment_attributes(
    connection: Connection, enrollment_id: int, attributes: dict[str, Any]
) -> None:
    """Replace the enrollment's attributes (JSON)."""
    connection.execute(
        update(enrollments).where(enrollments.c.id == enrollment_id).values(attributes=attributes)
    )


def pinned_version_of(connection: Connection, enrollment_id: int) -> tuple[str, str, str]:
    """(digest, text, key) of the sequence version the enrollment is pinned to."""
    e, v = enrollments.c, sequence_versions.c
    row = connection.execute(
        select(v.key, v.digest, v.text)
        .join(enrollments, e.sequence_version_id == v.id)
        .where(e.id == enrollment_id)
    ).one()
    return row.digest, row.text, row.key


# -- messages ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StepMessage:
    """An outbox row of a step: its id, step and state."""

    id: int
    step_id: str
    state: MessageState


def add_text(
    connection: Connection,
    enrollment_id: int,
    tag: str,
    body: str,
    at: datetime,
    *,
    kind: MessageKind = MessageKind.TEXT,
    to_phone: str | None = None,
) -> None:
    """A text for the dispatcher to send at once: to the enrollment's contact (``text``),
    or to ``to_phone`` (a ``staff`` alert). ``tag`` is its step id (cut to 64)."""
    values: dict[str, Any] = {
        "enrollment_id": enrollment_id, "step_id": tag[:64], "state": S.PLANNED.value,
        "due_at": at, "body": body, "kind": kind.value, "updated_at": at,
    }  # fmt: skip
    if to_phone is not None:
        values["to_phone"] = to_phone
    connection.execute(insert(messages).values(**values))


def messages_of_steps(
    connection: Connection, enrollment_id: int, step_ids: Iterable[str]
) -> list[StepMessage]:
    """The enrollment's outbox rows for these step ids (any kind)."""
    rows = connection.execute(
        select(m.id, m.step_id, m.state).where(
            m.enrollment_id == enrollment_id, m.step_id.in_(list(step_ids))
        )
    ).all()
    return [StepMessage(r.id, r.step_id, S(r.state)) for r in rows]


def pending_steps(connection: Connection, enrollment_id: int) -> list[StepMessage]:
    """The enrollment's step messages planned or held by Twilio (a condition may stop them)."""
    rows = connection.execute(
        select(m.id, m.step_id, m.state).where(
            m.enrollment_id == enrollment_id,
            m.kind == MessageKind.STEP.value,
            m.state.in_([S.PLANNED.value, S.SCHEDULED.value]),
        )
    ).all()
    return [StepMessage(r.id, r.step_id, S(r.state)) for r in rows]


def waiting_steps(connection: Connection, enrollment_id: int) -> list[tuple[int, str]]:
    """(id, step id) of the enrollment's blocked step messages that have a due time."""
    rows = connection.execute(
        select(m.id, m.step_id).where(
            m.enrollment_id == enrollment_id,
            m.state == S.BLOCKED.value,
            m.due_at.is_not(None),
            m.kind == MessageKind.STEP.value,
        )
    ).all()
    return [(int(r.id), str(r.step_id)) for r in rows]


def plan_now(connection: Connection, message_id: int, at: datetime) -> None:
    """Plan a message to go at once (a ``goto`` reached it)."""
    connection.execute(
        update(messages)
        .where(m.id == message_id)
        .values(state=S.PLANNED.value, due_at=at, next_attempt_at=None, updated_at=at)
    )


def skip_unsent(connection: Connection, message_id: int, state: MessageState, at: datetime) -> None:
    """Skip a message not handed off, if it is still in ``state``."""
    connection.execute(
        update(messages)
        .where(m.id == message_id, m.state == state.value)
        .values(state=S.SKIPPED.value, updated_at=at)
    )


def request_cancel(connection: Connection, message_id: int, at: datetime) -> None:
    """Ask the dispatcher to cancel a message Twilio holds (once)."""
    connection.execute(
        update(messages)
        .where(m.id == message_id, m.cancel_requested_at.is_(None))
        .values(cancel_requested_at=at)
    )


def skip_blocked(connection: Connection, enrollment_id: int, at: datetime) -> list[int]:
    """Skip the enrollment's blocked messages; their ids."""
    rows = connection.execute(
        update(messages)
        .where(m.enrollment_id == enrollment_id, m.state == S.BLOCKED.value)
        .values(state=S.SKIPPED.value, updated_at=at)
        .returning(m.id)
    ).all()
    return [int(r.id) for r in rows]


__all__ = [
    "EnrollmentFacts",
    "StepMessage",
    "add_bare_contact",
    "add_text",
    "contact_id_of",
    "enrollment_attributes",
    "enrollment_facts",
    "matched_answers",
    "messages_of_steps",
    "pending_steps",
    "pinned_version_of",
    "plan_now",
    "request_cancel",
    "resubscribe",
    "set_enrollment_attributes",
    "skip_blocked",
    "skip_unsent",
    "waiting_steps",
]
