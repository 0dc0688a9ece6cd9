"""``/v1/contacts/{phone}``: read a contact, change its attributes or zone."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from dripsms.engine.contacts import UnknownContact, update_contact
from dripsms.store.views import contact_view
from dripsms.web.dependencies import Phone, Services, ServicesDep
from dripsms.web.problems import unstorable
from dripsms.web.schemas import ContactChanged, ContactIn, ContactOut, error_responses

router = APIRouter()


@router.get("/contacts/{phone}", response_model=ContactOut, responses=error_responses(404, 422))
def get_contact(phone: Phone, services: ServicesDep) -> Any:
    """A contact: attributes, opt-out state, enrollments."""
    return _contact(services, phone)


@router.patch(
    "/contacts/{phone}", response_model=ContactChanged, responses=error_responses(400, 404, 422)
)
def patch_contact(phone: Phone, changes: ContactIn, services: ServicesDep) -> Any:
    """Change attributes or zone; a moved anchor re-plans what is not sent yet."""
    unstorable(changes.model_dump())
    replanned = update_contact(
        services.engine, services.library, phone, now=services.clock(),
        timezone=changes.timezone, attributes=changes.attributes,
    )  # fmt: skip
    return {**_contact(services, phone), "replanned": replanned}


def _contact(services: Services, phone: str) -> dict[str, Any]:
    """The contact with this (normalized) phone, as the API shows it."""
    with services.engine.connect() as connection:
        view = contact_view(connection, phone)
    if view is None:  # never stored, or removed since
        raise UnknownContact("phone", "no contact with this phone")
    return {
        **view,
        "opted_out_at": view["opted_out_at"].isoformat() if view["opted_out_at"] else None,
        "enrollments": [
            {**e, "enrolled_at": e["enrolled_at"].isoformat()} for e in view["enrollments"]
        ],
    }
