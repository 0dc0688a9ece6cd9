"""The contacts the console's phone simulator offers (sandbox mode)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, select

from dripsms.store.tables import contacts


@dataclass(frozen=True, slots=True)
class PhoneChoice:
    """A contact to pick in the phone simulator."""

    phone: str
    name: str
    timezone: str | None


def choices(engine: Engine, limit: int = 200) -> list[PhoneChoice]:
    """The most recent contacts first, with a first name when they have one."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(contacts.c.phone, contacts.c.attributes, contacts.c.timezone)
            .order_by(contacts.c.id.desc())
            .limit(limit)
        ).all()
    out = []
    for phone, attributes, zone in rows:
        name = attributes.get("first_name") if isinstance(attributes, dict) else None
        out.append(PhoneChoice(phone, str(name) if name else "", zone))
    return out
