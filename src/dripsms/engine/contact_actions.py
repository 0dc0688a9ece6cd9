"""What an operator does from a contact's page: reply, pause, resume, unenroll. Audited.

A reply is an outbox row of kind ``text``: the dispatcher sends it at once, exactly once,
like a rule's answer (an opted-out contact's is refused here, and suppressed there if the
contact opts out first).

Pausing (docs/engine.md, "Pausing an enrollment"): the enrollment keeps its state
(``active``) and gets ``paused_at``. While it is set, the dispatcher claims none of its
step messages; those Twilio holds get a cancel request, carried out by the dispatcher's
next pass. Resuming clears ``paused_at`` and plans again, at their original due time,
the steps those cancels stopped; the dispatcher then sends what is still within the
sequence's ``max_delay`` and expires the rest, as for any late message. A resume is
refused while a cancel is still in flight (its outcome decides whether the step went out).

Two instants: ``now``, the engine's clock (the sandbox's virtual clock under ``dripsms
run``), for what the action does to messages and enrollments; ``audited_at``, the real
clock, for the audit row, which says when a person acted (as for ``dripsms users`` and
sign-ins).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine

from dripsms.core.segments import count_segments
from dripsms.engine.operators import Operator
from dripsms.engine.stopping import unenroll
from dripsms.errors import Conflict, InvalidInput, NotFound
from dripsms.store import audit, pauses
from dripsms.store import conversation_view as view
from dripsms.store.conversations import add_text
from dripsms.store.events import event_row, record

MAX_REPLY = 1000
"""Characters in a text written in the console (about 7 segments of GSM-7)."""


@dataclass(frozen=True, slots=True)
class Sent:
    """A reply put in the outbox."""

    enrollment_id: int
    tag: str
    segments: int


def _audit(
    connection: Connection, operator: Operator, action: audit.AuditAction, subject: str,
    at: datetime, detail: dict[str, object] | None = None,
) -> None:  # fmt: skip
    audit.record(
        connection,
        at=at, operator_email=operator.email, operator_id=operator.id, action=action,
        subject=subject, detail=detail,
    )  # fmt: skip


def check_reply(body: str) -> str:
    """The text to send, trimmed; :class:`InvalidInput` naming the field when unusable."""
    text = body.strip()
    if not text:
        raise InvalidInput("body: write the text to send")
    if len(text) > MAX_REPLY:
        raise InvalidInput(f"body: at most {MAX_REPLY} characters (this one has {len(text)})")
    return text


def reply_to_contact(
    engine: Engine, phone: str, body: str, operator: Operator, *, now: datetime,
    audited_at: datetime,
) -> Sent:  # fmt: skip
    """Put a text to the contact with this phone in the outbox, to go out at once."""
    text = check_reply(body)
    with engine.begin() as connection:
        found = view.contact_record(connection, phone)
        if found is None:
            raise NotFound("no contact with that phone")
        if found.opted_out_at is not None:
            raise Conflict(
                "this contact has opted out (texted STOP): no text can be sent until they "
                "text START"
            )
        enrollment_id = view.reply_target(connection, phone)
        if enrollment_id is None:
            raise Conflict("this contact has no enrollment to send under")
        tag = f"{view.CONSOLE_TAG}{secrets.token_hex(8)}"  # two nurses at once: two texts
        add_text(connection, enrollment_id, tag, text, now)
        segments = count_segments(text).segments
        _audit(
            connection, operator, audit.AuditAction.REPLY, f"contact:{phone}", audited_at,
            {"enrollment_id": enrollment_id, "step": tag, "segments": segments},
        )  # fmt: skip
    return Sent(enrollment_id, tag, segments)


def _owned(engine: Engine, phone: str, enrollment_id: int) -> None:
    with engine.connect() as connection:
        if not view.enrollment_of_contact(connection, phone, enrollment_id):
            raise NotFound(f"enrollment {enrollment_id} is not this contact's")


def pause(
    engine: Engine,
    phone: str,
    enrollment_id: int,
    operator: Operator,
    *,
    now: datetime,
    audited_at: datetime,
) -> int:
    """Pause an active enrollment: nothing of it is handed off until it is resumed; the
    steps Twilio holds are canceled there. Returns how many cancels were asked for."""
    _owned(engine, phone, enrollment_id)
    with engine.begin() as connection:
        if not pauses.mark_paused(connection, enrollment_id, now):
            raise Conflict(f"enrollment {enrollment_id} is not active, or is paused already")
        asked = pauses.request_step_cancels(connection, enrollment_id, now)
        events = [event_row(now, "enrollment", "paused", enrollment_id=enrollment_id)]
        for message_id in asked:
            events.append(
                event_row(
                    now, "message", pauses.PAUSE_CAUSE, message_id=message_id,
                    enrollment_id=enrollment_id, detail={"cancel_requested": True},
                )
            )  # fmt: skip
        record(connection, events)
        _audit(
            connection, operator, audit.AuditAction.PAUSE, f"enrollment:{enrollment_id}",
            audited_at, {"contact": f"contact:{phone}", "cancels": len(asked)},
        )  # fmt: skip
    return len(asked)


def resume(
    engine: Engine,
    phone: str,
    enrollment_id: int,
    operator: Operator,
    *,
    now: datetime,
    audited_at: datetime,
) -> int:
    """Resume a paused enrollment; the steps its pause canceled at Twilio are planned again
    (the dispatcher expires those past ``max_delay``). Returns how many were planned."""
    _owned(engine, phone, enrollment_id)
    with engine.begin() as connection:
        since = pauses.paused_since(connection, enrollment_id)
        if since is None:
            raise Conflict(f"enrollment {enrollment_id} is not paused")
        waiting = pauses.cancels_pending(connection, enrollment_id)
        if waiting:
            raise Conflict(
                f"{waiting} message(s) of this enrollment are still being canceled at Twilio: "
                "resume once the dispatcher has done so (within a minute)"
            )
        if not pauses.clear_paused(connection, enrollment_id, since):
            raise Conflict(f"enrollment {enrollment_id} was resumed already")
        events = [event_row(now, "enrollment", "resumed", enrollment_id=enrollment_id)]
        for stopped in pauses.canceled_by_pause(connection, enrollment_id, since):
            new_id = pauses.plan_again(connection, enrollment_id, stopped, now)
            events.append(
                event_row(
                    now, "message", "resumed", message_id=new_id, enrollment_id=enrollment_id,
                    to_state="planned", detail={"replaces": stopped.id},
                )
            )  # fmt: skip
        record(connection, events)
        _audit(
            connection, operator, audit.AuditAction.RESUME, f"enrollment:{enrollment_id}",
            audited_at, {"contact": f"contact:{phone}", "planned_again": len(events) - 1},
        )  # fmt: skip
    return len(events) - 1


def unenroll_from_console(
    engine: Engine,
    phone: str,
    enrollment_id: int,
    operator: Operator,
    *,
    now: datetime,
    audited_at: datetime,
) -> None:
    """End an enrollment as ``canceled`` (an admin's decision), through the same path as
    ``dripsms unenroll``; audited."""
    _owned(engine, phone, enrollment_id)

    def audited(connection: Connection) -> None:
        _audit(
            connection, operator, audit.AuditAction.UNENROLL, f"enrollment:{enrollment_id}",
            audited_at, {"contact": f"contact:{phone}"},
        )  # fmt: skip

    try:
        unenroll(engine, now=now, enrollment_id=enrollment_id, also=audited)
    except NotFound:
        raise Conflict(f"enrollment {enrollment_id} has ended already") from None


def record_view(engine: Engine, phone: str, operator: Operator, *, audited_at: datetime) -> None:
    """An operator opened the contact's page."""
    with engine.begin() as connection:
        _audit(connection, operator, audit.AuditAction.VIEW_CONTACT, f"contact:{phone}", audited_at)
