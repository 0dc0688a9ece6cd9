"""The audit log: who viewed, exported, replied to, acknowledged or unenrolled what, when.

Append-only, like ``events``: rows are written in the transaction of what they record
(or on their own for a view or an export) and never updated or deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, insert, select

from dripsms.store.tables import audit_events


class AuditAction(StrEnum):
    """What an operator did."""

    SIGN_IN = "sign_in"
    SIGN_OUT = "sign_out"
    VIEW_CONTACT = "view_contact"
    EXPORT = "export"
    REPLY = "reply"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    PAUSE = "pause"
    RESUME = "resume"
    UNENROLL = "unenroll"
    ADD_OPERATOR = "add_operator"
    DISABLE_OPERATOR = "disable_operator"
    CLOCK = "clock"
    """The sandbox's virtual clock moved."""
    SANDBOX_REPLY = "sandbox_reply"
    """A reply typed in the sandbox's phone simulator."""


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One row of the audit log."""

    id: int
    at: datetime
    operator_email: str
    action: str
    subject: str
    detail: dict[str, Any] | None


def record(
    connection: Connection,
    *,
    at: datetime,
    operator_email: str,
    action: AuditAction,
    subject: str,
    operator_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append what ``operator_email`` did to ``subject`` (e.g. ``contact:+14155550100``,
    ``enrollment:12``, ``operator:bo@clinic.example``) at ``at``."""
    connection.execute(
        insert(audit_events).values(
            at=at,
            operator_id=operator_id,
            operator_email=operator_email,
            action=action.value,
            subject=subject[:128],
            detail=detail,
        )
    )


def recent(
    connection: Connection,
    *,
    since: datetime | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[AuditEvent]:
    """The log, newest first, from ``since`` on (skipping the ``offset`` newest)."""
    query = select(
        audit_events.c.id, audit_events.c.at, audit_events.c.operator_email,
        audit_events.c.action, audit_events.c.subject, audit_events.c.detail,
    )  # fmt: skip
    if since is not None:
        query = query.where(audit_events.c.at >= since)
    ordered = query.order_by(audit_events.c.at.desc(), audit_events.c.id.desc())
    rows = connection.execute(ordered.limit(limit).offset(offset)).all()
    return [AuditEvent(*row) for row in rows]
