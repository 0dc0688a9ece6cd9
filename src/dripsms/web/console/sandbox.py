"""``/console/sandbox``: the phone simulator and the virtual clock's controls (sandbox mode
only: 404 with real Twilio). Any signed-in operator may use them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from dripsms.core.phones import InvalidPhone, normalize_phone
from dripsms.engine.operators import Operator
from dripsms.engine.sandbox_session import SandboxSession
from dripsms.errors import DripError
from dripsms.store import sandbox_phones
from dripsms.store.audit import AuditAction, record
from dripsms.store.sandbox_phones import PhoneChoice
from dripsms.web.console.session import CsrfForm, CurrentOperator
from dripsms.web.console.templating import render
from dripsms.web.dependencies import ServicesDep

router = APIRouter()
MOVES = {"1h": timedelta(hours=1), "1d": timedelta(days=1)}
"""The clock buttons; "next" moves to the next due message."""


@dataclass(frozen=True, slots=True)
class ScreenLine:
    """One text on the phone's screen."""

    incoming: bool
    """Received by the phone (sent by dripsms); False: the phone sent it."""
    body: str
    status: str
    at: datetime | None


@dataclass
class SandboxPage:
    """What the sandbox page shows."""

    now: datetime
    next_due: datetime | None
    zone: str | None
    choices: list[PhoneChoice]
    phone: str | None = None
    name: str = ""
    screen: list[ScreenLine] = field(default_factory=list)
    error: str | None = None
    notice: str | None = None
    text: str = ""


def sandbox_page(
    now: datetime,
    next_due: datetime | None,
    choices: list[PhoneChoice],
    screen: list[Any],
    *,
    phone: str | None,
    clinic_timezone: str | None,
    error: str | None = None,
    notice: str | None = None,
    text: str = "",
) -> SandboxPage:
    """The page's context from the clock, the contacts and the sandbox's messages of
    ``phone`` (oldest first), shown in the contact's zone, else the clinic's."""
    chosen = next((c for c in choices if c.phone == phone), None)
    lines = [
        ScreenLine(
            incoming=m.from_ != phone,
            body=m.body,
            status=m.status.value,
            at=m.date_sent or m.date_created,
        )
        for m in screen
        if m.from_ == phone or m.status.value in {"sent", "delivered", "undelivered", "received"}
    ]
    return SandboxPage(
        now=now, next_due=next_due,
        zone=(chosen.timezone if chosen and chosen.timezone else clinic_timezone),
        choices=choices, phone=phone, name=chosen.name if chosen else "", screen=lines,
        error=error, notice=notice, text=text,
    )  # fmt: skip


def _session(services: ServicesDep) -> SandboxSession:
    session = services.runtime.sandbox_session
    if session is None:  # real Twilio (or a server that started no sandbox)
        raise HTTPException(404, "no sandbox here")
    return session


def _page(
    request: Request,
    services: ServicesDep,
    phone: str | None,
    *,
    error: str | None = None,
    notice: str | None = None,
    text: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    session = _session(services)
    screen = session.screen(phone) if phone else []
    context = sandbox_page(
        session.clock(), session.next_due(), sandbox_phones.choices(services.engine), screen,
        phone=phone, clinic_timezone=services.runtime.settings.clinic_timezone, error=error,
        notice=notice, text=text,
    )  # fmt: skip
    return render(request, "console/sandbox.html", {"page": context}, status_code=status_code)


def _audit(
    services: ServicesDep, operator: Operator, action: AuditAction, subject: str,
    detail: dict[str, str],
) -> None:  # fmt: skip
    """Simulated data, but who moved the clock or typed a reply is still worth knowing."""
    with services.engine.begin() as connection:
        record(
            connection, at=services.session_clock(), operator_email=operator.email,
            action=action, subject=subject, operator_id=operator.id, detail=detail,
        )  # fmt: skip


def _phone(text: str | None, region: str) -> str | None:
    if not text:
        return None
    try:
        return normalize_phone(text, region)
    except InvalidPhone:
        return None


@router.get("/sandbox", response_class=HTMLResponse)
def sandbox(
    request: Request,
    services: ServicesDep,
    operator: CurrentOperator,
    phone: str | None = None,
    moved: str | None = None,
) -> HTMLResponse:
    """The phone simulator and the clock."""
    _session(services)
    chosen = _phone(phone, services.runtime.settings.default_region)
    error = "phone: not a phone number" if phone and chosen is None else None
    notice = "The clock moved." if moved else None
    return _page(request, services, chosen, error=error, notice=notice)


@router.post("/sandbox/clock", response_model=None)
def move_clock(
    request: Request, services: ServicesDep, operator: CurrentOperator, form: CsrfForm
) -> Response:
    """+1 hour, +1 day, or to the next due message."""
    session = _session(services)
    move = str(form.get("move", ""))
    phone = _phone(str(form.get("phone") or ""), services.runtime.settings.default_region)
    try:
        if move == "next":
            session.to_next_due()
        elif move in MOVES:
            session.advance(MOVES[move])
        else:
            return _page(request, services, phone, error="move: choose +1 hour, +1 day or next",
                         status_code=422)  # fmt: skip
    except DripError as exc:
        return _page(request, services, phone, error=str(exc), status_code=422)
    now = session.clock().isoformat()
    _audit(services, operator, AuditAction.CLOCK, "sandbox:clock", {"move": move, "now": now})
    query = {"moved": "1", **({"phone": phone} if phone else {})}
    return RedirectResponse(f"/console/sandbox?{urlencode(query)}", status_code=303)


@router.post("/sandbox/reply", response_model=None)
def reply(
    request: Request, services: ServicesDep, operator: CurrentOperator, form: CsrfForm
) -> Response:
    """The chosen phone texts dripsms (Twilio's signed inbound webhook)."""
    session = _session(services)
    raw_phone, text = str(form.get("phone") or ""), str(form.get("text") or "")
    phone = _phone(raw_phone, services.runtime.settings.default_region)
    if phone is None:
        return _page(request, services, None, error="phone: pick a contact", text=text,
                     status_code=422)  # fmt: skip
    try:
        sent = session.reply(phone, text)
    except DripError as exc:
        return _page(request, services, phone, error=str(exc), text=text, status_code=422)
    _audit(services, operator, AuditAction.SANDBOX_REPLY, f"contact:{phone}", {})
    if sent.webhook_status is None or not 200 <= sent.webhook_status < 300:
        return _page(
            request, services, phone, status_code=200,
            error=f"the webhook answered {sent.webhook_status} (Twilio error {sent.error_code})",
        )  # fmt: skip
    return RedirectResponse(f"/console/sandbox?{urlencode({'phone': phone})}", status_code=303)
