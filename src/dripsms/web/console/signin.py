"""``/console/login`` and ``/console/logout``: signing in and out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from dripsms.engine.operators import authenticate, close_session, open_session
from dripsms.engine.users import record_sign_in, record_sign_out
from dripsms.web.console.session import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    CsrfForm,
    CurrentSession,
    clear_session_cookie,
    local_path,
    new_login_csrf,
    same_token,
    secure_cookies,
    set_session_cookie,
)
from dripsms.web.console.templating import render
from dripsms.web.dependencies import ServicesDep

router = APIRouter()
WRONG = "That email and password do not match an active operator."


def _login_page(
    request: Request, services: ServicesDep, *, next_path: str, email: str = "",
    error: str | None = None, status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    token = new_login_csrf()
    response = render(
        request, "console/login.html",
        {"login_csrf": token, "next": local_path(next_path), "email": email, "error": error},
        status_code=status_code,
    )  # fmt: skip
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, max_age=3600, path="/console/login", httponly=True,
        samesite="strict", secure=secure_cookies(request, services),
    )  # fmt: skip
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, services: ServicesDep, next: str = "/console/") -> HTMLResponse:
    """The sign-in page."""
    return _login_page(request, services, next_path=next)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    services: ServicesDep,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=4096)] = "",
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    next: Annotated[str, Form(max_length=2048)] = "/console/",
) -> Response:
    """Check the password; on success a new session (any old one of this browser ends)."""
    if not same_token(csrf_token, request.cookies.get(LOGIN_CSRF_COOKIE, "")):
        return _login_page(
            request, services, next_path=next, email=email, status_code=403,
            error="The form's security token is missing or out of date: try again.",
        )  # fmt: skip
    now = services.session_clock()
    key = email.strip().lower()
    throttle = services.login_throttle
    if throttle.blocked(key, now):
        return _login_page(
            request, services, next_path=next, email=email, status_code=429,
            error="Too many failed attempts for this email: wait 15 minutes and try again.",
        )  # fmt: skip
    operator = authenticate(services.engine, email, password)
    if operator is None:
        throttle.failed(key, now)
        return _login_page(
            request, services, next_path=next, email=email, error=WRONG, status_code=401
        )
    throttle.succeeded(key)
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        close_session(services.engine, old)
    settings = services.runtime.settings
    session = open_session(services.engine, operator, now=now, lifetime=settings.session_lifetime)
    record_sign_in(services.engine, operator, now=now)
    response = RedirectResponse(local_path(next), status_code=303)
    secure = secure_cookies(request, services)
    set_session_cookie(response, session, secure=secure, lifetime=settings.session_lifetime)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/console/login")
    return response


@router.post("/logout")
def logout(
    request: Request, services: ServicesDep, session: CurrentSession, _: CsrfForm
) -> Response:
    """End this browser's session."""
    close_session(services.engine, request.cookies.get(SESSION_COOKIE, ""))
    record_sign_out(services.engine, session.operator, now=services.session_clock())
    response = RedirectResponse("/console/login", status_code=303)
    clear_session_cookie(response, secure=secure_cookies(request, services))
    return response
