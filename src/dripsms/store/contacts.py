"""Queries that change one stored contact: its attributes, its opt-out, a bare one for a
STOP from a stranger; one contact's id by phone. Finding contacts by phone in batches:
:func:`~dripsms.store.repository.contacts_by_phone`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from dripsms.store.tables import contacts

c = contacts.c
_ID_BY_PHONE = select(c.id).where(c.phone == bindparam("phone"))


def contact_id_by_phone(connection: Connection, phone: str) -> int | None:
    """The id of the contact with this phone, or None (built once: every inbound text asks)."""
    found = connection.execute(_ID_BY_PHONE, {"phone": phone}).scalar()
    return int(found) if found is not None else None


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
