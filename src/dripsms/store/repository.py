"""Writes and reads of contacts, sequence versions and enrollments, in batches.

Every function takes the caller's ``Connection`` so that a whole enrollment (contact,
enrollment, messages, events) commits or rolls back together.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError

from dripsms.core.attributes import attributes_to_json
from dripsms.core.planning import PreparedEnrollment
from dripsms.core.sequence.loader import LoadedSequence
from dripsms.core.states import EnrollmentState, MessageKind
from dripsms.store.events import event_row, record
from dripsms.store.tables import contacts, enrollments, messages, sequence_versions

ACTIVE = EnrollmentState.ACTIVE.value


@dataclass(frozen=True, slots=True)
class ContactRow:
    """A stored contact."""

    id: int
    phone: str
    timezone: str | None
    attributes: dict[str, Any]
    opted_out_at: datetime | None
    created_at: datetime


def contacts_by_phone(connection: Connection, phones: Iterable[str]) -> dict[str, ContactRow]:
    """Stored contacts for these phones."""
    wanted = sorted(set(phones))
    found: dict[str, ContactRow] = {}
    for start in range(0, len(wanted), 500):
        rows = connection.execute(
            select(contacts).where(contacts.c.phone.in_(wanted[start : start + 500]))
        )
        for row in rows:
            found[row.phone] = ContactRow(
                row.id, row.phone, row.timezone, dict(row.attributes), row.opted_out_at,
                row.created_at,
            )  # fmt: skip
    return found


def ensure_version(connection: Connection, loaded: LoadedSequence, now: datetime) -> int:
    """The id of this sequence version, stored on first use."""
    table = sequence_versions
    match = and_(table.c.key == loaded.sequence.key, table.c.digest == loaded.digest)
    found = connection.execute(select(table.c.id).where(match)).scalar()
    if found is not None:
        return int(found)
    try:
        with connection.begin_nested():  # a concurrent first use may win the race
            inserted = connection.execute(
                insert(table).returning(table.c.id),
                {
                    "key": loaded.sequence.key,
                    "digest": loaded.digest,
                    "text": loaded.text,
                    "loaded_at": now,
                },
            ).scalar_one()
        return int(inserted)
    except IntegrityError:
        pass
    return int(connection.execute(select(table.c.id).where(match)).scalar_one())


def active_duplicates(
    connection: Connection, keys: Iterable[tuple[int, str, str]]
) -> set[tuple[int, str, str]]:
    """Which (contact_id, sequence_key, external_id) already have an active enrollment."""
    wanted = list(set(keys))
    found: set[tuple[int, str, str]] = set()
    e = enrollments.c
    for start in range(0, len(wanted), 300):
        chunk = wanted[start : start + 300]
        rows = connection.execute(
            select(e.contact_id, e.sequence_key, e.external_id).where(
                e.state == ACTIVE, tuple_(e.contact_id, e.sequence_key, e.external_id).in_(chunk)
            )
        )
        found.update((r.contact_id, r.sequence_key, r.external_id) for r in rows)
    return found


def upsert_contacts(
    connection: Connection, prepared: Sequence[PreparedEnrollment], now: datetime
) -> dict[str, int]:
    """Create missing contacts and update known ones (zone, attributes); phone → id."""
    latest: dict[str, PreparedEnrollment] = {}
    merged: dict[str, dict[str, Any]] = {}
    for item in prepared:
        latest[item.phone] = item
        merged.setdefault(item.phone, {}).update(attributes_to_json(item.attributes))
    existing = contacts_by_phone(connection, latest)
    ids = {phone: row.id for phone, row in existing.items()}
    new = [p for p in latest if p not in existing]
    if new:
        rows = [
            {
                "phone": phone,
                "timezone": latest[phone].timezone,
                "attributes": merged[phone],
                "created_at": now,
                "updated_at": now,
            }
            for phone in new
        ]
        result = connection.execute(
            insert(contacts).returning(contacts.c.id, sort_by_parameter_order=True), rows
        )
        ids.update(zip(new, result.scalars(), strict=True))
    for phone, row in existing.items():
        connection.execute(
            update(contacts)
            .where(contacts.c.id == row.id)
            .values(
                timezone=latest[phone].timezone,
                attributes={**row.attributes, **merged[phone]},
                updated_at=now,
            )
        )
    return ids


def insert_enrollments(
    connection: Connection,
    prepared: Sequence[PreparedEnrollment],
    contact_ids: dict[str, int],
    version_ids: dict[str, int],
    now: datetime,
    cause: str,
) -> list[int]:
    """Insert enrollments with all their messages and events; their ids, in order."""
    rows = [
        {
            "contact_id": contact_ids[p.phone],
            "sequence_version_id": version_ids[p.sequence_key],
            "sequence_key": p.sequence_key,
            "external_id": p.external_id,
            "state": ACTIVE,
            "timezone": p.timezone,
            "anchor": p.anchor_text(),
            "attributes": attributes_to_json(p.attributes),
            "enrolled_at": p.enrolled_at,
        }
        for p in prepared
    ]
    result = connection.execute(
        insert(enrollments).returning(enrollments.c.id, sort_by_parameter_order=True), rows
    )
    ids = list(result.scalars())
    message_rows = [
        {
            "enrollment_id": enrollment_id,
            "step_id": m.step_id,
            "state": m.state.value,
            "due_at": m.due_at,
            "updated_at": now,
        }
        for enrollment_id, p in zip(ids, prepared, strict=True)
        for m in p.messages
    ]
    if message_rows:
        connection.execute(insert(messages), message_rows)
    record(
        connection,
        (
            event_row(
                now,
                "enrollment",
                cause,
                contact_id=contact_ids[p.phone],
                enrollment_id=enrollment_id,
                to_state=ACTIVE,
                detail={"sequence": p.sequence_key, "messages": len(p.messages)},
            )
            for enrollment_id, p in zip(ids, prepared, strict=True)
        ),
    )
    return ids


def message_ids(
    connection: Connection, enrollment_ids: Iterable[int]
) -> dict[tuple[int, str], int]:
    """(enrollment id, step id) → message id, for the step messages of these enrollments."""
    wanted = sorted(set(enrollment_ids))
    m = messages.c
    found: dict[tuple[int, str], int] = {}
    for start in range(0, len(wanted), 500):
        rows = connection.execute(
            select(m.id, m.enrollment_id, m.step_id).where(
                m.enrollment_id.in_(wanted[start : start + 500]), m.kind == MessageKind.STEP.value
            )
        )
        found.update(((r.enrollment_id, r.step_id), r.id) for r in rows)
    return found
