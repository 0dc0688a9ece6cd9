"""``/healthz`` (database reachable, migrations current) and ``/metrics`` (Prometheus)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from dripsms.store.database import current_revision, head_revision
from dripsms.store.tables import messages
from dripsms.web.deps import services_of

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    """Whether the database answers and is migrated."""

    status: str
    database: str
    revision: str | None = None


@router.get(
    "/healthz", summary="Database reachable and migrated", response_model=Health,
    responses={503: {"model": Health, "description": "Unavailable"}},
)  # fmt: skip
def healthz(request: Request) -> Any:
    """200 when the database answers and is at the newest migration; 503 otherwise."""
    services = services_of(request)
    try:
        current = current_revision(services.engine)
    except SQLAlchemyError as exc:
        return JSONResponse(
            {"status": "unavailable", "database": f"unreachable: {type(exc).__name__}"}, 503
        )
    head = head_revision()
    if current != head:
        return JSONResponse(
            {"status": "unavailable", "database": f"at {current}, not {head}: run db upgrade"},
            503,
        )
    return {"status": "ok", "database": "ok", "revision": head}


@router.get(
    "/metrics", summary="Prometheus metrics", response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)  # fmt: skip
def metrics(request: Request) -> Response:
    """Counters since start, and the outbox by state (read now)."""
    services = services_of(request)
    with services.engine.connect() as connection:
        rows = connection.execute(
            select(messages.c.state, func.count()).group_by(messages.c.state)
        ).all()
    services.metrics.queue_depth.clear()
    for state, count in rows:
        services.metrics.queue_depth.labels(state).set(count)
    services.metrics.scheduled.set(sum(n for s, n in rows if s == "scheduled"))
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
