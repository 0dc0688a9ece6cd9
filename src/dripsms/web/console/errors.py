"""Errors on console pages are pages: sign in, not allowed, not found, invalid input."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from dripsms.errors import DripError
from dripsms.web.console.session import Forbidden, SignInRequired, login_url
from dripsms.web.console.templating import render
from dripsms.web.problems import status_of

HEADINGS = {
    400: "Bad request", 401: "Sign in first", 403: "Not allowed", 404: "Not found",
    405: "Not allowed", 409: "Conflict", 413: "Too large", 422: "Check the form",
    429: "Too many requests", 503: "Unavailable",
}  # fmt: skip


def is_console(request: Request) -> bool:
    """Whether ``request`` is for a console page (errors become pages, not JSON)."""
    path = request.url.path
    return path == "/console" or path.startswith("/console/")


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    """An error as a console page, with the layout."""
    heading = HEADINGS.get(status, "Something went wrong")
    context = {"heading": heading, "message": message}
    return render(request, "console/error.html", context, status_code=status)


def form_status(error: DripError) -> int:
    """The status of a page that shows ``error`` beside its form: its category's
    (:func:`dripsms.web.problems.status_of`). An error no form fixes (a bug, a database or a
    setting: 5xx) is raised again, for the handlers to answer and log."""
    status = status_of(error)
    if status >= 500:
        raise error
    return status


def sign_in_first(request: Request, error: SignInRequired) -> Response:
    """A page: to the sign-in page and back. A form: 401 (it would be lost on the way)."""
    if request.method == "GET":
        return RedirectResponse(login_url(error.next_path), status_code=303)
    return error_page(request, 401, "Your session has ended: sign in again.")


def forbidden(request: Request, error: Forbidden) -> Response:
    """403, saying why."""
    return error_page(request, 403, str(error))
