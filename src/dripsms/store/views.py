"""Read-only views for people: a contact's timeline, counts per step and state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select

from dripsms.store.tables import contacts, enrollments, messages, sequence_versions


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
        .where(e.state == "active")
        .group_by(v.key, v.digest)
        .order_by(v.key, v.digest)
    )
    return [(row[0], row[1], int(row[2])) for row in connection.execute(query)]
