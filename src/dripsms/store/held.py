"""The count of messages Twilio holds for us, maintained rather than counted.

The dispatcher keeps at most ``scheduled_budget`` messages scheduled at Twilio, so before
it claims messages to schedule it needs how many are held now: ``scheduled`` with a due
time still ahead, plus ``handing_off`` (a create may be in flight). Counting those rows
costs a read of every one of them (49 ms at 450,000 on SQLite), so the count is kept:

- **A log of deltas.** Triggers on ``messages`` (migration 0004, on SQLite and PostgreSQL)
  append a row ``(scheduled, handing_off)`` to ``message_counts`` for every insert, delete
  or change of ``state`` that enters or leaves one of the two states: ``(+1, 0)``,
  ``(-1, +1)`` and so on. Whatever path writes the row (a handoff, a status callback,
  reconciliation, a cancel, unenroll, replanning, an import, a delete) is counted, in the
  writer's own transaction: the sums of the table are exactly ``count(*)`` of each state
  in any snapshot, committed or rolled back along with the change.
- **No hot row.** A writer only *inserts* a row of its own; nothing is updated in place,
  so concurrent writers on PostgreSQL never wait on one another for the count (a counter
  row updated by every handoff would serialise every worker on its lock until commit).
- **Folded now and then.** Reading sums the rows; :func:`held` folds them into one row
  (``DELETE ... RETURNING`` the rows it removes, then one row with their sums) when more
  than :data:`FOLD_AT` have piled up and the connection may write, and so does an idle
  pass (:func:`fold_when_long`: status callbacks keep appending while nothing is claimed).
  The rows deleted are exactly the rows summed, so a fold racing another fold or a writer
  on PostgreSQL loses nothing: at worst two folds each leave a row. A read costs
  O(changes since the last fold).
- **Released rows subtracted.** A ``scheduled`` message whose due time has passed has gone
  out at Twilio and no longer takes a slot, though its status callback may not have come
  yet. Those are counted through the ``(state, due_at)`` index, a range bounded by the
  messages due in the recent past whose status is not in yet (reconciliation settles them).

A migration that rebuilds ``messages`` (SQLite's batch mode copies the table) drops the
triggers with it and must create them again; ``tests/integration/test_held_count.py``
compares the count with ``count(*)`` and fails if they are gone.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, func, insert, select

from dripsms.core.states import MessageState
from dripsms.store.tables import message_counts, messages

S = MessageState
m = messages.c
k = message_counts.c
FOLD_AT = 256
"""Rows of ``message_counts`` beyond which a writing read folds them into one."""


def held(connection: Connection, now: datetime, *, fold: bool = True) -> int:
    """Messages Twilio holds for us at ``now`` (or may: a create in flight).

    With ``fold``, and unless the connection is read-only, folds the log when it is long.
    """
    released = (
        select(func.count()).where(m.state == S.SCHEDULED.value, m.due_at <= now).scalar_subquery()
    )
    # One statement: the sums and the released rows come from the same snapshot.
    row = connection.execute(
        select(
            func.count(),
            func.coalesce(func.sum(k.scheduled), 0),
            func.coalesce(func.sum(k.handing_off), 0),
            released,
        ).select_from(message_counts)
    ).one()
    rows, scheduled, handing_off, gone = row
    if fold and rows > FOLD_AT and not connection.get_execution_options().get("dripsms_read_only"):
        fold_counts(connection)
    return int(scheduled) + int(handing_off) - int(gone)


def fold_counts(connection: Connection) -> None:
    """Replace the rows of ``message_counts`` this transaction sees by one row, their sums."""
    # Rows another fold has locked are left to it (PostgreSQL): no fold waits on another.
    mine = select(k.id).with_for_update(skip_locked=True)
    gone = connection.execute(
        delete(message_counts).where(k.id.in_(mine)).returning(k.scheduled, k.handing_off)
    ).all()
    if gone:
        connection.execute(
            insert(message_counts).values(
                scheduled=sum(r.scheduled for r in gone),
                handing_off=sum(r.handing_off for r in gone),
            )
        )


def fold_when_long(connection: Connection) -> None:
    """Fold the log if it has grown past :data:`FOLD_AT` rows: one look at the ends of the
    primary key (ids only grow; a rolled-back insert leaves a gap, which folds early)."""
    # Two subqueries: each end is one step down the primary key (min/max optimised alone).
    top = select(func.max(k.id)).scalar_subquery()
    bottom = select(func.min(k.id)).scalar_subquery()
    span = connection.execute(select(top - bottom)).scalar()
    if span is not None and span >= FOLD_AT:
        fold_counts(connection)


def counted(connection: Connection) -> tuple[int, int]:
    """(scheduled, handing_off) as the log has them (for tests and checks)."""
    row = connection.execute(
        select(func.coalesce(func.sum(k.scheduled), 0), func.coalesce(func.sum(k.handing_off), 0))
    ).one()
    return int(row[0]), int(row[1])
