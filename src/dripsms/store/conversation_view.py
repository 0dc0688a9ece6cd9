"""What the console's contact page reads: a contact, its enrollments, every text sent to it
and received from it, and the alerts about it. One query each; read-only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from dripsms.core.states import EnrollmentState
from dripsms.store.repository import ContactRow, contacts_by_phone
from dripsms.store.tables import alerts, contacts, enrollments, messages, replies

ContactRecord = ContactRow
"""The contact of a conversation: the row :func:`contacts_by_phone` reads."""


@dataclass(frozen=True, slots=True)
class EnrollmentRecord:
    id: int
    sequence: str
    state: str
    timezone: str
    anchor: str
    external_id: str
    enrolled_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    paused_at: datetime | None


@dataclass(frozen=True, slots=True)
class OutboundRecord:
    """A text to the contact (a step, a rule's answer, a reply from the console), or a staff
    alert about it (kind ``staff``: to a notify target's phone)."""

    id: int
    enrollment_id: int
    step_id: str
    kind: str
    state: str
    due_at: datetime | None
    sent_at: datetime | None
    body: str | None
    error_code: int | None
    error_message: str | None


@dataclass(frozen=True, slots=True)
class InboundRecord:
    id: int
    enrollment_id: int | None
    step_id: str | None
    kind: str
    body: str
    value: Any
    received_at: datetime
    reason: str | None


@dataclass(frozen=True, slots=True)
class AlertRecord:
    id: int
    at: datetime
    enrollment_id: int | None
    step_id: str | None
    target: str
    reason: str
    rule: str | None
    answer: str | None
    value: Any


@dataclass(frozen=True, slots=True)
class ConversationRecord:
    """Everything the contact page shows, as stored."""

    contact: ContactRecord
    enrollments: list[EnrollmentRecord]
    outbound: list[OutboundRecord]
    inbound: list[InboundRecord]
    alerts: list[AlertRecord]


_ENROLLMENT = tuple(
    enrollments.c[name]
    for name in ("id", "sequence_key", "state", "timezone", "anchor", "external_id",
                 "enrolled_at", "ended_at", "end_reason", "paused_at")
)  # fmt: skip
_OUTBOUND = tuple(
    messages.c[name]
    for name in ("id", "enrollment_id", "step_id", "kind", "state", "due_at", "sent_at", "body",
                 "error_code", "error_message")
)  # fmt: skip
_INBOUND = tuple(
    replies.c[name]
    for name in ("id", "enrollment_id", "step_id", "kind", "body", "value", "received_at",
                 "reason")
)  # fmt: skip
_ALERT = tuple(
    alerts.c[name]
    for name in ("id", "at", "enrollment_id", "step_id", "target", "reason", "rule", "answer",
                 "value")
)  # fmt: skip


def contact_record(connection: Connection, phone: str) -> ContactRecord | None:
    """The contact with this E.164 phone, or None."""
    return contacts_by_phone(connection, [phone]).get(phone)


def conversation(connection: Connection, phone: str) -> ConversationRecord | None:
    """The contact with this E.164 phone and its whole conversation; None if unknown."""
    e, m, r, a = enrollments.c, messages.c, replies.c, alerts.c
    contact = contact_record(connection, phone)
    if contact is None:
        return None
    enrolled = [
        EnrollmentRecord(*x)
        for x in connection.execute(
            select(*_ENROLLMENT).where(e.contact_id == contact.id).order_by(e.id)
        )
    ]
    outbound = [
        OutboundRecord(*x)
        for x in connection.execute(
            select(*_OUTBOUND)
            .join(enrollments, e.id == m.enrollment_id)
            .where(e.contact_id == contact.id)
            .order_by(m.id)
        )
    ]
    inbound = [
        InboundRecord(*x)
        for x in connection.execute(
            select(*_INBOUND).where(r.contact_id == contact.id).order_by(r.received_at, r.id)
        )
    ]
    raised = [
        AlertRecord(*x)
        for x in connection.execute(
            select(*_ALERT).where(a.contact_id == contact.id).order_by(a.at, a.id)
        )
    ]
    return ConversationRecord(contact, enrolled, outbound, inbound, raised)


def phone_of_contact(connection: Connection, contact_id: int) -> str | None:
    """The phone of the contact with this id, or None."""
    phone: str | None = connection.execute(
        select(contacts.c.phone).where(contacts.c.id == contact_id)
    ).scalar_one_or_none()
    return phone


def enrollment_of_contact(connection: Connection, phone: str, enrollment_id: int) -> bool:
    """Whether enrollment ``enrollment_id`` belongs to the contact with this phone."""
    c, e = contacts.c, enrollments.c
    found = connection.execute(
        select(e.id)
        .join(contacts, c.id == e.contact_id)
        .where(e.id == enrollment_id, c.phone == phone)
    ).first()
    return found is not None


def reply_target(connection: Connection, phone: str) -> int | None:
    """The enrollment a text from the console goes out under: the contact's latest active
    one, else its latest; None without any."""
    c, e = contacts.c, enrollments.c
    rows = connection.execute(
        select(e.id, e.state)
        .join(contacts, c.id == e.contact_id)
        .where(c.phone == phone)
        .order_by(e.id.desc())
    ).all()
    active = [row.id for row in rows if row.state == EnrollmentState.ACTIVE.value]
    if active:
        return int(active[0])
    return int(rows[0].id) if rows else None


CONSOLE_TAG = "console#"
"""The step id prefix of a text written in the console (``console#`` and a random tag)."""
