"""What the conversation side asks about enrollments and their messages that no other
aggregate answers: the context a step's templates see, and the writes a rule's actions make
(texts, staff alerts, goto, condition rechecks).

Contacts (who sent this, opt-in/out) are :mod:`dripsms.store.contacts` and
:func:`~dripsms.store.repository.contacts_by_phone`; an enrollment's messages are
:mod:`dripsms.store.messages`; its matched answers, :func:`~dripsms.store.outbox.replies_of`.
One function per question, in the domain's words; every one runs in the caller's
transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from dripsms.core.states import MessageKind, MessageState, ReplyKind
from dripsms.store.messages import StepMessage, add_step
from dripsms.store.tables import contacts, enrollments, messages, replies, sequence_versions

S = MessageState
m = messages.c


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


def _facts_query() -> Any:
    e, c = enrollments.c, contacts.c
    return (
        select(
            e.attributes,
            e.external_id,
            e.enrolled_at,
            e.timezone,
            c.phone,
            c.attributes.label("contact_attributes"),
        )
        .join(contacts, c.id == e.contact_id)
        .where(e.id == bindparam("enrollment_id"))
    )


_FACTS = _facts_query()
"""Built once: every matched reply's templates read it."""


def enrollment_facts(connection: Connection, enrollment_id: int) -> EnrollmentFacts:
    """The enrollment's attributes and its contact's (for a template context)."""
    row = connection.execute(_FACTS, {"enrollment_id": enrollment_id}).one()
    return EnrollmentFacts(
        dict(row.attributes), dict(row.contact_attributes), row.external_id,
        row.enrolled_at, row.timezone, row.phone,
    )  # fmt: skip


_MATCHED = (
    select(replies.c.step_id, replies.c.value)
    .where(
        replies.c.enrollment_id == bindparam("enrollment_id"),
        replies.c.kind == ReplyKind.MATCHED.value,
    )
    .order_by(replies.c.received_at)
)


def matched_replies(connection: Connection, enrollment_id: int) -> dict[str, Any]:
    """The enrollment's matched replies: step → parsed value (the latest wins)."""
    rows = connection.execute(_MATCHED, {"enrollment_id": enrollment_id})
    return {row.step_id: row.value for row in rows}


_PENDING_STEPS = select(m.id, m.step_id, m.state, m.due_at).where(
    m.enrollment_id == bindparam("enrollment_id"),
    m.kind == MessageKind.STEP.value,
    m.state.in_([S.PLANNED.value, S.SCHEDULED.value]),
)


def pending_steps(connection: Connection, enrollment_id: int) -> list[StepMessage]:
    """The enrollment's step messages a condition may still stop: planned here, or held
    by Twilio."""
    rows = connection.execute(_PENDING_STEPS, {"enrollment_id": enrollment_id})
    return [StepMessage(r.id, r.step_id, S(r.state), r.due_at) for r in rows]


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
    written: dict[str, Any] = {"body": body, "kind": kind.value}
    if to_phone is not None:
        written["to_phone"] = to_phone
    add_step(connection, enrollment_id, tag[:64], state=S.PLANNED, due_at=at, now=at, **written)


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


__all__ = [
    "EnrollmentFacts",
    "add_text",
    "enrollment_attributes",
    "enrollment_facts",
    "matched_replies",
    "pending_steps",
    "pinned_version_of",
    "request_cancel",
    "set_enrollment_attributes",
    "skip_unsent",
]
