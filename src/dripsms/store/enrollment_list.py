"""Enrollments as the console lists them: filtered by sequence, state, the step due next
and unresolved alerts; a page at a time, newest first (a stable order: by id)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, exists, func, or_, select

from dripsms.core.states import MessageKind, MessageState
from dripsms.store.inbox import item_key
from dripsms.store.tables import alerts, contacts, enrollments, inbox_acknowledgements, messages

PAGE_SIZE = 50
S = MessageState


@dataclass(frozen=True, slots=True)
class EnrollmentFilter:
    """What the list is narrowed to (None: any)."""

    enrollment_id: int | None = None
    sequence: str | None = None
    state: str | None = None
    step: str | None = None
    """The step due next."""
    unresolved_alert: bool | None = None
    """True: only those with an alert nobody resolved; False: only those without."""
    due_before: datetime | None = None
    """Only those with a text due before this, not sent yet."""


@dataclass(frozen=True, slots=True)
class EnrollmentRow:
    """One enrollment, its contact, the step due next and its unresolved alerts."""

    id: int
    contact_id: int
    phone: str
    first_name: str | None
    sequence: str
    state: str
    timezone: str
    enrolled_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    next_step: str | None
    next_due_at: datetime | None
    unresolved_alerts: int


def _next(column: Any, now: datetime) -> Any:
    """``column`` of the enrollment's earliest step still to go out at ``now`` (a scheduled
    text whose SendAt passed has gone; one whose cancel was asked for will not)."""
    m = messages.c
    to_go = or_(
        m.state.in_([S.PLANNED.value, S.BLOCKED.value, S.HANDING_OFF.value]),
        and_(m.state == S.SCHEDULED.value, m.due_at > now),
    )
    return (
        select(column)
        .where(
            m.enrollment_id == enrollments.c.id,
            m.kind == MessageKind.STEP.value,
            to_go,
            m.due_at.is_not(None),
            m.cancel_requested_at.is_(None),
        )
        .order_by(m.due_at, m.id)
        .limit(1)
        .correlate(enrollments)
        .scalar_subquery()
    )


def _unresolved() -> ColumnElement[bool]:
    """An alert of this (correlated) enrollment that nobody resolved."""
    a, k = alerts.c, inbox_acknowledgements.c
    resolved = exists().where(k.item == item_key("alert", a.id), k.resolved_at.is_not(None))
    return and_(a.enrollment_id == enrollments.c.id, ~resolved)


def list_enrollments(
    connection: Connection,
    narrowed: EnrollmentFilter,
    *,
    now: datetime,
    limit: int = PAGE_SIZE,
    offset: int = 0,
) -> list[EnrollmentRow]:
    """A page of enrollments, newest first, with what each sends next after ``now``."""
    e, c = enrollments.c, contacts.c
    next_step = _next(messages.c.step_id, now).label("next_step")
    next_due = _next(messages.c.due_at, now).label("next_due_at")
    unresolved = (
        select(func.count()).select_from(alerts).where(_unresolved()).correlate(enrollments)
    ).scalar_subquery()
    query = select(
        e.id, e.contact_id, c.phone, e.attributes, e.sequence_key, e.state, e.timezone,
        e.enrolled_at, e.ended_at, e.end_reason, next_step, next_due,
        unresolved.label("unresolved"),
    ).join(contacts, c.id == e.contact_id)  # fmt: skip
    if narrowed.enrollment_id is not None:
        query = query.where(e.id == narrowed.enrollment_id)
    if narrowed.sequence:
        query = query.where(e.sequence_key == narrowed.sequence)
    if narrowed.state:
        query = query.where(e.state == narrowed.state)
    if narrowed.step:
        query = query.where(_next(messages.c.step_id, now) == narrowed.step)
    if narrowed.due_before is not None:
        query = query.where(_next(messages.c.due_at, now) < narrowed.due_before)
    if narrowed.unresolved_alert is not None:
        has = exists().select_from(alerts).where(_unresolved()).correlate(enrollments)
        query = query.where(has if narrowed.unresolved_alert else ~has)
    query = query.order_by(e.id.desc()).limit(limit).offset(offset)
    return [
        EnrollmentRow(
            id=row.id,
            contact_id=row.contact_id,
            phone=row.phone,
            first_name=_first_name(row.attributes),
            sequence=row.sequence_key,
            state=row.state,
            timezone=row.timezone,
            enrolled_at=row.enrolled_at,
            ended_at=row.ended_at,
            end_reason=row.end_reason,
            next_step=row.next_step,
            next_due_at=row.next_due_at,
            unresolved_alerts=int(row.unresolved or 0),
        )
        for row in connection.execute(query)
    ]


def _first_name(attributes: Any) -> str | None:
    name = attributes.get("first_name") if isinstance(attributes, dict) else None
    return name.strip() if isinstance(name, str) and name.strip() else None


def enrolled_sequences(connection: Connection) -> list[str]:
    """The keys of the sequences anyone is (or was) enrolled in, sorted."""
    query = select(enrollments.c.sequence_key).distinct().order_by(enrollments.c.sequence_key)
    return list(connection.execute(query).scalars())


__all__ = [
    "PAGE_SIZE",
    "EnrollmentFilter",
    "EnrollmentRow",
    "enrolled_sequences",
    "list_enrollments",
]
