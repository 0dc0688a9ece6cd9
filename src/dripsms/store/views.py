"""Read-only views for people: a contact's timeline, counts per step and state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from dripsms.core.states import EnrollmentState, MessageKind, ReplyKind
from dripsms.store.repository import contacts_by_phone
from dripsms.store.tables import contacts, enrollments, messages, replies, sequence_versions


@dataclass(frozen=True, slots=True)
class TimelineRow:
    """One message of a contact, with its enrollment."""

    enrollment_id: int
    sequence: str
    enrollment_state: str
    timezone: str
    step: str
    state: str
    due_at: datetime | None
    sid: str | None
    error_code: int | None
    error_message: str | None


def timeline(connection: Connection, phone: str) -> list[TimelineRow]:
    """Every message of the contact with this phone, by enrollment, then due time."""
    m, e, c = messages.c, enrollments.c, contacts.c
    query = (
        select(
            e.id.label("enrollment_id"),
            e.sequence_key.label("sequence"),
            e.state.label("enrollment_state"),
            e.timezone,
            m.step_id.label("step"),
            m.state,
            m.due_at,
            m.sid,
            m.error_code,
            m.error_message,
        )
        .join(enrollments, e.id == m.enrollment_id)
        .join(contacts, c.id == e.contact_id)
        .where(c.phone == phone)
        .order_by(e.id, m.due_at.is_(None), m.due_at, m.id)
    )
    return [TimelineRow(**row._asdict()) for row in connection.execute(query)]


def stats(connection: Connection, sequence: str | None = None) -> list[tuple[str, str, str, int]]:
    """(sequence, step, state, count), sorted."""
    m, e = messages.c, enrollments.c
    query = (
        select(e.sequence_key, m.step_id, m.state, func.count())
        .join(enrollments, e.id == m.enrollment_id)
        .group_by(e.sequence_key, m.step_id, m.state)
        .order_by(e.sequence_key, m.step_id, m.state)
    )
    if sequence is not None:
        query = query.where(e.sequence_key == sequence)
    return [(row[0], row[1], row[2], int(row[3])) for row in connection.execute(query)]


def versions_in_use(connection: Connection) -> list[tuple[str, str, int]]:
    """(sequence key, version digest, active enrollments) for every version in use."""
    e, v = enrollments.c, sequence_versions.c
    query = (
        select(v.key, v.digest, func.count(e.id))
        .join(enrollments, e.sequence_version_id == v.id)
        .where(e.state == EnrollmentState.ACTIVE.value)
        .group_by(v.key, v.digest)
        .order_by(v.key, v.digest)
    )
    return [(row[0], row[1], int(row[2])) for row in connection.execute(query)]


@dataclass(frozen=True, slots=True)
class EnrollmentView:
    """An enrollment with its messages and the reply to each."""

    id: int
    sequence: str
    version: str
    state: str
    phone: str
    timezone: str
    anchor: str
    external_id: str
    enrolled_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    messages: list[dict[str, Any]]


def enrollment_view(connection: Connection, enrollment_id: int) -> EnrollmentView | None:
    """One enrollment, or None."""
    e, c, v, m, r = enrollments.c, contacts.c, sequence_versions.c, messages.c, replies.c
    row = connection.execute(
        select(enrollments, c.phone, v.digest)
        .join(contacts, c.id == e.contact_id)
        .join(sequence_versions, v.id == e.sequence_version_id)
        .where(e.id == enrollment_id)
    ).first()
    if row is None:
        return None
    answers: dict[str, dict[str, Any]] = {}
    for reply in connection.execute(
        select(r.step_id, r.kind, r.body, r.value, r.received_at)
        .where(r.enrollment_id == enrollment_id)
        .order_by(r.received_at)
    ):
        if reply.step_id and reply.kind == ReplyKind.FOLLOWUP and reply.step_id in answers:
            # texts after the answer: shown with it, for staff to read
            answers[reply.step_id]["followups"].append(
                {"body": reply.body, "value": reply.value, "received_at": reply.received_at}
            )
        elif reply.step_id and (reply.kind == ReplyKind.MATCHED or reply.step_id not in answers):
            earlier = answers.get(reply.step_id, {}).get("followups", [])
            answers[reply.step_id] = {
                "kind": reply.kind,
                "body": reply.body,
                "value": reply.value,
                "received_at": reply.received_at,
                "followups": earlier,
            }
    rows = connection.execute(
        select(m.step_id, m.state, m.due_at, m.sid, m.error_code, m.error_message, m.kind)
        .where(m.enrollment_id == enrollment_id)
        .order_by(m.due_at.is_(None), m.due_at, m.id)
    ).all()
    return EnrollmentView(
        id=row.id, sequence=row.sequence_key, version=row.digest[:12], state=row.state,
        phone=row.phone, timezone=row.timezone, anchor=row.anchor, external_id=row.external_id,
        enrolled_at=row.enrolled_at, ended_at=row.ended_at, end_reason=row.end_reason,
        messages=[
            {
                "step": x.step_id, "kind": x.kind, "state": x.state, "due_at": x.due_at,
                "sid": x.sid, "error_code": x.error_code, "error_message": x.error_message,
                "reply": answers.get(x.step_id) if x.kind == MessageKind.STEP else None,
            }
            for x in rows
        ],
    )  # fmt: skip


def contact_view(connection: Connection, phone: str) -> dict[str, Any] | None:
    """A contact: attributes, opt-out state, enrollments."""
    e = enrollments.c
    row = contacts_by_phone(connection, [phone]).get(phone)
    if row is None:
        return None
    enrolled = connection.execute(
        select(e.id, e.sequence_key, e.state, e.external_id, e.enrolled_at)
        .where(e.contact_id == row.id)
        .order_by(e.id)
    ).all()
    return {
        "phone": row.phone,
        "timezone": row.timezone,
        "attributes": dict(row.attributes),
        "opted_out": row.opted_out_at is not None,
        "opted_out_at": row.opted_out_at,
        "enrollments": [
            {
                "id": x.id,
                "sequence": x.sequence_key,
                "state": x.state,
                "external_id": x.external_id or None,
                "enrolled_at": x.enrolled_at,
            }
            for x in enrolled
        ],
    }


def outbox_by_state(connection: Connection) -> dict[str, int]:
    """How many messages are in each state (for ``/metrics``)."""
    query = select(messages.c.state, func.count()).group_by(messages.c.state)
    return {state: int(count) for state, count in connection.execute(query).all()}
