"""The FastAPI app factory: no globals, everything from one :class:`Runtime`."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException

from dripsms import __version__
from dripsms.runtime import Runtime
from dripsms.web import api, health, webhooks
from dripsms.web.deps import Services
from dripsms.web.limits import WEBHOOK_BODY_BYTES, BodyLimits, RouteLimit
from dripsms.web.metrics import Metrics

log = logging.getLogger(__name__)


def create_app(runtime: Runtime) -> FastAPI:
    """The dripsms HTTP app: /v1 API, Twilio webhooks, /healthz, /metrics, /docs."""
    app = FastAPI(
        title="dripsms",
        version=__version__,
        description="Reply-aware SMS drip sequences on Twilio Message Scheduling.",
    )
    app.state.services = Services(runtime, Metrics.create(runtime.dispatcher_health))
    app.include_router(api.router)
    app.include_router(webhooks.router)
    app.include_router(health.router)
    # A body over its limit is refused before any route reads or checks it. Inside FastAPI's
    # exception handlers' reach: a 413 raised while a route reads has the usual error shape.
    app.add_middleware(
        BodyLimits,
        routes=[RouteLimit("/twilio/", WEBHOOK_BODY_BYTES)],
        default_bytes=runtime.settings.max_body_bytes,
    )

    # Starlette's HTTPException, so that what FastAPI and the router raise themselves (an
    # unparsable body, an unknown path, a wrong method) has the same error shape as ours.
    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(
            {"error": {"field": None, "message": api.printable(str(exc.detail))}},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        skip = api.UNION_TAGS | {"body", "path", "query"}
        field = ".".join(str(p) for p in first["loc"] if p not in skip)
        return JSONResponse(
            {
                "error": {
                    "field": api.printable(field) or None,
                    "message": api.printable(str(first["msg"])),
                }
            },
            status_code=422,
        )

    @app.exception_handler(SQLAlchemyError)
    async def database_down(_: Request, exc: SQLAlchemyError) -> JSONResponse:
        # Never 200 for something not stored: Twilio and API clients see the failure.
        log.error("database error: %s", type(exc).__name__, extra={"action": "db_error"})
        return JSONResponse(
            {"error": {"field": None, "message": "the database is unavailable"}}, status_code=503
        )

    return app
