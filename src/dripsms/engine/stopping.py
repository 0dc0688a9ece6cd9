"""Stopping what must no longer go out: unenrolling, exits, opt-outs.

Messages not yet handed off are canceled here and now. Messages Twilio holds get a
cancel request, which the dispatcher carries out at Twilio (``Status=canceled``) and
records Twilio's answer (a message already released cannot be canceled).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Engine, select, update

from dripsms.core.phones import InvalidPhone, normalize_phone
from dripsms.core.states import NOT_HANDED_OFF, MessageState
from dripsms.errors import DripError, NotFound
from dripsms.store.events import event_row, record
from dripsms.store.tables import contacts, enrollments, messages

S = MessageState
ACTIVE = "active"


def end_enrollment(
    connection: Connection,
    enrollment_id: int,
    now: datetime,
    *,
    state: str,
    cause: str,
    messages_to: MessageState = MessageState.CANCELED,
) -> bool:
    """End an active enrollment (``canceled``, ``exited`` or ``completed``); stop its messages.

    Returns False when it was not active.
    """
    e = enrollments.c
    ended = connection.execute(
        update(enrollments)
        .where(e.id == enrollment_id, e.state == ACTIVE)
        .values(state=state, ended_at=now, end_reason=cause)
        .returning(e.contact_id)
    ).all()
    if not ended:
        return False
    record(
        connection,
        [
            event_row(
                now, "enrollment", cause, enrollment_id=enrollment_id,
                contact_id=ended[0].contact_id, from_state=ACTIVE, to_state=state,
            )
        ],
    )  # fmt: skip
    stop_messages(connection, [enrollment_id], now, cause=cause, target=messages_to)
    return True


def stop_messages(
    connection: Connection,
    enrollment_ids: list[int],
    now: datetime,
    *,
    cause: str,
    target: MessageState,
) -> None:
    """Cancel (or suppress) messages not handed off; ask the dispatcher to cancel the rest."""
    m = messages.c
    if not enrollment_ids:
        return
    stopped = connection.execute(
        update(messages)
        .where(
            m.enrollment_id.in_(enrollment_ids),
            m.state.in_([s.value for s in NOT_HANDED_OFF]),
        )
        .values(state=target.value, updated_at=now)
        .returning(m.id, m.enrollment_id)
    ).all()
    record(
        connection,
        (
            event_row(
                now, "message", cause, message_id=row.id, enrollment_id=row.enrollment_id,
                to_state=target.value,
            )
            for row in stopped
        ),
    )  # fmt: skip
    connection.execute(
        update(messages)
        .where(
            m.enrollment_id.in_(enrollment_ids),
            m.state.in_([S.SCHEDULED.value, S.HANDING_OFF.value]),
            m.cancel_requested_at.is_(None),
        )
        .values(cancel_requested_at=now)
    )


def opt_out_contact(connection: Connection, contact_id: int, now: datetime, *, cause: str) -> None:
    """The contact said STOP (or Twilio says so): every active enrollment exits."""
    connection.execute(
        update(contacts)
        .where(contacts.c.id == contact_id, contacts.c.opted_out_at.is_(None))
        .values(opted_out_at=now, updated_at=now)
    )
    record(
        connection, [event_row(now, "contact", cause, contact_id=contact_id, to_state="opted_out")]
    )
    active = connection.execute(
        select(enrollments.c.id).where(
            enrollments.c.contact_id == contact_id, enrollments.c.state == ACTIVE
        )
    ).scalars()
    for enrollment_id in list(active):
        end_enrollment(
            connection, enrollment_id, now, state="exited", cause=cause, messages_to=S.SUPPRESSED
        )


def unenroll(
    engine: Engine,
    *,
    now: datetime,
    enrollment_id: int | None = None,
    phone: str | None = None,
    sequence: str | None = None,
    default_region: str = "US",
) -> list[int]:
    """Cancel one enrollment, or every active one of a phone (optionally of one sequence).

    Returns the ids ended. Raises :class:`DripError` when there is nothing to end.
    """
    e = enrollments.c
    query = select(e.id).where(e.state == ACTIVE)
    if enrollment_id is not None:
        query = query.where(e.id == enrollment_id)
    else:
        try:
            normalized = normalize_phone(phone or "", default_region)
        except InvalidPhone as exc:
            raise DripError(f"--{exc}") from None
        query = query.join(contacts, contacts.c.id == e.contact_id).where(
            contacts.c.phone == normalized
        )
        if sequence is not None:
            query = query.where(e.sequence_key == sequence)
    with engine.begin() as connection:
        ids = list(connection.execute(query.order_by(e.id)).scalars())
        if not ids:
            what = f"enrollment {enrollment_id}" if enrollment_id is not None else "that phone"
            raise NotFound(f"no active enrollment for {what}")
        for found in ids:
            end_enrollment(connection, found, now, state="canceled", cause="unenroll")
    return ids
