"""Queries about contacts that change one stored contact."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, update

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
