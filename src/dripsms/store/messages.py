"""Queries about messages outside the outbox's claim protocol: re-planning, stopping, and
applying Twilio's status callbacks. Each function answers one question or makes one change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, insert, select, update
from sqlalchemy.exc import IntegrityError

from dripsms.core.states import NOT_HANDED_OFF, MessageKind, MessageState
from dripsms.store.tables import messages, status_callbacks

S = MessageState
K = MessageKind
m = messages.c

CANCELABLE_AT_PROVIDER = frozenset({S.SCHEDULED, S.HANDING_OFF})
"""States whose message Twilio holds (or may): stopping one asks the dispatcher to cancel it."""


@dataclass(frozen=True, slots=True)
class StepMessage:
    """An outbox row of an enrollment: its id, step, state and due time."""

    id: int
    step_id: str
    state: MessageState
    due_at: datetime | None


def steps_of_enrollment(
    connection: Connection, enrollment_id: int, *, states: Iterable[MessageState] | None = None
) -> list[StepMessage]:
    """The enrollment's step messages (only those in ``states`` when given)."""
    condition = [m.kind == K.STEP.value]
    if states is not None:
        condition.append(m.state.in_([s.value for s in states]))
    return _of_enrollment(connection, enrollment_id, *condition)


def all_of_enrollment(
    connection: Connection, enrollment_id: int, *, step_ids: Iterable[str] | None = None
) -> list[StepMessage]:
    """Every message of the enrollment, of any kind (only those of ``step_ids`` when given)."""
    condition = [] if step_ids is None else [m.step_id.in_(list(step_ids))]
    return _of_enrollment(connection, enrollment_id, *condition)


def _of_enrollment(
    connection: Connection, enrollment_id: int, *condition: ColumnElement[bool]
) -> list[StepMessage]:
    rows = connection.execute(
        select(m.id, m.step_id, m.state, m.due_at).where(
            m.enrollment_id == enrollment_id, *condition
        )
    )
    return [StepMessage(r.id, r.step_id, S(r.state), r.due_at) for r in rows]


_ADD_STEP = insert(messages)
"""Built once, given its values as parameters (see :data:`_FIRST_CALLBACK`)."""


def add_step(
    connection: Connection,
    enrollment_id: int,
    step_id: str,
    *,
    state: MessageState,
    due_at: datetime | None,
    now: datetime,
    **written: Any,
) -> None:
    """Plan a new message: a step's, unless ``written`` gives its ``kind`` (with its
    ``body``, and ``to_phone`` for a staff alert)."""
    connection.execute(
        _ADD_STEP,
        dict(
            enrollment_id=enrollment_id, step_id=step_id, state=state.value,
            due_at=due_at, updated_at=now, **written,
        ),
    )  # fmt: skip


def replan(
    connection: Connection,
    message_id: int,
    *,
    current: MessageState,
    state: MessageState,
    due_at: datetime | None,
    now: datetime,
    clear_retry: bool = False,
) -> None:
    """Give a message not yet handed off a new due time and state (only while it is still in
    ``current``); ``clear_retry`` also drops a retry time set by an earlier pass."""
    values: dict[str, Any] = {"due_at": due_at, "state": state.value, "updated_at": now}
    if clear_retry:
        values["next_attempt_at"] = None
    connection.execute(
        update(messages).where(m.id == message_id, m.state == current.value).values(**values)
    )


def cancel_unsent(connection: Connection, message_id: int, now: datetime) -> None:
    """Cancel a message not yet handed off (its step left the sequence)."""
    connection.execute(
        update(messages).where(m.id == message_id).values(state=S.CANCELED.value, updated_at=now)
    )


def supersede(connection: Connection, message_id: int, step_id: str, now: datetime) -> None:
    """Mark a scheduled step as replaced by a new plan and ask for its cancel at Twilio; it
    gives up its step id so that the step can be planned afresh."""
    connection.execute(
        update(messages)
        .where(m.id == message_id)
        .values(
            step_id=f"{step_id}~{message_id}"[:64], kind=K.SUPERSEDED.value,
            cancel_requested_at=now, updated_at=now,
        )
    )  # fmt: skip


def stop_unsent(
    connection: Connection,
    enrollment_ids: Iterable[int],
    target: MessageState,
    now: datetime,
    *,
    states: Iterable[MessageState] = NOT_HANDED_OFF,
) -> list[Row[Any]]:
    """Move the enrollments' messages not handed off (or only those in ``states``) to
    ``target``; their ``id`` and ``enrollment_id``."""
    return list(
        connection.execute(
            update(messages)
            .where(
                m.enrollment_id.in_(list(enrollment_ids)),
                m.state.in_([s.value for s in states]),
            )
            .values(state=target.value, updated_at=now)
            .returning(m.id, m.enrollment_id)
        )
    )


def request_cancels(connection: Connection, enrollment_ids: Iterable[int], now: datetime) -> None:
    """Ask the dispatcher to cancel at Twilio the enrollments' messages it holds (or may)."""
    connection.execute(
        update(messages)
        .where(
            m.enrollment_id.in_(list(enrollment_ids)),
            m.state.in_([s.value for s in CANCELABLE_AT_PROVIDER]),
            m.cancel_requested_at.is_(None),
        )
        .values(cancel_requested_at=now)
    )


def clear_cancel_request(connection: Connection, message_id: int) -> None:
    """The cancel request of this message is answered."""
    connection.execute(update(messages).where(m.id == message_id).values(cancel_requested_at=None))


@dataclass(frozen=True, slots=True)
class CallbackTarget:
    """The message a status callback is about."""

    id: int
    state: str
    sid: str | None
    enrollment_id: int


def for_callback(connection: Connection, sid: str, message_id: int | None) -> CallbackTarget | None:
    """The message a status callback is about: the one with this SID, or else (the create's
    answer was lost) the one the signed callback URL names, if it has no SID yet."""
    columns = (m.id, m.state, m.sid, m.enrollment_id)
    row = connection.execute(select(*columns).where(m.sid == sid)).first()
    if row is None and message_id is not None:
        row = connection.execute(
            select(*columns).where(m.id == message_id, m.sid.is_(None))
        ).first()
    return None if row is None else CallbackTarget(row.id, row.state, row.sid, row.enrollment_id)


_FIRST_CALLBACK = insert(status_callbacks)
"""Built once: a statement given its values as parameters skips building a bound parameter
per value, and a cache key, on every call (the same SQL, the same rows)."""


def first_callback(connection: Connection, sid: str, status: str, now: datetime) -> bool:
    """Record that Twilio posted ``status`` for ``sid``; False when it was recorded before."""
    try:
        with connection.begin_nested():
            connection.execute(
                _FIRST_CALLBACK, {"message_sid": sid, "status": status, "received_at": now}
            )
    except IntegrityError:
        return False
    return True


def apply_reported(
    connection: Connection,
    message_id: int,
    *,
    current: MessageState,
    target: MessageState,
    values: dict[str, object],
) -> None:
    """Move a message to the state Twilio reported (while it is still in ``current``); it
    leaves any dispatcher's lease."""
    connection.execute(
        update(messages)
        .where(m.id == message_id, m.state == current.value)
        .values(state=target.value, lease_owner=None, lease_expires_at=None, **values)
    )


def note_sent_at(connection: Connection, message_id: int, sent_at: datetime) -> None:
    """When the message went out, unless known already."""
    connection.execute(
        update(messages).where(m.id == message_id, m.sent_at.is_(None)).values(sent_at=sent_at)
    )
