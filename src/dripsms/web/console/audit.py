"""``/console/audit`` (admins only): the audit log, newest first, from a chosen time on."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from dripsms.engine.users import audit_log, parse_since
from dripsms.errors import InvalidInput
from dripsms.store.audit import AuditEvent
from dripsms.web.console.paging import paged, window
from dripsms.web.console.session import AdminOperator
from dripsms.web.console.templating import render
from dripsms.web.dependencies import ServicesDep

router = APIRouter()
PER_PAGE = 100
MAX_PAGE = 1000


def audit_context(
    events: list[AuditEvent], *, zone: str, since: str, page: int, error: str | None = None
) -> dict[str, Any]:
    """The Audit page: up to :data:`PER_PAGE` rows (``events`` may hold one more, which
    says there is an older page), times in the clinic's ``zone``, links to the pages around."""

    def link(number: int) -> str:
        query = {"since": since} if since else {}
        return "/console/audit?" + urlencode({**query, "page": number})

    shown = paged(events, page, PER_PAGE, link, last=MAX_PAGE)
    return {
        "events": shown.rows,
        "zone": zone,
        "since": since,
        "page": page,
        "error": error,
        "newer": shown.previous,
        "older": shown.next,
    }


def _page_number(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_PAGE:
        raise InvalidInput(f"page: a whole number from 1 to {MAX_PAGE}")
    return int(text)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request, services: ServicesDep, me: AdminOperator, since: str = "", page: str = "1"
) -> HTMLResponse:
    """Who did what, when (sign-ins, contact views, exports, replies, operators' changes)."""
    zone = services.runtime.settings.clinic_timezone
    since = since.strip()[:64]
    try:
        number = _page_number(page.strip()[:8])
        start: datetime | None = (
            parse_since(since, now=services.session_clock(), zone=zone) if since else None
        )
    except InvalidInput as exc:
        context = audit_context([], zone=zone, since=since, page=1, error=str(exc))
        return render(request, "console/audit.html", context, status_code=422)
    limit, offset = window(number, PER_PAGE)
    events = audit_log(services.engine, since=start, limit=limit, offset=offset)
    return render(
        request, "console/audit.html", audit_context(events, zone=zone, since=since, page=number)
    )
