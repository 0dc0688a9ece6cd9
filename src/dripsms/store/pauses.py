"""Queries for pausing and resuming an enrollment (see docs/engine.md, "Pausing").

While ``enrollments.paused_at`` is set the outbox claims none of the enrollment's step
messages (:func:`dripsms.store.outbox.claim_due`), and the completion scan leaves it
active. These functions mark and unmark it, ask for the cancel at Twilio of what it holds,
and find what those cancels stopped, to be planned again on resume.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, exists, func, insert, select, update

from dripsms.core.states import EnrollmentState, MessageKind, MessageState
from dripsms.store.tables import enrollments, events, messages

S = MessageState
e, m = enrollments.c, messages.c
PAUSE_CAUSE = "paused"
"""The events' cause of a cancel asked for by a pause (what a resume plans again)."""
HELD = (S.SCHEDULED.value, S.HANDING_OFF.value)


def mark_paused(connection: Connection, enrollment_id: int, now: datetime) -> bool:
    """Pause an active enrollment not paused yet; False when it is not one."""
    changed = connection.execute(
        update(enrollments)
        .where(
            e.id == enrollment_id,
            e.state == EnrollmentState.ACTIVE.value,
            e.paused_at.is_(None),
        )
        .values(paused_at=now)
    )
    return changed.rowcount == 1


def paused_since(connection: Connection, enrollment_id: int) -> datetime | None:
    """When the active enrollment was paused; None when it is not paused (or not active)."""
    value: datetime | None = connection.execute(
        select(e.paused_at).where(e.id == enrollment_id, e.state == EnrollmentState.ACTIVE.value)
    ).scalar_one_or_none()
    return value


def clear_paused(connection: Connection, enrollment_id: int, since: datetime) -> bool:
    """Resume the enrollment paused at ``since``; False when another resume came first."""
    changed = connection.execute(
        update(enrollments)
        .where(e.id == enrollment_id, e.paused_at == since)
        .values(paused_at=None)
    )
    return changed.rowcount == 1


def request_step_cancels(connection: Connection, enrollment_id: int, now: datetime) -> list[int]:
    """Ask the dispatcher to cancel at Twilio the enrollment's steps it holds (or may: a
    handoff in flight); the ids asked for."""
    return list(
        connection.execute(
            update(messages)
            .where(
                m.enrollment_id == enrollment_id,
                m.kind == MessageKind.STEP.value,
                m.state.in_(HELD),
                m.cancel_requested_at.is_(None),
            )
            .values(cancel_requested_at=now)
            .returning(m.id)
        ).scalars()
    )


def cancels_pending(connection: Connection, enrollment_id: int) -> int:
    """How many of the enrollment's steps still wait for their cancel at Twilio."""
    return int(
        connection.execute(
            select(func.count()).where(
                m.enrollment_id == enrollment_id,
                m.kind == MessageKind.STEP.value,
                m.state.in_(HELD),
                m.cancel_requested_at.is_not(None),
            )
        ).scalar_one()
    )


@dataclass(frozen=True, slots=True)
class Stopped:
    """A step message a pause canceled at Twilio."""

    id: int
    step_id: str
    due_at: datetime | None


def canceled_by_pause(connection: Connection, enrollment_id: int, since: datetime) -> list[Stopped]:
    """The enrollment's step messages canceled at Twilio because of the pause of ``since``."""
    asked = exists().where(
        events.c.message_id == m.id, events.c.cause == PAUSE_CAUSE, events.c.at >= since
    )
    rows = connection.execute(
        select(m.id, m.step_id, m.due_at)
        .where(
            and_(
                m.enrollment_id == enrollment_id,
                m.kind == MessageKind.STEP.value,
                m.state == S.CANCELED.value,
                asked,
            )
        )
        .order_by(m.id)
    )
    return [Stopped(r.id, r.step_id, r.due_at) for r in rows]


def plan_again(connection: Connection, enrollment_id: int, stopped: Stopped, now: datetime) -> int:
    """Put a new planned row in place of a step canceled by a pause: the canceled row keeps
    its history under a renamed step id (kind ``superseded``); the id of the new row."""
    connection.execute(
        update(messages)
        .where(m.id == stopped.id, m.state == S.CANCELED.value)
        .values(
            step_id=f"{stopped.step_id}~{stopped.id}"[:64],
            kind=MessageKind.SUPERSEDED.value,
            updated_at=now,
        )
    )
    inserted = connection.execute(
        insert(messages)
        .values(
            enrollment_id=enrollment_id,
            step_id=stopped.step_id,
            state=S.PLANNED.value,
            due_at=stopped.due_at,
            updated_at=now,
        )
        .returning(m.id)
    )
    return int(inserted.scalar_one())
