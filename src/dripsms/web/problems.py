"""Errors as answers, in one place: every error category (``dripsms.errors``) to its status,
with the one body shape ``{"error": {"field": ..., "message": ...}}``."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException

from dripsms.errors import (
    Conflict,
    DripError,
    InvalidInput,
    InvariantBroken,
    Misconfigured,
    NotFound,
    Unavailable,
)

log = logging.getLogger(__name__)

UNION_TAGS = frozenset({"str", "int", "float", "bool", "none"})
"""The names pydantic gives a ``Scalar``'s members in an error's location: not fields."""

STATUS_OF: tuple[tuple[type[DripError], int], ...] = (
    # The first category an error belongs to wins: an unknown contact is an EnrollmentError
    # (InvalidInput) and NotFound, a duplicate enrollment one and Conflict.
    (InvariantBroken, 500),
    (NotFound, 404),
    (Conflict, 409),
    (Unavailable, 503),
    (Misconfigured, 503),  # a setting a person must change: this server cannot serve it
    (InvalidInput, 422),
)


class BadValue(InvalidInput):
    """A value of the request at ``field`` is refused: ``reason`` says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def printable(text: str) -> str:
    """``text`` safe to answer with: an unpaired surrogate (no UTF-8 for it) backslash-escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def problem(
    status: int, message: str, field: str | None = None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The answer for one problem."""
    body = {"field": printable(field) if field else None, "message": printable(message)}
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def status_of(exc: DripError) -> int:
    """The HTTP status of an error's category (500: an error of no category is a bug)."""
    return next((status for category, status in STATUS_OF if isinstance(exc, category)), 500)


def described(exc: DripError) -> tuple[int, str, str | None]:
    """A domain error's status (its category's), message (``reason`` when it has one: the
    message without the field) and the field at fault when it names one; a 500 says nothing
    more (it is logged)."""
    status = status_of(exc)
    if status == 500:
        log.error("internal error: %s", type(exc).__name__, extra={"action": "internal_error"})
        return 500, "internal error", None
    reason = getattr(exc, "reason", None)
    return status, reason if isinstance(reason, str) else str(exc), _field(exc)


def answer_of(exc: DripError) -> JSONResponse:
    """The answer to a domain error (:func:`described`)."""
    return problem(*described(exc))


def _field(exc: DripError) -> str | None:
    field = getattr(exc, "field", None)
    return field if isinstance(field, str) and field else None


def unstorable(value: Any, where: str = "") -> None:
    """:class:`BadValue` at the first value no database keeps as given: text with a NUL
    (PostgreSQL refuses it) or an unpaired surrogate (no UTF-8 for it), and NaN or an
    infinity (JSON has none; PostgreSQL refuses it, SQLite reads it back as null)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise BadValue(where or "body", "must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise BadValue(
                where or "body", "must be valid Unicode (it has an unpaired surrogate)"
            ) from None
    elif isinstance(value, float) and not math.isfinite(value):
        raise BadValue(where or "body", "must be a finite number")
    elif isinstance(value, dict):
        for key, item in value.items():
            inner = f"{where}.{key}" if where else str(key)
            unstorable(str(key), inner)
            unstorable(item, inner)
    elif isinstance(value, list):
        for item in value:
            unstorable(item, where)


def install_handlers(app: FastAPI) -> None:
    """Register the exception handlers: the only place an error becomes a status."""

    # The console's pages answer errors with pages (the same statuses), the rest with JSON.
    from dripsms.web.console.errors import error_page, forbidden, is_console, sign_in_first
    from dripsms.web.console.session import Forbidden, SignInRequired

    def shaped(
        request: Request, status: int, message: str, field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:  # fmt: skip
        if not is_console(request):
            return problem(status, message, field, headers)
        named = field is not None and not message.startswith(f"{field}:")
        return error_page(request, status, printable(f"{field}: {message}" if named else message))

    app.add_exception_handler(SignInRequired, sign_in_first)  # type: ignore[arg-type]
    app.add_exception_handler(Forbidden, forbidden)  # type: ignore[arg-type]

    @app.exception_handler(DripError)
    async def domain_error(request: Request, exc: DripError) -> Response:
        return shaped(request, *described(exc))

    # Starlette's HTTPException, so that what FastAPI and the router raise themselves (an
    # unparsable body, an unknown path, a wrong method) has the same error shape as ours.
    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        return shaped(request, exc.status_code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        skip = UNION_TAGS | {"body", "path", "query"}
        field = ".".join(str(p) for p in first["loc"] if p not in skip)
        return shaped(request, 422, str(first["msg"]), field or None)

    @app.exception_handler(SQLAlchemyError)
    async def database_down(request: Request, exc: SQLAlchemyError) -> Response:
        # Never 200 for something not stored: Twilio and API clients see the failure.
        log.error("database error: %s", type(exc).__name__, extra={"action": "db_error"})
        return shaped(request, 503, "the database is unavailable")
