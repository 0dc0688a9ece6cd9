"""What ``dripsms demo`` reports of each patient: the texts, the replies, the alerts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select

from dripsms.store.tables import contacts, enrollments, messages, notifications, replies


@dataclass(frozen=True, slots=True)
class PatientRecord:
    """One contact's enrollments, messages, replies and alerts."""

    phone: str
    exists: bool
    opted_out_at: datetime | None = None
    enrollment_state: str | None = None
    end_reason: str | None = None
    attributes: dict[str, Any] | None = None
    messages: tuple[dict[str, Any], ...] = ()
    """step, kind, state, due_at, sent_at (by due time)."""
    replies: tuple[dict[str, Any], ...] = ()
    """kind, step, value, body, received_at (by arrival)."""
    alerts: int = 0
    """Notifications queued for the care team (escalations and no-reply alerts)."""


def patient(engine: Engine, phone: str) -> PatientRecord:
    """The record of the contact with ``phone`` (``exists`` False when there is none)."""
    c, e, m, r, n = contacts.c, enrollments.c, messages.c, replies.c, notifications.c
    with engine.connect() as connection:
        contact = connection.execute(
            select(c.id, c.opted_out_at).where(c.phone == phone)
        ).one_or_none()
        if contact is None:
            return PatientRecord(phone, exists=False)
        enrollment = connection.execute(
            select(e.id, e.state, e.end_reason, e.attributes)
            .where(e.contact_id == contact.id)
            .order_by(e.id.desc())
            .limit(1)
        ).one_or_none()
        if enrollment is None:
            return PatientRecord(phone, exists=True, opted_out_at=contact.opted_out_at)
        texts = connection.execute(
            select(m.step_id, m.kind, m.state, m.due_at, m.sent_at)
            .where(m.enrollment_id == enrollment.id)
            .order_by(m.due_at.is_(None), m.due_at, m.id)
        ).all()
        answers = connection.execute(
            select(r.kind, r.step_id, r.value, r.body, r.received_at)
            .where(r.contact_id == contact.id)
            .order_by(r.received_at, r.id)
        ).all()
        alerts = connection.execute(
            select(func.count()).select_from(notifications).where(n.enrollment_id == enrollment.id)
        ).scalar_one()
    return PatientRecord(
        phone,
        exists=True,
        opted_out_at=contact.opted_out_at,
        enrollment_state=enrollment.state,
        end_reason=enrollment.end_reason,
        attributes=dict(enrollment.attributes),
        messages=tuple(
            {
                "step": t.step_id,
                "kind": t.kind,
                "state": t.state,
                "due_at": t.due_at,
                "sent_at": t.sent_at,
            }
            for t in texts
        ),
        replies=tuple(
            {
                "kind": a.kind,
                "step": a.step_id,
                "value": a.value,
                "body": a.body,
                "received_at": a.received_at,
            }
            for a in answers
        ),
        alerts=int(alerts),
    )
