"""Releasing blocked messages: a step that waits for answers to earlier steps is planned
once those answers are in, or will never come (their reply windows closed)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from dripsms.core.sequence.dependencies import waits_for
from dripsms.core.states import MessageState
from dripsms.engine.library import SequenceLibrary
from dripsms.engine.preparation import settled
from dripsms.store import outbox

S = MessageState
LIMIT = 10_000
"""Most blocked messages one pass looks at (earliest due first; the rest wait a pass)."""


def release_blocked(
    engine: Engine, library: SequenceLibrary, until: datetime, now: datetime
) -> int:
    """Plan the blocked messages due by ``until`` whose awaited replies are settled at
    ``now``; how many were released."""
    released = 0
    with engine.begin() as connection:
        blocked = outbox.blocked_due(connection, until=until, limit=LIMIT)
        enrollment_ids = [b.enrollment_id for b in blocked]
        steps = outbox.steps_of(connection, enrollment_ids)
        replies = outbox.replies_of(connection, enrollment_ids)
        for message in blocked:
            loaded = library.pinned(
                message.sequence_digest, message.sequence_text, message.sequence_key
            )
            sequence = loaded.sequence
            awaited = waits_for(sequence, sequence.step(message.step_id))
            known = replies[message.enrollment_id]
            rows = steps[message.enrollment_id]
            if all(settled(sequence, x, rows.get(x), x in known, now) for x in awaited):
                released += outbox.move(
                    connection, message.id, fence=None, source=S.BLOCKED,
                    target=S.PLANNED, now=now, cause="replies_settled",
                )  # fmt: skip
    return released
