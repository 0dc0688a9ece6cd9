"""What inbound routing asks before handing a text to the intake flow (a Studio flow on
the same number): is this phone someone dripsms is following?"""

from __future__ import annotations

from sqlalchemy import Connection, exists, select

from dripsms.store.tables import contacts, enrollments

c = contacts.c
e = enrollments.c


def open_to_intake(connection: Connection, phone: str) -> bool:
    """Neither opted out nor in an enrollment that has not ended (the intake may talk to them)."""
    opted_out = connection.execute(
        select(c.opted_out_at).where(c.phone == phone)
    ).scalar_one_or_none()
    if opted_out is not None:
        return False
    followed = (
        select(e.id)
        .join(contacts, contacts.c.id == e.contact_id)
        .where(c.phone == phone, e.ended_at.is_(None))
    )
    return not connection.execute(select(exists(followed))).scalar_one()


__all__ = ["open_to_intake"]
