"""Twilio's status callbacks: forward-only state changes, each (SID, status) applied once.

Status reconciliation (:mod:`dripsms.engine.status_reconciliation`) records what it
fetches from Twilio through this same path, with its own cause.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from dripsms.core.states import TWILIO_STATUSES, MessageState, advance
from dripsms.engine.stopping import opt_out_contact
from dripsms.provider.base import OPTED_OUT
from dripsms.store.events import event_row, record
from dripsms.store.tables import enrollments, messages, status_callbacks

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
    reported = TWILIO_STATUSES.get(update_.status)
    m = messages.c
    with engine.begin() as connection:
        row = connection.execute(
            select(m.id, m.state, m.sid, m.enrollment_id).where(m.sid == update_.message_sid)
        ).first()
        if row is None and update_.message_id is not None:
            # The create's answer was lost: the callback URL names the row; tie the SID.
            row = connection.execute(
                select(m.id, m.state, m.sid, m.enrollment_id).where(
                    m.id == update_.message_id, m.sid.is_(None)
                )
            ).first()
        if row is None or reported is None:
            return StatusOutcome("unknown")  # not recorded: a repeat may find its row later
        try:
            with connection.begin_nested():
                connection.execute(
                    insert(status_callbacks).values(
                        message_sid=update_.message_sid, status=update_.status, received_at=now
                    )
                )
        except IntegrityError:
            return StatusOutcome("duplicate")
        current = S(row.state)
        target = advance(current, reported)
        values: dict[str, object] = {"sid": update_.message_sid, "updated_at": now}
        if target in SENT_STATES:
            values["sent_at"] = update_.sent_at or now
        if update_.error_code is not None and target in (S.FAILED, S.UNDELIVERED):
            values["error_code"] = update_.error_code
        if target is not current or row.sid is None:
            connection.execute(
                update(messages)
                .where(m.id == row.id, m.state == current.value)
                .values(state=target.value, lease_owner=None, lease_expires_at=None, **values)
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
            connection.execute(
                update(messages)
                .where(m.id == row.id, m.sent_at.is_(None))
                .values(sent_at=update_.sent_at or now)
            )
        if update_.error_code == OPTED_OUT:
            contact_id = connection.execute(
                select(enrollments.c.contact_id).where(enrollments.c.id == row.enrollment_id)
            ).scalar_one()
            opt_out_contact(connection, contact_id, now, cause="provider_21610")
        return StatusOutcome("applied", target)
