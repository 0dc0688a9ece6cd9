"""Queries of status reconciliation: messages at Twilio whose status should be known by now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, or_, select, update

from dripsms.core.states import IN_FLIGHT, MessageState
from dripsms.store.tables import messages

S = MessageState
m = messages.c


@dataclass(frozen=True, slots=True)
class Overdue:
    """A message Twilio holds that should have gone out ``grace`` ago: its SID and since when."""

    id: int
    sid: str
    state: MessageState
    since: datetime
    """Its SendAt, or for an immediate one the time it was handed off."""


def claim_overdue(
    connection: Connection,
    *,
    now: datetime,
    grace: timedelta,
    due_by: datetime,
    limit: int,
    hold: timedelta,
) -> list[Overdue]:
    """Up to ``limit`` in-flight messages past their SendAt (or handoff) plus ``grace``, whose
    next check has come, earliest first; each one's next check moves ``hold`` ahead, so
    that another dispatcher does not fetch it at the same time.

    ``due_by`` bounds ``due_at`` (every in-flight message's due time is before the earliest
    SendAt of the pass that handed it off), so the query is a range of the
    ``(state, due_at)`` index, cheap when nothing is overdue.
    """
    if limit <= 0:
        return []
    # When it went out: its SendAt, else (sent at once) the start of the handoff.
    since = func.coalesce(m.send_at, m.attempt_started_at, m.updated_at)
    rows = connection.execute(
        select(m.id, m.sid, m.state, since.label("since"))
        .where(
            m.state.in_([s.value for s in IN_FLIGHT]),
            m.due_at <= due_by,
            m.sid.is_not(None),
            since <= now - grace,
            or_(m.next_attempt_at.is_(None), m.next_attempt_at <= now),
        )
        .order_by(m.due_at, m.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if rows:
        connection.execute(
            update(messages)
            .where(m.id.in_([row.id for row in rows]))
            .values(next_attempt_at=now + hold)
        )
    return [Overdue(row.id, row.sid, S(row.state), row.since) for row in rows]


def check_again(connection: Connection, message_id: int, at: datetime) -> None:
    """Look at this in-flight message again at ``at`` (a no-op once it has moved on)."""
    connection.execute(
        update(messages)
        .where(m.id == message_id, m.state.in_([s.value for s in IN_FLIGHT]))
        .values(next_attempt_at=at)
    )
