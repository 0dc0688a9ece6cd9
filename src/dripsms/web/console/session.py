"""Signing in to the console: the session cookie, who is signed in, roles, CSRF.

The cookie (``dripsms_session``) is HttpOnly, SameSite=Lax, and Secure when dripsms is
reached over https; it carries a random token whose SHA-256 finds the session. Every form
that changes something carries the session's CSRF token in a hidden ``csrf_token`` field;
the sign-in form, before any session exists, carries one that must match a cookie of its
own (double submit). Sessions run on the real clock, never on the sandbox's virtual one.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from dripsms.engine.operators import Operator, Session, resume_session
from dripsms.web.dependencies import Services, ServicesDep

SESSION_COOKIE = "dripsms_session"
LOGIN_CSRF_COOKIE = "dripsms_login_csrf"
CSRF_FIELD = "csrf_token"


class SignInRequired(Exception):
    """No live session: a page answers with the sign-in page (303), a form with 401."""

    def __init__(self, next_path: str) -> None:
        super().__init__("sign in first")
        self.next_path = next_path


class Forbidden(Exception):
    """Signed in, but this operator's role may not do this (403), or a form's CSRF token
    is missing or wrong (403)."""


def secure_cookies(request: Request, services: Services) -> bool:
    """Whether cookies get the Secure flag: dripsms is reached over https."""
    return request.url.scheme == "https" or services.public_url.startswith("https:")


def local_path(text: str | None) -> str:
    """``text`` if it is a path on this server under /console (no open redirect), else the
    console's front page."""
    if text and text.startswith("/console") and not text.startswith("//") and "\\" not in text:
        return text
    return "/console/"


def login_url(next_path: str) -> str:
    """The sign-in page, coming back to ``next_path`` afterwards."""
    return f"/console/login?next={quote(local_path(next_path), safe='/')}"


async def signed_in(request: Request, services: ServicesDep) -> Session:
    """The session of this request's cookie; :class:`SignInRequired` without a live one."""
    token = request.cookies.get(SESSION_COOKIE, "")
    session = resume_session(
        services.engine, token, now=services.session_clock(),
        idle=services.runtime.settings.session_idle,
    )  # fmt: skip
    if session is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target if request.method == "GET" else "/console/")
    request.state.console_session = session
    return session


CurrentSession = Annotated[Session, Depends(signed_in)]


def current_operator(session: CurrentSession) -> Operator:
    """Who is signed in."""
    return session.operator


CurrentOperator = Annotated[Operator, Depends(current_operator)]
"""Any signed-in operator (a nurse or an admin)."""


def admin_operator(operator: CurrentOperator) -> Operator:
    """An admin; :class:`Forbidden` for a nurse."""
    if not operator.is_admin:
        raise Forbidden("this page is for admins")
    return operator


AdminOperator = Annotated[Operator, Depends(admin_operator)]
"""A signed-in admin."""


def same_token(given: object, expected: str) -> bool:
    """Constant-time comparison of a submitted token with the expected one."""
    return isinstance(given, str) and bool(given) and hmac.compare_digest(given, expected)


async def csrf_form(request: Request, session: CurrentSession) -> FormData:
    """The posted form, once its ``csrf_token`` is the session's; :class:`Forbidden` if not."""
    form = await request.form()
    if not same_token(form.get(CSRF_FIELD), session.csrf_token):
        raise Forbidden("the form's security token is missing or out of date: reload the page")
    return form


CsrfForm = Annotated[FormData, Depends(csrf_form)]
"""A state-changing form whose CSRF token was checked."""


def set_session_cookie(
    response: Response, session: Session, *, secure: bool, lifetime: timedelta
) -> None:
    """Give the browser its session."""
    response.set_cookie(
        SESSION_COOKIE, session.token, max_age=int(lifetime.total_seconds()), path="/",
        httponly=True, samesite="lax", secure=secure,
    )  # fmt: skip


def clear_session_cookie(response: Response, *, secure: bool) -> None:
    """Take the session away from the browser."""
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=secure)


def new_login_csrf() -> str:
    """A token for the sign-in form and its cookie."""
    return secrets.token_urlsafe(32)
