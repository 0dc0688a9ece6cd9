"""Twilio's answers to creates, recorded many at a time: one short transaction per batch.

Each row is still fenced on its own (``id``, ``fence`` and ``state = 'handing_off'``): a
message another dispatcher took over meanwhile is left alone, as ``outbox.move`` would.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, update

from dripsms.core.states import SENT_QUESTION, MessageState, transition
from dripsms.store.events import event_row, record
from dripsms.store.tables import messages

S = MessageState
m = messages.c

_FENCED = (
    m.id == bindparam("b_id"),
    m.fence == bindparam("b_fence"),
    m.state == S.HANDING_OFF.value,
)
"""The claim still holds: the row is ``handing_off`` under the claimer's fence."""

_RECORD = (
    update(messages)
    .where(*_FENCED)
    .values(
        state=bindparam("b_state"),
        sid=bindparam("b_sid"),
        updated_at=bindparam("b_now"),
        lease_owner=None,
        lease_expires_at=None,
    )
    .returning(m.id)
)
"""One fenced row; built once, run once per answer in the batch's transaction."""

_RECORD_CLOSING = _RECORD.values(no_reply_handled_at=bindparam("b_now"))
""":data:`_RECORD`, closing the reply window of a step that asks nothing, sent now: in
the same row version, where the reply timers would write a second one on their next pass
(``store.replies.close_many``)."""

_INTEND = (
    update(messages)
    .where(*_FENCED)
    .values(
        body=bindparam("b_body"),
        send_at=bindparam("b_send_at"),
        attempt_started_at=bindparam("b_now"),
        attempts=bindparam("b_attempts"),
        updated_at=bindparam("b_now"),
        error_code=None,
        error_message=None,
    )
    .returning(m.id)
)
"""One claimed row's intent, fenced; built once."""


def _fenced(connection: Connection, statement: Any, rows: Iterable[dict[str, Any]]) -> set[int]:
    """Run a fenced one-row ``statement`` for each set of values; the ids it changed."""
    changed: set[int] = set()
    for values in rows:
        row = connection.execute(statement, values).first()
        if row is not None:
            changed.add(row.id)
    return changed


@dataclass(frozen=True, slots=True)
class Intent:
    """What is about to be created for one claimed message: recorded before the call."""

    message_id: int
    fence: int
    body: str
    send_at: datetime | None
    attempts: int


def record_intents(connection: Connection, intents: Sequence[Intent], now: datetime) -> set[int]:
    """Record each message's rendered body, SendAt and attempt (``now``) before its create,
    fenced, with a ``handoff_started`` event each; in the caller's transaction. Returns the
    ids recorded (the others lost their claim: they must not be created)."""
    recorded = _fenced(
        connection,
        _INTEND,
        (
            {"b_id": i.message_id, "b_fence": i.fence, "b_body": i.body,
             "b_send_at": i.send_at, "b_attempts": i.attempts, "b_now": now}
            for i in intents
        ),
    )  # fmt: skip
    record(
        connection,
        (
            event_row(
                now,
                "message",
                "handoff_started",
                message_id=i.message_id,
                from_state=S.HANDING_OFF.value,
                to_state=S.HANDING_OFF.value,
                detail={"send_at": i.send_at.isoformat() if i.send_at else None},
            )
            for i in intents
            if i.message_id in recorded
        ),
    )
    return recorded


@dataclass(frozen=True, slots=True)
class Answer:
    """Twilio's answer to one create: the row (and its claim's fence), the SID, the state."""

    message_id: int
    fence: int
    sid: str
    status: str
    target: MessageState
    cause: str = "handed_off"
    closes: bool = False
    """A step that asks nothing, sent now: its reply window closes as it is recorded."""

    @property
    def closing(self) -> bool:
        """Whether recording this answer closes the message's reply window (only in a
        state in which a window is open at all: the reply timers close no other)."""
        return self.closes and self.target in SENT_QUESTION


def record_answers(connection: Connection, answers: Sequence[Answer], now: datetime) -> set[int]:
    """Move each answered row ``handing_off → target`` with its SID (fenced), closing the
    reply window of those that :attr:`Answer.closing`, and log each move; in the caller's
    transaction. Returns the ids moved (the others lost their lease)."""
    for answer in answers:
        transition(S.HANDING_OFF, answer.target)  # a programming error, not a race
    moved: set[int] = set()
    for closing in (False, True):
        moved |= _fenced(
            connection,
            _RECORD_CLOSING if closing else _RECORD,
            (
                {"b_id": a.message_id, "b_fence": a.fence, "b_state": a.target.value,
                 "b_sid": a.sid, "b_now": now}
                for a in answers
                if a.closing is closing
            ),
        )  # fmt: skip
    record(
        connection,
        (
            event_row(
                now,
                "message",
                a.cause,
                message_id=a.message_id,
                from_state=S.HANDING_OFF.value,
                to_state=a.target.value,
                detail={"status": a.status},
            )
            for a in answers
            if a.message_id in moved
        ),
    )
    return moved
