"""Notify webhooks waiting to be delivered: queued by a rule's ``notify``, posted and
retried by :mod:`dripsms.engine.notifier`.

States: :class:`~dripsms.core.states.NotificationState`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update

from dripsms.core.states import NotificationState
from dripsms.store.tables import notifications

n = notifications.c
N = NotificationState
PENDING = N.PENDING.value


@dataclass(frozen=True, slots=True)
class DueNotification:
    """A notification to post now."""

    id: int
    url: str
    payload: dict[str, Any]
    attempts: int


_QUEUE = insert(notifications)
"""Built once: a statement given its values as parameters skips building a bound parameter
per value, and a cache key, on every call (the same SQL, the same rows)."""


def queue_notification(
    connection: Connection,
    enrollment_id: int | None,
    target: str,
    url: str,
    payload: dict[str, Any],
    at: datetime,
) -> None:
    """A webhook POST to make at once (and retry until it succeeds)."""
    connection.execute(
        _QUEUE,
        {
            "enrollment_id": enrollment_id, "target": target, "url": url,
            "payload": payload, "state": PENDING, "next_attempt_at": at, "created_at": at,
        },
    )  # fmt: skip


def _due(at: datetime, limit: int) -> Any:
    """Pending notifications due by ``at``, the longest waiting first."""
    return (
        select(n.id, n.url, n.payload, n.attempts)
        .where(n.state == PENDING, n.next_attempt_at <= at)
        .order_by(n.next_attempt_at)
        .limit(limit)
    )


def due_notifications(connection: Connection, at: datetime, limit: int) -> list[DueNotification]:
    """Pending notifications due by ``at``, the longest waiting first (a look, no claim)."""
    rows = connection.execute(_due(at, limit)).all()
    return [DueNotification(r.id, r.url, dict(r.payload), r.attempts) for r in rows]


def claim_due_notifications(
    connection: Connection, at: datetime, limit: int, hold: timedelta
) -> list[DueNotification]:
    """Like :func:`due_notifications`, but claimed for the caller: rows another worker is
    claiming are skipped (``SKIP LOCKED`` on PostgreSQL), and each one's next attempt moves
    ``hold`` ahead, so that no other worker posts it meanwhile (if the caller dies
    mid-post, it is posted again then). The caller settles each one afterwards."""
    rows = connection.execute(_due(at, limit).with_for_update(skip_locked=True)).all()
    if rows:
        connection.execute(
            update(notifications)
            .where(n.id.in_([r.id for r in rows]))
            .values(next_attempt_at=at + hold)
        )
    return [DueNotification(r.id, r.url, dict(r.payload), r.attempts) for r in rows]


def mark_delivered(
    connection: Connection, notification_id: int, attempts: int, at: datetime
) -> None:
    """The receiver answered 2xx."""
    _settle(
        connection, notification_id, attempts=attempts, state=N.DELIVERED.value, delivered_at=at
    )


def mark_failed(connection: Connection, notification_id: int, attempts: int, error: str) -> None:
    """Given up after the last attempt."""
    _settle(connection, notification_id, attempts=attempts, state=N.FAILED.value, last_error=error)


def retry_at(
    connection: Connection, notification_id: int, attempts: int, error: str, at: datetime
) -> None:
    """Try again at ``at``."""
    _settle(connection, notification_id, attempts=attempts, next_attempt_at=at, last_error=error)


def _settle(connection: Connection, notification_id: int, **values: Any) -> None:
    connection.execute(
        update(notifications).where(n.id == notification_id, n.state == PENDING).values(**values)
    )


__all__ = [
    "DueNotification",
    "claim_due_notifications",
    "due_notifications",
    "mark_delivered",
    "mark_failed",
    "queue_notification",
    "retry_at",
]
