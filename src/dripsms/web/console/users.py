"""``/console/users`` (admins only): the operators, adding one, disabling one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import FormData

from dripsms.engine.operators import Operator, Role, new_password
from dripsms.engine.users import Actor, add_user, disable_user, list_users
from dripsms.errors import DripError
from dripsms.store.operators import OperatorRow
from dripsms.web.console.errors import form_status
from dripsms.web.console.session import AdminOperator, CsrfForm
from dripsms.web.console.templating import render
from dripsms.web.dependencies import ServicesDep

router = APIRouter()


@dataclass(frozen=True, slots=True)
class UserLine:
    """One operator as the page lists them."""

    email: str
    role: str
    created_at: datetime
    disabled_at: datetime | None
    is_me: bool

    @property
    def can_disable(self) -> bool:
        """An active operator other than the admin looking (nobody disables themselves)."""
        return self.disabled_at is None and not self.is_me


def users_context(
    rows: list[OperatorRow],
    me: Operator,
    *,
    added: Operator | None = None,
    password: str | None = None,
    disabled: str | None = None,
    error: str | None = None,
    form: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The Users page: every operator (active first), and the outcome of the last form."""
    lines = [UserLine(r.email, r.role, r.created_at, r.disabled_at, r.email == me.email)
             for r in rows]  # fmt: skip
    lines.sort(key=lambda line: (line.disabled_at is not None, line.email))
    return {
        "users": lines,
        "roles": [role.value for role in Role],
        "added": added,
        "password": password,
        "disabled": disabled,
        "error": error,
        "form": {"email": "", "role": Role.NURSE.value, **(form or {})},
    }


def _text(form: FormData, name: str, limit: int) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


def _page(
    request: Request, services: ServicesDep, me: Operator, status_code: int = 200, **outcome: Any
) -> HTMLResponse:
    context = users_context(list_users(services.engine), me, **outcome)
    return render(request, "console/users.html", context, status_code=status_code)


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, services: ServicesDep, me: AdminOperator) -> HTMLResponse:
    """Every operator, a form to add one, a button to disable each."""
    return _page(request, services, me)


@router.post("/users", response_class=HTMLResponse)
def add(request: Request, services: ServicesDep, me: AdminOperator, form: CsrfForm) -> HTMLResponse:
    """Add an operator; a generated password is shown on this answer only."""
    email, role = _text(form, "email", 320), _text(form, "role", 32)
    generated = form.get("generate") == "yes"
    password = new_password() if generated else _text(form, "password", 4096)
    try:
        added = add_user(
            services.engine, email, role, password, by=Actor.of(me), now=services.session_clock()
        )
    except DripError as exc:
        return _page(request, services, me, form_status(exc), error=str(exc),
                     form={"email": email, "role": role})  # fmt: skip
    shown = password if generated else None
    return _page(request, services, me, added=added, password=shown)


@router.post("/users/disable", response_class=HTMLResponse)
def disable(
    request: Request, services: ServicesDep, me: AdminOperator, form: CsrfForm
) -> HTMLResponse:
    """Disable an operator (not oneself): they are signed out everywhere."""
    email = _text(form, "email", 320)
    try:
        row = disable_user(services.engine, email, by=Actor.of(me), now=services.session_clock())
    except DripError as exc:
        return _page(request, services, me, form_status(exc), error=str(exc))
    return _page(request, services, me, disabled=row.email)
