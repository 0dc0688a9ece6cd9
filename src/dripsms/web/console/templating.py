"""Rendering the console's pages: one Jinja2 environment (autoescaped), the base layout's
context (who is signed in, the navigation, the CSRF field), the headers every page gets."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape
from sqlalchemy import Engine

from dripsms import __version__
from dripsms.engine.operators import Session
from dripsms.store.database import READ_ONLY
from dripsms.store.inbox import count_items
from dripsms.web.dependencies import get_services

HERE = Path(__file__).resolve().parent

SECURITY_HEADERS = {
    # Scripts and styles from this server only (no inline script can run): a reply body
    # that holds markup is shown as text, and could not run even if it were not.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",  # patients' data: never in a shared or disk cache
}


def local_time(
    instant: datetime | None, zone: str | None = None, fmt: str = "%Y-%m-%d %H:%M"
) -> str:
    """``instant`` on the wall clock of ``zone`` (UTC when none), labelled with the zone's
    abbreviation: ``2026-03-08 09:00 EDT``."""
    if instant is None:
        return "—"
    shown = instant.astimezone(ZoneInfo(zone) if zone else UTC)
    return f"{shown.strftime(fmt)} {shown.tzname()}"


def iso(instant: datetime | None) -> str:
    """For ``<time datetime=...>``."""
    return "" if instant is None else instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


environment = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.filters["local"] = local_time
environment.filters["iso"] = iso


def csrf_field(session: Session | None) -> Markup:
    """The hidden field every state-changing form carries."""
    if session is None:
        return Markup("")
    return Markup('<input type="hidden" name="csrf_token" value="{}">').format(
        escape(session.csrf_token)
    )


def _open_items(engine: Engine) -> int:
    """Open inbox items, for the navigation (one count query, only when it is shown)."""
    with engine.connect() as connection:
        return count_items(connection.execution_options(**READ_ONLY))


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200
) -> HTMLResponse:
    """The page ``name`` with ``context``, inside the layout, with the console's headers."""
    services = get_services(request)
    session: Session | None = getattr(request.state, "console_session", None)
    settings = services.runtime.settings
    page = {
        "request_path": request.url.path,
        "operator": session.operator if session else None,
        "csrf_field": lambda: csrf_field(session),
        "sandbox": settings.uses_sandbox,
        # The simulator's link only where this process runs a sandbox (`dripsms run`).
        "simulator": services.runtime.sandbox_session is not None,
        "clinic_timezone": settings.clinic_timezone,
        "version": __version__,
        "inbox_open": lambda: _open_items(services.engine),
        **(context or {}),
    }
    html = environment.get_template(name).render(page)
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
