"""``/console/inbox``: what needs a person, newest first; acknowledge and resolve.

Items come from where they are kept (:mod:`dripsms.store.inbox`): alerts raised by
``notify``, unmatched and late replies, replies flagged as possible opt-outs, texts that
failed for good, notify webhooks failing. The care team sees each patient's number (the
contact page is at that number): the console is for the people who call them back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from dripsms.errors import InvalidInput
from dripsms.store import inbox as store
from dripsms.store.audit import AuditAction, record
from dripsms.store.database import READ_ONLY
from dripsms.store.inbox import InboxItem, ItemKind, ItemStatus
from dripsms.web.console.session import CsrfForm, CurrentOperator, local_path
from dripsms.web.console.templating import render
from dripsms.web.dependencies import ServicesDep

router = APIRouter()
PAGE_SIZE = 100

KIND_LABELS = {
    ItemKind.ESCALATION: "Escalation",
    ItemKind.NO_REPLY: "No reply",
    ItemKind.REPLY: "Unmatched or late reply",
    ItemKind.OPT_OUT: "Possible opt-out",
    ItemKind.FAILURE: "Text failed",
    ItemKind.WEBHOOK: "Notify webhook failing",
}
STATUS_LABELS = {
    ItemStatus.OPEN: "Open",
    ItemStatus.ACKNOWLEDGED: "Acknowledged",
    ItemStatus.RESOLVED: "Resolved",
    ItemStatus.ALL: "All",
}


def contact_url(phone: str | None) -> str | None:
    """The contact's page in the console (its path holds the E.164 number)."""
    return f"/console/contacts/{phone}" if phone else None


@dataclass(frozen=True, slots=True)
class InboxEntry:
    """One inbox item as the page shows it."""

    key: str
    kind: str
    kind_label: str
    at: datetime
    zone: str
    phone: str | None
    contact_url: str | None
    enrollment_id: int | None
    step: str | None
    text: str | None
    detail: str | None
    status: str
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved_by: str | None
    resolved_at: datetime | None


def entry(item: InboxItem, clinic_zone: str) -> InboxEntry:
    """``item`` for the page: its label, its link, its zone (the contact's or the clinic's)."""
    return InboxEntry(
        key=item.key, kind=item.kind.value, kind_label=KIND_LABELS[item.kind], at=item.at,
        zone=item.timezone or clinic_zone, phone=item.phone, contact_url=contact_url(item.phone),
        enrollment_id=item.enrollment_id, step=item.step_id, text=item.text,
        detail=item.detail, status=item.status.value,
        acknowledged_by=item.acknowledged_by, acknowledged_at=item.acknowledged_at,
        resolved_by=item.resolved_by, resolved_at=item.resolved_at,
    )  # fmt: skip


def inbox_context(
    items: list[InboxItem],
    *,
    status: ItemStatus,
    kind: str,
    offset: int,
    clinic_zone: str,
    page_size: int = PAGE_SIZE,
) -> dict[str, object]:
    """The inbox page: ``items`` (one more than a page, to know whether more follow), the
    filters as chosen, the links to the next and previous pages."""

    def page(at: int) -> str:
        query = {"status": status.value, "kind": kind, "offset": at}
        return "/console/inbox?" + urlencode({k: v for k, v in query.items() if v != ""})

    shown = items[:page_size]
    return {
        "entries": [entry(item, clinic_zone) for item in shown],
        "status": status.value,
        "kind": kind,
        "statuses": [(s.value, label) for s, label in STATUS_LABELS.items()],
        "kinds": [
            *((name, label) for name, (label, _) in KIND_GROUPS.items()),
            *((k.value, label) for k, label in KIND_LABELS.items()),
        ],
        "newer": page(max(offset - page_size, 0)) if offset > 0 else None,
        "older": page(offset + page_size) if len(items) > page_size else None,
        "here": page(offset),
    }


KIND_GROUPS = {
    "alert": ("Alerts (escalations, no reply)", (ItemKind.ESCALATION, ItemKind.NO_REPLY)),
    "review": ("Replies to review", (ItemKind.REPLY, ItemKind.OPT_OUT)),
}
"""Kinds the filter offers together (the overview links to them)."""


def kinds_of(text: str) -> list[ItemKind] | None:
    """The kind filter: one kind, a group of :data:`KIND_GROUPS`, or empty for every kind."""
    if not text:
        return None
    if text in KIND_GROUPS:
        return list(KIND_GROUPS[text][1])
    try:
        return [ItemKind(text)]
    except ValueError:
        names = ", ".join([*KIND_GROUPS, *(k.value for k in ItemKind)])
        raise InvalidInput(f"kind: one of {names}, or empty for every kind") from None


@router.get("/inbox", response_class=HTMLResponse)
def inbox(
    request: Request,
    services: ServicesDep,
    operator: CurrentOperator,
    status: ItemStatus = ItemStatus.OPEN,
    kind: Annotated[str, Query(max_length=32)] = "",
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> HTMLResponse:
    """What needs the care team, newest first."""
    chosen = kinds_of(kind)
    with services.engine.connect() as connection:
        items = store.inbox_items(
            connection.execution_options(**READ_ONLY), status=status,
            kinds=chosen, limit=PAGE_SIZE + 1, offset=offset,
        )  # fmt: skip
    zone = services.runtime.settings.clinic_timezone
    context = inbox_context(items, status=status, kind=kind, offset=offset, clinic_zone=zone)
    return render(request, "console/inbox.html", context)


def _settle(
    services: ServicesDep, operator: CurrentOperator, form: CsrfForm, action: AuditAction
) -> RedirectResponse:
    key = form.get("item")
    if not isinstance(key, str) or store.ITEM.fullmatch(key) is None:
        raise InvalidInput("item: not the name of an inbox item (e.g. alert:12)")
    now = services.clock()
    with services.engine.begin() as connection:
        if not store.item_exists(connection, key):
            raise InvalidInput(f"item: there is no inbox item {key}")
        mark = store.acknowledge if action is AuditAction.ACKNOWLEDGE else store.resolve
        if mark(connection, key, by=operator.email, at=now):
            record(
                connection, at=services.session_clock(), operator_email=operator.email,
                action=action, subject=key, operator_id=operator.id,
            )  # fmt: skip
    back = form.get("back")
    target = local_path(back if isinstance(back, str) else None)
    return RedirectResponse(target if target != "/console/" else "/console/inbox", 303)


@router.post("/inbox/acknowledge")
def acknowledge(
    services: ServicesDep, operator: CurrentOperator, form: CsrfForm
) -> RedirectResponse:
    """Someone has the item in hand (who, when): it leaves the open list."""
    return _settle(services, operator, form, AuditAction.ACKNOWLEDGE)


@router.post("/inbox/resolve")
def resolve(services: ServicesDep, operator: CurrentOperator, form: CsrfForm) -> RedirectResponse:
    """The item is dealt with (acknowledged too, if nobody had)."""
    return _settle(services, operator, form, AuditAction.RESOLVE)
