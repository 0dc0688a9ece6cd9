"""``/healthz`` (named checks: database, dispatcher, webhooks, sequences) and ``/metrics``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import SQLAlchemyError

from dripsms.core.states import MessageState
from dripsms.runtime import Runtime
from dripsms.store import heartbeats
from dripsms.store.database import READ_ONLY, current_revision, head_revision
from dripsms.store.views import outbox_by_state
from dripsms.web.dependencies import ServicesDep

router = APIRouter(tags=["operations"])


class Check(BaseModel):
    """One thing /healthz looked at; any check not ``ok`` makes it answer 503."""

    model_config = ConfigDict(extra="allow")

    ok: bool
    detail: str = Field(description="What was found, in words.")


class Health(BaseModel):
    """The checks, by name (``database``, ``dispatcher``, ...); ``status`` sums them up."""

    status: str = Field(description="ok, or unavailable when any check is not ok.")
    checks: dict[str, Check]


def database_check(runtime: Runtime) -> Check:
    """The database answers and is at the newest migration."""
    try:
        current = current_revision(runtime.engine)
    except SQLAlchemyError as exc:
        return Check(ok=False, detail=f"unreachable: {type(exc).__name__}")
    head = head_revision()
    if current != head:
        return Check(ok=False, detail=f"at {current}, not {head}: run db upgrade")
    return Check(ok=True, detail="ok", revision=head)


def dispatcher_check(runtime: Runtime) -> Check:
    """A pass succeeded recently, when a dispatcher runs in this process."""
    health = runtime.dispatcher_health
    if health is None:
        return workers_check(runtime)
    snapshot = health.snapshot()
    limit = runtime.settings.health_stale_after
    if not snapshot.running:
        detail = "not running"
    elif snapshot.stale(limit):
        detail = f"no pass succeeded in {limit:g} s"
    else:
        detail = "ok"
    return Check(ok=detail == "ok", detail=detail, stale_after=limit, **snapshot.as_json())


def workers_check(runtime: Runtime) -> Check:
    """No dispatcher here (``dripsms serve``): the workers' heartbeats, for information.

    Never failing: restarting this server would not restart a worker."""
    now = runtime.clock()
    try:
        with runtime.engine.connect() as connection:
            beats = heartbeats.recent(connection.execution_options(**READ_ONLY))
    except SQLAlchemyError:
        beats = []  # the database check says what is wrong
    if beats:
        latest = beats[0].as_json(now)
        detail = f"not in this process; a worker passed {latest['seconds_since_pass']:g} s ago"
    else:
        detail = "not in this process, and no worker has reported (run `dripsms worker`)"
    return Check(ok=True, detail=detail, workers=[beat.as_json(now) for beat in beats])


def webhooks_check(runtime: Runtime) -> Check:
    """Whether Twilio's webhooks can be checked (an auth token), or are refused with 503.

    A warning, not a failure: restarting the process would not set the missing token.
    """
    problem = runtime.webhook_problem
    if problem is None:
        return Check(ok=True, detail="X-Twilio-Signature checked")
    return Check(ok=True, detail=f"/twilio/* answer 503: {problem}", warning=True)


def sequences_check(runtime: Runtime) -> Check:
    """The sequence files that loaded, and those skipped (a warning: the rest run on)."""
    library = runtime.library
    loaded = library.sequence_keys()
    skipped = [problem.as_json() for problem in library.load_problems]
    detail = f"{len(loaded)} loaded"
    if skipped:
        names = ", ".join(str(item["file"]) for item in skipped)
        detail += f"; {len(skipped)} skipped ({names}): run `dripsms validate`"
    return Check(ok=True, detail=detail, warning=bool(skipped), loaded=loaded, skipped=skipped)


CHECKS = {
    "database": database_check,
    "dispatcher": dispatcher_check,
    "webhooks": webhooks_check,
    "sequences": sequences_check,
}
"""What /healthz runs, by name; each takes the runtime and returns a :class:`Check`."""


@router.get(
    "/healthz", summary="Database and dispatcher health", response_model=Health,
    responses={503: {"model": Health, "description": "A check failed"}},
)  # fmt: skip
def healthz(services: ServicesDep) -> Any:
    """200 when every check is ok; 503 (with the same body) when any is not, so a process
    manager restarts the process."""
    body = health_of(services.runtime)
    if body.status == "ok":
        return body
    return JSONResponse(body.model_dump(mode="json"), status_code=503)


def health_of(runtime: Runtime) -> Health:
    """Every check of :data:`CHECKS`, run now (``/healthz`` and the home page show it)."""
    checks = {name: check(runtime) for name, check in CHECKS.items()}
    ok = all(check.ok for check in checks.values())
    return Health(status="ok" if ok else "unavailable", checks=checks)


@router.get(
    "/metrics", summary="Prometheus metrics", response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)  # fmt: skip
def metrics(services: ServicesDep) -> Response:
    """Counters since start, and the outbox by state (read now)."""
    with services.engine.connect() as connection:
        # no write lock for a read
        counts = outbox_by_state(connection.execution_options(**READ_ONLY))
    services.metrics.queue_depth.clear()
    for state, count in counts.items():
        services.metrics.queue_depth.labels(state).set(count)
    services.metrics.scheduled.set(counts.get(MessageState.SCHEDULED, 0))
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
