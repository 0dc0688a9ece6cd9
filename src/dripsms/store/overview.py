"""The console's overview: a few counts, each one query."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, func, select

from dripsms.core.states import EnrollmentState, MessageState
from dripsms.store.inbox import FAILED_MESSAGES
from dripsms.store.tables import enrollments, messages

S = MessageState
WAITING = (S.PLANNED, S.BLOCKED, S.HANDING_OFF, S.SCHEDULED)
"""A text in one of these has not gone out yet."""


@dataclass(frozen=True, slots=True)
class Counts:
    """What the overview counts in the store (the inbox and the outbox count the rest)."""

    active_enrollments: int
    due_soon: int
    """Texts due from ``now`` until ``until``, not sent yet."""
    failures_today: int
    """Texts that failed for good since the start of the clinic's day."""


def counts(
    connection: Connection, *, now: datetime, until: datetime, day_start: datetime
) -> Counts:
    """The overview's counts at ``now``."""
    e, m = enrollments.c, messages.c
    active = select(func.count()).where(e.state == EnrollmentState.ACTIVE.value)
    due = select(func.count()).where(
        m.state.in_([s.value for s in WAITING]), and_(m.due_at >= now, m.due_at < until)
    )
    failed = select(func.count()).where(
        m.state.in_([s.value for s in FAILED_MESSAGES]), m.updated_at >= day_start
    )
    return Counts(
        active_enrollments=int(connection.execute(active).scalar_one()),
        due_soon=int(connection.execute(due).scalar_one()),
        failures_today=int(connection.execute(failed).scalar_one()),
    )


__all__ = ["WAITING", "Counts", "counts"]
