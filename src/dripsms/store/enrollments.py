"""Queries about enrollments: the active ones of a contact or a sequence, ending one,
moving one to a new anchor or version."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select, update

from dripsms.core.states import EnrollmentState
from dripsms.store.tables import contacts, enrollments, sequence_versions

ACTIVE = EnrollmentState.ACTIVE
e = enrollments.c


def active_of_contact(connection: Connection, contact_id: int) -> list[Row[Any]]:
    """The contact's active enrollments with their pinned version: ``id``, ``timezone``,
    ``anchor``, ``attributes``, ``key``, ``digest``, ``text``."""
    v = sequence_versions.c
    return list(
        connection.execute(
            select(e.id, e.timezone, e.anchor, e.attributes, v.key, v.digest, v.text)
            .join(sequence_versions, v.id == e.sequence_version_id)
            .where(e.contact_id == contact_id, e.state == ACTIVE.value)
        )
    )


def active_ids(
    connection: Connection,
    *,
    enrollment_id: int | None = None,
    phone: str | None = None,
    sequence: str | None = None,
) -> list[int]:
    """Ids of the active enrollments with this id, or of this phone (optionally of one
    sequence), in order."""
    query = select(e.id).where(e.state == ACTIVE.value)
    if enrollment_id is not None:
        query = query.where(e.id == enrollment_id)
    else:
        query = query.join(contacts, contacts.c.id == e.contact_id).where(contacts.c.phone == phone)
        if sequence is not None:
            query = query.where(e.sequence_key == sequence)
    return list(connection.execute(query.order_by(e.id)).scalars())


def active_on_other_versions(connection: Connection, key: str, version_id: int) -> list[Row[Any]]:
    """Active enrollments of sequence ``key`` not pinned to ``version_id``: ``id``,
    ``timezone``, ``anchor``, ``attributes``."""
    return list(
        connection.execute(
            select(e.id, e.timezone, e.anchor, e.attributes).where(
                e.sequence_key == key,
                e.state == ACTIVE.value,
                e.sequence_version_id != version_id,
            )
        )
    )


def contact_of(connection: Connection, enrollment_id: int) -> int:
    """The id of the enrollment's contact."""
    return int(connection.execute(select(e.contact_id).where(e.id == enrollment_id)).scalar_one())


def end(
    connection: Connection,
    enrollment_id: int,
    *,
    state: EnrollmentState,
    reason: str,
    now: datetime,
) -> int | None:
    """End the enrollment if it is active; its contact's id, or None when it was not."""
    return end_many(connection, [enrollment_id], state=state, reason=reason, now=now).get(
        enrollment_id
    )


def end_many(
    connection: Connection,
    enrollment_ids: Sequence[int],
    *,
    state: EnrollmentState,
    reason: str,
    now: datetime,
) -> dict[int, int]:
    """End those of these enrollments that are active, in one statement: enrollment id →
    its contact's id, for each one ended (see :func:`end`)."""
    if not enrollment_ids:
        return {}
    ended = connection.execute(
        update(enrollments)
        .where(e.id.in_(list(enrollment_ids)), e.state == ACTIVE.value)
        .values(state=state.value, ended_at=now, end_reason=reason)
        .returning(e.id, e.contact_id)
    ).all()
    return {int(row.id): int(row.contact_id) for row in ended}


def move_anchor(
    connection: Connection,
    enrollment_id: int,
    *,
    anchor: str,
    zone: str,
    attributes: dict[str, Any],
) -> None:
    """Store the enrollment's new anchor, zone and attributes."""
    connection.execute(
        update(enrollments)
        .where(e.id == enrollment_id)
        .values(anchor=anchor, timezone=zone, attributes=attributes)
    )


def pin_version(connection: Connection, enrollment_id: int, version_id: int) -> None:
    """The enrollment now runs sequence version ``version_id``."""
    connection.execute(
        update(enrollments).where(e.id == enrollment_id).values(sequence_version_id=version_id)
    )
