"""The sandbox mode's virtual clock: its saved position (a row of ``cursors``), and the
next instant it could be moved to (the next due message)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, func, insert, select, update

from dripsms.core.states import MessageState
from dripsms.store.tables import cursors, messages

NAME = "virtual_clock"
WAITING = (MessageState.PLANNED, MessageState.SCHEDULED, MessageState.QUEUED)
"""Messages that will go out at their due time."""


def saved(engine: Engine) -> datetime | None:
    """Where the virtual clock was last saved; ``None`` before any ``dripsms run``."""
    with engine.connect() as connection:
        value = connection.execute(
            select(cursors.c.value).where(cursors.c.name == NAME)
        ).scalar_one_or_none()
    return None if value is None else _instant(value)


def save(engine: Engine, position: datetime) -> datetime:
    """Save ``position`` unless a later one is saved already; returns what is saved."""
    with engine.begin() as connection:
        value = connection.execute(
            select(cursors.c.value).where(cursors.c.name == NAME).with_for_update()
        ).scalar_one_or_none()
        if value is None:
            connection.execute(
                insert(cursors).values(name=NAME, value=position.isoformat(), updated_at=position)
            )
            return position
        previous = _instant(value)
        if previous is not None and previous >= position:
            return previous
        connection.execute(
            update(cursors)
            .where(cursors.c.name == NAME)
            .values(value=position.isoformat(), updated_at=position)
        )
        return position


def next_due(engine: Engine, after: datetime, *, blocked_too: bool = False) -> datetime | None:
    """The earliest due time after ``after`` of a message still to go out (with
    ``blocked_too``, also of one that waits on a reply: a clock walking forward stops there)."""
    states = [*WAITING, MessageState.BLOCKED] if blocked_too else WAITING
    with engine.connect() as connection:
        return connection.execute(
            select(func.min(messages.c.due_at)).where(
                messages.c.state.in_([state.value for state in states]),
                messages.c.due_at > after,
            )
        ).scalar_one_or_none()


def _instant(value: str) -> datetime | None:
    """A saved position; ``None`` for text that is not an aware instant (not ours to repair:
    the clock then starts from the machine's time)."""
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        return None
    return instant.astimezone(UTC) if instant.tzinfo is not None else None
