"""``/v1/enrollments``: enroll (JSON or Twilio Studio's form), read a timeline, unenroll."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from dripsms.core.attributes import check_names
from dripsms.core.planning import EnrollmentError, EnrollmentRequest
from dripsms.core.preview import format_utc
from dripsms.core.states import EnrollmentState, MessageState
from dripsms.engine.enrollment import Enrolled
from dripsms.engine.stopping import unenroll
from dripsms.errors import NotFound, TimelineError
from dripsms.store.idempotency import StoredAnswer, remember_answer, stored_answer
from dripsms.store.views import EnrollmentView, enrollment_view
from dripsms.web.dependencies import Payload, RowId, Services, ServicesDep
from dripsms.web.problems import UNION_TAGS, problem
from dripsms.web.schemas import (
    ENROLLMENT_REQUEST,
    EnrollmentIn,
    EnrollmentOut,
    MessageOut,
    Unenrolled,
    error_responses,
)

router = APIRouter()

# Declared in ENROLLMENT_REQUEST (with its bounds): checked here, for the answer's wording.
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", include_in_schema=False)]


@router.post(
    "/enrollments", status_code=201, response_model=EnrollmentOut,
    responses=error_responses(400, 409, 413, 415, 422), openapi_extra=ENROLLMENT_REQUEST,
    summary="Enroll a contact",
)  # fmt: skip
async def create_enrollment(
    services: ServicesDep, payload: Payload, key: IdempotencyKey = None
) -> JSONResponse:
    """Enroll a contact and plan its timeline. Honours ``Idempotency-Key``."""
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
    if key is not None:
        if not 1 <= len(key) <= 255:
            message = "Idempotency-Key must be 1 to 255 characters"
            return problem(400, message, "Idempotency-Key")
        replay = await run_in_threadpool(_replay, services, key, digest)
        if replay is not None:
            return JSONResponse(replay.body, status_code=replay.status)
    enrolled = await run_in_threadpool(_enroll, services, _request_of(payload))
    body = _created(enrolled)
    services.metrics.enrollments.inc()
    if key is not None:
        answer = StoredAnswer(201, body)
        await run_in_threadpool(remember_answer, services.engine, key, digest, answer,
                                at=services.clock())  # fmt: skip
    return JSONResponse(body, status_code=201)


def _replay(services: Services, key: str, digest: str) -> StoredAnswer | None:
    with services.engine.connect() as connection:
        return stored_answer(connection, key, digest)


def _enroll(services: Services, request: EnrollmentRequest) -> Enrolled:
    try:
        return services.enroller.enroll(request, now=services.clock())
    except TimelineError as exc:  # an anchor in range, offsets that run off the calendar
        raise EnrollmentError("anchor", str(exc)) from None


def _request_of(payload: dict[str, Any]) -> EnrollmentRequest:
    try:
        parsed = EnrollmentIn.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in first["loc"] if p not in UNION_TAGS) or "body"
        raise EnrollmentError(field, str(first["msg"])) from None
    attributes: dict[str, Any] = dict(parsed.attributes)
    for name, value in (parsed.model_extra or {}).items():
        if not isinstance(value, str | int | float | bool | type(None)):
            raise EnrollmentError(name, "an attribute must be text, a number or true/false")
        attributes[name] = value
    try:
        check_names(attributes)
    except ValueError as exc:
        raise EnrollmentError("attributes", str(exc)) from None
    return EnrollmentRequest(
        sequence=parsed.sequence, phone=parsed.phone, timezone=parsed.timezone,
        attributes=attributes, anchor=parsed.anchor, external_id=parsed.external_id,
        catch_up=parsed.catch_up,
    )  # fmt: skip


@router.get(
    "/enrollments/{enrollment_id}", response_model=EnrollmentOut,
    responses=error_responses(404, 422),
)  # fmt: skip
def get_enrollment(enrollment_id: RowId, services: ServicesDep) -> Any:
    """An enrollment's timeline: step, due (UTC and local), state, SID, reply."""
    with services.engine.connect() as connection:
        view = enrollment_view(connection, enrollment_id)
    if view is None:
        raise NotFound(f"no enrollment {enrollment_id}")
    return _timeline(view)


@router.delete(
    "/enrollments/{enrollment_id}", response_model=Unenrolled,
    responses=error_responses(404, 422),
)  # fmt: skip
def delete_enrollment(enrollment_id: RowId, services: ServicesDep) -> Any:
    """Unenroll: cancel what is not sent, at Twilio too."""
    ended = unenroll(services.engine, now=services.clock(), enrollment_id=enrollment_id)
    return {"unenrolled": ended}


def _local(instant: datetime | None, zone: str) -> str | None:
    return instant.astimezone(ZoneInfo(zone)).isoformat() if instant else None


def _created(result: Enrolled) -> dict[str, Any]:
    p = result.prepared
    return EnrollmentOut(
        id=result.enrollment_id, sequence=p.sequence_key, version=result.version,
        state=EnrollmentState.ACTIVE,
        phone=p.phone, timezone=p.timezone, anchor=p.anchor_text(),
        external_id=p.external_id or None,
        messages=[
            MessageOut(step=m.step_id, state=m.state.value,
                       due_utc=format_utc(m.due_at) if m.due_at else None,
                       due_local=_local(m.due_at, p.timezone))
            for m in p.messages
        ],
        missed=list(p.missed), caught_up=list(p.caught_up),
    ).model_dump()  # fmt: skip


def _timeline(view: EnrollmentView) -> EnrollmentOut:
    return EnrollmentOut(
        id=view.id, sequence=view.sequence, version=view.version, state=view.state,
        phone=view.phone, timezone=view.timezone, anchor=view.anchor,
        external_id=view.external_id or None,
        messages=[
            MessageOut(
                step=m["step"], kind=m["kind"], state=m["state"],
                due_utc=format_utc(m["due_at"]) if m["due_at"] else None,
                due_local=_local(m["due_at"], view.timezone), sid=m["sid"],
                error_code=m["error_code"],
                reply=_jsonable(m["reply"]),
            )
            for m in view.messages
        ],
        missed=[m["step"] for m in view.messages if m["state"] == MessageState.MISSED],
    )  # fmt: skip


def _jsonable(reply: dict[str, Any] | None) -> dict[str, Any] | None:
    if reply is None:
        return None
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in reply.items()}
