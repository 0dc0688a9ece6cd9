"""Queries that change one stored contact: its attributes, its opt-out, a bare one for a
STOP from a stranger. Finding contacts by phone:
:func:`~dripsms.store.repository.contacts_by_phone`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, update

from dripsms.store.tables import contacts

c = contacts.c


def save(
    connection: Connection,
    contact_id: int,
    *,
    attributes: dict[str, Any],
    timezone: str | None,
    now: datetime,
) -> None:
    """Store the contact's attributes and zone."""
    connection.execute(
        update(contacts)
        .where(c.id == contact_id)
        .values(attributes=attributes, timezone=timezone, updated_at=now)
    )


def mark_opted_out(connection: Connection, contact_id: int, now: datetime) -> None:
    """The contact opted out now, unless it had already."""
    connection.execute(
        update(contacts)
        .where(c.id == contact_id, c.opted_out_at.is_(None))
        .values(opted_out_at=now, updated_at=now)
    )


def add_bare_contact(connection: Connection, phone: str, at: datetime) -> int:
    """A contact with no attributes (a STOP from a number never texted); its id."""
    return int(
        connection.execute(
            insert(contacts)
            .values(phone=phone, attributes={}, created_at=at, updated_at=at)
            .returning(c.id)
        ).scalar_one()
    )


def resubscribe(connection: Connection, contact_id: int, at: datetime) -> None:
    """Clear the contact's opt-out (START)."""
    connection.execute(
        update(contacts).where(c.id == contact_id).values(opted_out_at=None, updated_at=at)
    )
