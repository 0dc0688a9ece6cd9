"""Twilio's status callbacks: forward-only state changes, each (SID, status) applied once.

Status reconciliation (:mod:`dripsms.engine.status_reconciliation`) records what it
fetches from Twilio through this same path, with its own cause.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine

from dripsms.core.states import TWILIO_STATUSES, MessageState, advance
from dripsms.engine.stopping import opt_out_contact
from dripsms.provider.base import OPTED_OUT
from dripsms.store import enrollments as stored_enrollments
from dripsms.store import messages as stored_messages
from dripsms.store.database import write
from dripsms.store.events import event_row, record

S = MessageState
SENT_STATES = frozenset({S.SENT, S.DELIVERED, S.UNDELIVERED})


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """One status callback, as Twilio posts it."""

    message_sid: str
    status: str
    message_id: int | None = None
    """Our own id, from the signed callback URL (verified by the caller)."""
    error_code: int | None = None
    sent_at: datetime | None = None
    """When Twilio sent it, if known (a fetched message's ``date_sent``); else the time of
    applying."""


@dataclass(frozen=True, slots=True)
class StatusOutcome:
    """What a callback did: ``duplicate``, ``unknown`` (no such message), or ``applied``."""

    result: str
    state: MessageState | None = None


def apply_status(
    engine: Engine, update_: StatusUpdate, *, now: datetime, cause: str = "status_callback"
) -> StatusOutcome:
    """Apply a status callback once; states only move forward, terminal states stay.

    ``cause`` names the source in the event log (``reconciled`` for a fetched status).
    """
    return write(engine, lambda connection: _apply(connection, update_, now, cause))


def _apply(
    connection: Connection, update_: StatusUpdate, now: datetime, cause: str
) -> StatusOutcome:
    reported = TWILIO_STATUSES.get(update_.status)
    row = stored_messages.for_callback(connection, update_.message_sid, update_.message_id)
    if row is None or reported is None:
        return StatusOutcome("unknown")  # not recorded: a repeat may find its row later
    if not stored_messages.first_callback(connection, update_.message_sid, update_.status, now):
        return StatusOutcome("duplicate")
    current = S(row.state)
    target = advance(current, reported)
    values: dict[str, object] = {"sid": update_.message_sid, "updated_at": now}
    if target in SENT_STATES:
        values["sent_at"] = update_.sent_at or now
    if update_.error_code is not None and target in (S.FAILED, S.UNDELIVERED):
        values["error_code"] = update_.error_code
    if target is not current or row.sid is None:
        stored_messages.apply_reported(
            connection, row.id, current=current, target=target, values=values
        )
        record(
            connection,
            [
                event_row(
                    now, "message", cause, message_id=row.id,
                    enrollment_id=row.enrollment_id, from_state=current.value,
                    to_state=target.value, detail={"status": update_.status},
                )
            ],
        )  # fmt: skip
    elif target in SENT_STATES:
        stored_messages.note_sent_at(connection, row.id, update_.sent_at or now)
    if update_.error_code == OPTED_OUT:
        contact_id = stored_enrollments.contact_of(connection, row.enrollment_id)
        opt_out_contact(connection, contact_id, now, cause="provider_21610")
    return StatusOutcome("applied", target)
