"""Changing a contact: attributes and zone. A moved anchor (a new surgery date) re-plans
every message not yet sent; what Twilio holds is canceled there and planned again."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine

from dripsms.core.attributes import attributes_to_json, check_names, coerce
from dripsms.core.planning import EnrollmentError
from dripsms.core.sequence.dependencies import waits_for
from dripsms.core.sequence.model import Sequence
from dripsms.core.states import NOT_HANDED_OFF, MessageState
from dripsms.core.timeline import AnchorOutOfRange, PlannedStep, check_anchor, plan_timeline
from dripsms.core.zones import time_zone
from dripsms.engine.library import SequenceLibrary
from dripsms.errors import NotFound
from dripsms.store import contacts as stored_contacts
from dripsms.store import enrollments as stored_enrollments
from dripsms.store import messages as stored_messages
from dripsms.store.events import event_row, record
from dripsms.store.repository import contacts_by_phone

S = MessageState


class UnknownContact(EnrollmentError, NotFound):
    """No contact has this phone."""


@dataclass(frozen=True, slots=True)
class _Move:
    """One active enrollment re-planned by a change, computed before anything is written."""

    enrollment_id: int
    sequence: Sequence
    anchor: date | datetime
    zone: str
    attributes: dict[str, Any]
    plan: list[PlannedStep]


def update_contact(
    engine: Engine,
    library: SequenceLibrary,
    phone: str,
    *,
    now: datetime,
    timezone: str | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> int:
    """Update a contact; returns how many messages were re-planned.

    Validated like an enrollment: each attribute must be declared by a sequence the
    contact is active in (by any sequence this server runs when none of those declares
    it), in that declaration's type and size. Every check and every new plan is made
    before the first write, and all writes are one transaction: a refusal writes nothing.
    """
    given = dict(attributes or {})
    try:
        check_names(given)
    except ValueError as exc:
        raise EnrollmentError("attributes", str(exc)) from None
    if timezone is not None:
        try:
            time_zone(timezone)
        except ValueError:
            raise EnrollmentError("timezone", f"unknown time zone {timezone!r}") from None
    with engine.begin() as connection:
        contact = contacts_by_phone(connection, [phone]).get(phone)
        if contact is None:
            raise UnknownContact("phone", "no contact with this phone")
        active = stored_enrollments.active_of_contact(connection, contact.id)
        pinned = [(row, library.pinned(row.digest, row.text, row.key).sequence) for row in active]
        typed = _typed(given, [seq for _, seq in pinned], library)
        moves = [
            move
            for row, sequence in pinned
            if (move := _move(row, sequence, typed, timezone)) is not None
        ]
        stored_contacts.save(
            connection,
            contact.id,
            attributes={**dict(contact.attributes), **attributes_to_json(typed)},
            timezone=timezone or contact.timezone,
            now=now,
        )
        replanned = 0
        for move in moves:
            stored_enrollments.move_anchor(
                connection, move.enrollment_id, anchor=move.anchor.isoformat(), zone=move.zone,
                attributes=move.attributes,
            )  # fmt: skip
            replanned += _replan(connection, move.enrollment_id, move.sequence, move.plan, now)
    return replanned


def _typed(
    given: Mapping[str, Any], active: list[Sequence], library: SequenceLibrary
) -> dict[str, Any]:
    """The given attributes in their declared types; :class:`EnrollmentError` naming the
    first one no sequence declares, or whose value a declaration refuses."""
    typed: dict[str, Any] = {}
    for name, raw in given.items():
        declaring = [seq for seq in active if name in seq.attributes]
        if not declaring:  # not in the contact's sequences: kept for a later enrollment
            declaring = [
                seq
                for key in library.sequence_keys()
                if name in (seq := library.current(key).sequence).attributes
            ][:1]
        if not declaring:
            raise EnrollmentError(f"attributes.{name}", _undeclared(active))
        for sequence in declaring:  # each enrollment renders and re-plans with it
            declared = sequence.attributes[name]
            try:
                typed[name] = coerce(declared.type, raw, declared.values)
                if name == sequence.anchor:
                    check_anchor(typed[name])
            except (ValueError, AnchorOutOfRange) as exc:
                raise EnrollmentError(f"attributes.{name}", str(exc)) from None
    return typed


def _undeclared(active: list[Sequence]) -> str:
    if not active:
        return "not an attribute of any sequence this server runs"
    keys = ", ".join(sorted({seq.key for seq in active}))
    names = ", ".join(sorted({name for seq in active for name in seq.attributes})) or "none"
    return f"not an attribute of {keys} ({names}), nor of any sequence this server runs"


def _move(
    row: Any, sequence: Sequence, typed: dict[str, Any], timezone: str | None
) -> _Move | None:
    """The new plan of one enrollment, when the change moves its anchor or zone."""
    anchor_name = sequence.anchor
    if anchor_name not in typed and timezone is None:
        return None
    anchor: date | datetime
    if anchor_name in typed:
        anchor = typed[anchor_name]
    else:
        anchor = (
            date.fromisoformat(row.anchor)
            if len(row.anchor) == 10
            else datetime.fromisoformat(row.anchor)
        )
    zone = timezone or row.timezone
    try:
        plan = plan_timeline(sequence, zone=ZoneInfo(zone), anchor=anchor)
    except AnchorOutOfRange as exc:
        field = f"attributes.{anchor_name}" if anchor_name in typed else "timezone"
        raise EnrollmentError(field, str(exc)) from None
    attributes = dict(row.attributes)
    if anchor_name in typed:
        attributes[anchor_name] = attributes_to_json(typed)[anchor_name]
    return _Move(row.id, sequence, anchor, zone, attributes, plan)


def _replan(
    connection: Connection,
    enrollment_id: int,
    sequence: Sequence,
    plan: list[PlannedStep],
    now: datetime,
) -> int:
    """Move the enrollment's messages not yet sent to ``plan``; how many moved."""
    rows = {r.step_id: r for r in stored_messages.steps_of_enrollment(connection, enrollment_id)}
    events = []
    count = 0
    for planned in plan:
        row = rows.get(planned.step_id)
        if row is None or row.due_at == planned.due_at:
            continue
        blocked = planned.due_at is None or bool(
            waits_for(sequence, sequence.step(planned.step_id))
        )
        state = S.BLOCKED if blocked else S.PLANNED
        current = S(row.state)
        if current in NOT_HANDED_OFF:
            stored_messages.replan(
                connection, row.id, current=current, state=state, due_at=planned.due_at,
                now=now, clear_retry=True,
            )  # fmt: skip
        elif current is S.SCHEDULED:
            # Twilio holds it for the old time: cancel that one, plan the step afresh.
            stored_messages.supersede(connection, row.id, row.step_id, now)
            stored_messages.add_step(
                connection, enrollment_id, row.step_id, state=state, due_at=planned.due_at,
                now=now,
            )  # fmt: skip
        else:
            continue  # already sent or settled: history stays
        count += 1
        events.append(
            event_row(
                now, "message", "anchor_moved", message_id=row.id,
                enrollment_id=enrollment_id, from_state=current.value,
                detail={"due_at": planned.due_at.isoformat() if planned.due_at else None},
            )
        )  # fmt: skip
    record(connection, events)
    return count
