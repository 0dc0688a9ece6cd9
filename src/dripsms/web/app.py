"""The FastAPI app factory: no globals, everything from one :class:`Runtime`."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from dripsms import __version__
from dripsms.runtime import Runtime
from dripsms.web import api, console, health, home, sandbox_controls, webhooks
from dripsms.web.dependencies import Services
from dripsms.web.limits import WEBHOOK_BODY_BYTES, BodyLimits, RouteLimit
from dripsms.web.metrics import Metrics
from dripsms.web.problems import install_handlers


def create_app(runtime: Runtime) -> FastAPI:
    """The dripsms HTTP app: a home page, the console, /v1 API, Twilio webhooks, /healthz,
    /metrics, /docs."""
    # /docs and /redoc load Swagger UI and ReDoc from an installed package (no CDN: they
    # work offline and behind a hospital's proxy); the assets are served under /docs/assets.
    app = FastAPIOffline(
        static_url="/docs/assets",
        title="dripsms",
        version=__version__,
        description="Reply-aware SMS drip sequences on Twilio Message Scheduling.",
    )
    app.state.services = Services(runtime, Metrics.create(runtime.dispatcher_health))
    # Twilio's webhooks first: the router tries routes in order, and they are the busiest.
    app.include_router(webhooks.router)
    app.include_router(api.router)
    app.include_router(health.router)
    app.include_router(home.router)
    app.include_router(console.router)
    app.mount("/console/static", console.static_files(), name="console-static")
    if runtime.sandbox_session is not None:  # sandbox mode only: 404 with real Twilio
        app.include_router(sandbox_controls.router)
    # A body over its limit is refused before any route reads or checks it. Inside FastAPI's
    # exception handlers' reach: a 413 raised while a route reads has the usual error shape.
    app.add_middleware(
        BodyLimits,
        routes=[RouteLimit("/twilio/", WEBHOOK_BODY_BYTES)],
        default_bytes=runtime.settings.max_body_bytes,
    )

    install_handlers(app)  # every error category to its status, in one place
    return app
