"""Twilio's answers to creates, recorded many at a time: one short transaction per batch.

Each row is still fenced on its own (``id``, ``fence`` and ``state = 'handing_off'``): a
message another dispatcher took over meanwhile is left alone, as ``outbox.move`` would.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, update

from dripsms.core.states import MessageState, transition
from dripsms.store.events import event_row, record
from dripsms.store.tables import messages

S = MessageState
m = messages.c

_RECORD = (
    update(messages)
    .where(
        m.id == bindparam("b_id"),
        m.fence == bindparam("b_fence"),
        m.state == S.HANDING_OFF.value,
    )
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

_INTEND = (
    update(messages)
    .where(
        m.id == bindparam("b_id"),
        m.fence == bindparam("b_fence"),
        m.state == S.HANDING_OFF.value,
    )
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
    recorded: set[int] = set()
    for intent in intents:
        row = connection.execute(
            _INTEND,
            {
                "b_id": intent.message_id,
                "b_fence": intent.fence,
                "b_body": intent.body,
                "b_send_at": intent.send_at,
                "b_attempts": intent.attempts,
                "b_now": now,
            },
        ).first()
        if row is not None:
            recorded.add(intent.message_id)
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


def record_answers(connection: Connection, answers: Sequence[Answer], now: datetime) -> set[int]:
    """Move each answered row ``handing_off → target`` with its SID (fenced), and log each
    move; in the caller's transaction. Returns the ids moved (the others lost their lease)."""
    moved: set[int] = set()
    for answer in answers:
        transition(S.HANDING_OFF, answer.target)  # a programming error, not a race
        row = connection.execute(
            _RECORD,
            {
                "b_id": answer.message_id,
                "b_fence": answer.fence,
                "b_state": answer.target.value,
                "b_sid": answer.sid,
                "b_now": now,
            },
        ).first()
        if row is not None:
            moved.add(answer.message_id)
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
