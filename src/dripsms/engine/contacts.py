"""Changing a contact: attributes and zone. A moved anchor (a new surgery date) re-plans
every message not yet sent; what Twilio holds is canceled there and planned again."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection, Engine, insert, select, update

from dripsms.core.attributes import attributes_to_json, coerce
from dripsms.core.planning import EnrollmentError
from dripsms.core.sequence.dependencies import waits_for
from dripsms.core.sequence.model import Sequence
from dripsms.core.states import MessageState
from dripsms.core.timeline import PlannedStep, plan_timeline
from dripsms.engine.library import SequenceLibrary
from dripsms.store.events import event_row, record
from dripsms.store.tables import contacts, enrollments, messages, sequence_versions

S = MessageState


class UnknownContact(EnrollmentError):
    """No contact has this phone."""


def update_contact(
    engine: Engine,
    library: SequenceLibrary,
    phone: str,
    *,
    now: datetime,
    timezone: str | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> int:
    """Update a contact; returns how many messages were re-planned."""
    given = dict(attributes or {})
    if timezone is not None:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise EnrollmentError("timezone", f"unknown time zone {timezone!r}") from None
    c, e, v = contacts.c, enrollments.c, sequence_versions.c
    replanned = 0
    with engine.begin() as connection:
        contact = connection.execute(select(contacts).where(c.phone == phone)).first()
        if contact is None:
            raise UnknownContact("phone", "no contact with this phone")
        active = connection.execute(
            select(e.id, e.timezone, e.anchor, e.attributes, v.key, v.digest, v.text)
            .join(sequence_versions, v.id == e.sequence_version_id)
            .where(e.contact_id == contact.id, e.state == "active")
        ).all()
        typed: dict[str, Any] = {}
        for name, raw in given.items():
            declared = next(
                (
                    library.pinned(r.digest, r.text, r.key).sequence.attributes[name]
                    for r in active
                    if name in library.pinned(r.digest, r.text, r.key).sequence.attributes
                ),
                None,
            )
            try:
                typed[name] = coerce(declared.type, raw, declared.values) if declared else raw
            except ValueError as exc:
                raise EnrollmentError(f"attributes.{name}", str(exc)) from None
        connection.execute(
            update(contacts)
            .where(c.id == contact.id)
            .values(
                attributes={**dict(contact.attributes), **attributes_to_json(typed)},
                timezone=timezone or contact.timezone,
                updated_at=now,
            )
        )
        for row in active:
            sequence = library.pinned(row.digest, row.text, row.key).sequence
            anchor_name = sequence.anchor
            moved = anchor_name in typed or timezone is not None
            if not moved:
                continue
            anchor: date | datetime
            if anchor_name in typed:
                anchor = typed[anchor_name]
            else:
                anchor = (
                    date.fromisoformat(row.anchor)
                    if len(row.anchor) == 10
                    else datetime.fromisoformat(row.anchor)
                )
            zone_name = timezone or row.timezone
            plan = plan_timeline(sequence, zone=ZoneInfo(zone_name), anchor=anchor)
            enrollment_attributes = dict(row.attributes)
            if anchor_name in typed:
                enrollment_attributes[anchor_name] = attributes_to_json(typed)[anchor_name]
            connection.execute(
                update(enrollments)
                .where(e.id == row.id)
                .values(
                    anchor=anchor.isoformat(), timezone=zone_name, attributes=enrollment_attributes
                )
            )
            replanned += _replan(connection, row.id, sequence, plan, now)
    return replanned


def _replan(
    connection: Connection,
    enrollment_id: int,
    sequence: Sequence,
    plan: list[PlannedStep],
    now: datetime,
) -> int:
    """Move the enrollment's messages not yet sent to ``plan``; how many moved."""
    m = messages.c
    rows = {
        r.step_id: r
        for r in connection.execute(
            select(m.id, m.step_id, m.state, m.due_at).where(
                m.enrollment_id == enrollment_id, m.kind == "step"
            )
        )
    }
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
        if current in (S.PLANNED, S.BLOCKED):
            connection.execute(
                update(messages)
                .where(m.id == row.id, m.state == current.value)
                .values(due_at=planned.due_at, state=state.value, next_attempt_at=None,
                        updated_at=now)
            )  # fmt: skip
        elif current is S.SCHEDULED:
            # Twilio holds it for the old time: cancel that one, plan the step afresh.
            connection.execute(
                update(messages)
                .where(m.id == row.id)
                .values(
                    step_id=f"{row.step_id}~{row.id}"[:64], kind="superseded",
                    cancel_requested_at=now, updated_at=now,
                )
            )  # fmt: skip
            connection.execute(
                insert(messages).values(
                    enrollment_id=enrollment_id, step_id=row.step_id, state=state.value,
                    due_at=planned.due_at, updated_at=now,
                )
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
