"""Stopping what must no longer go out: unenrolling, exits, opt-outs.

Messages not yet handed off are canceled here and now. Messages Twilio holds get a
cancel request, which the dispatcher carries out at Twilio (``Status=canceled``) and
records Twilio's answer (a message already released cannot be canceled).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection, Engine

from dripsms.core.phones import InvalidPhone, normalize_phone
from dripsms.core.states import EnrollmentState, MessageState
from dripsms.errors import DripError, NotFound
from dripsms.store import contacts as stored_contacts
from dripsms.store import enrollments as stored_enrollments
from dripsms.store import messages as stored_messages
from dripsms.store.events import event_row, record

S = MessageState
E = EnrollmentState


def end_enrollment(
    connection: Connection,
    enrollment_id: int,
    now: datetime,
    *,
    state: EnrollmentState,
    cause: str,
    messages_to: MessageState = MessageState.CANCELED,
) -> bool:
    """End an active enrollment (``canceled``, ``exited`` or ``completed``); stop its messages.

    Returns False when it was not active.
    """
    ending = state
    contact_id = stored_enrollments.end(
        connection, enrollment_id, state=ending, reason=cause, now=now
    )
    if contact_id is None:
        return False
    record(
        connection,
        [
            event_row(
                now, "enrollment", cause, enrollment_id=enrollment_id,
                contact_id=contact_id, from_state=E.ACTIVE.value, to_state=ending.value,
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
    if not enrollment_ids:
        return
    stopped = stored_messages.stop_unsent(connection, enrollment_ids, target, now)
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
    stored_messages.request_cancels(connection, enrollment_ids, now)


def opt_out_contact(connection: Connection, contact_id: int, now: datetime, *, cause: str) -> None:
    """The contact said STOP (or Twilio says so): every active enrollment exits."""
    stored_contacts.mark_opted_out(connection, contact_id, now)
    record(
        connection, [event_row(now, "contact", cause, contact_id=contact_id, to_state="opted_out")]
    )
    for row in stored_enrollments.active_of_contact(connection, contact_id):
        end_enrollment(
            connection, row.id, now, state=E.EXITED, cause=cause, messages_to=S.SUPPRESSED
        )


def unenroll(
    engine: Engine,
    *,
    now: datetime,
    enrollment_id: int | None = None,
    phone: str | None = None,
    sequence: str | None = None,
    default_region: str = "US",
    also: Callable[[Connection], None] | None = None,
) -> list[int]:
    """Cancel one enrollment, or every active one of a phone (optionally of one sequence).

    ``also`` runs in the same transaction (the console's audit row: no unenrollment without
    it, and none of it without the unenrollment). Returns the ids ended. Raises
    :class:`DripError` when there is nothing to end.
    """
    normalized: str | None = None
    if enrollment_id is None:
        try:
            normalized = normalize_phone(phone or "", default_region)
        except InvalidPhone as exc:
            raise DripError(f"--{exc}") from None
    with engine.begin() as connection:
        ids = stored_enrollments.active_ids(
            connection, enrollment_id=enrollment_id, phone=normalized, sequence=sequence
        )
        if not ids:
            what = f"enrollment {enrollment_id}" if enrollment_id is not None else "that phone"
            raise NotFound(f"no active enrollment for {what}")
        for found in ids:
            end_enrollment(connection, found, now, state=E.CANCELED, cause="unenroll")
        if also is not None:
            also(connection)
    return ids
