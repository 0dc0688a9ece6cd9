"""The sandbox's ASGI app: Twilio's Messages API, the ``/_sandbox/`` admin and phone routes."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from dripsms.sandbox.admin import admin_routes
from dripsms.sandbox.api import error_response, twilio_routes
from dripsms.sandbox.errors import ApiError, not_found
from dripsms.sandbox.phone_routes import phone_routes
from dripsms.sandbox.state import Sandbox


def create_app(sandbox: Sandbox) -> FastAPI:
    """A FastAPI app serving ``sandbox``; build one per sandbox (there is no global state)."""
    app = FastAPI(title="dripsms sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sandbox = sandbox
    app.include_router(twilio_routes(sandbox))
    app.include_router(admin_routes(sandbox))
    app.include_router(phone_routes(sandbox))

    @app.exception_handler(ApiError)
    async def twilio_error(request: Request, exc: ApiError) -> Response:
        return error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # Outside the admin routes, unknown paths and methods answer in Twilio's error shape.
        if not request.url.path.startswith("/_sandbox/"):
            if exc.status_code == 404:
                return error_response(not_found(request.url.path))
            if exc.status_code == 405:
                return error_response(ApiError(20004, "Method not allowed", 405))
        return await http_exception_handler(request, exc)

    return app
