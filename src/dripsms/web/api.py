"""The /v1 enrollment API: JSON or form-encoded (Twilio Studio's *Make HTTP Request*)."""

from __future__ import annotations

import hashlib
import json
import math
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from dripsms.core.attributes import check_names
from dripsms.core.phones import InvalidPhone, normalize_phone
from dripsms.core.planning import EnrollmentError, EnrollmentRequest
from dripsms.core.preview import format_utc
from dripsms.engine.contacts import update_contact
from dripsms.engine.enrollment import DuplicateEnrollment, Enrolled
from dripsms.engine.library import UnknownSequence
from dripsms.engine.stopping import unenroll
from dripsms.errors import DripError, TimelineError
from dripsms.store.tables import idempotency_keys
from dripsms.store.views import contact_view, enrollment_view
from dripsms.web.auth import require_token
from dripsms.web.deps import Services, services_of

Scalar = str | int | float | bool | None
UNION_TAGS = frozenset({"str", "int", "float", "bool", "none"})
"""The names pydantic gives a ``Scalar``'s members in an error's location: not fields."""


class Problem(BaseModel):
    """An error: the field at fault (when there is one) and what is wrong."""

    field: str | None = None
    message: str


class ErrorBody(BaseModel):
    """Every 4xx answer, and a 503 when the database is unavailable."""

    error: Problem


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorBody} for code in codes}


router = APIRouter(
    prefix="/v1", tags=["enrollment API"], dependencies=[Depends(require_token)],
    responses=_errors(401, 413, 503),  # every route: no or a wrong token; a body over the
    # limit (dripsms.web.limits); the database is down
)  # fmt: skip


EXAMPLE_PHONE = "+14155550100"
EXAMPLE_ENROLLMENT: dict[str, JsonValue] = {
    "sequence": "postop",
    "phone": EXAMPLE_PHONE,
    "timezone": "America/New_York",
    "anchor": "2026-03-07",
    "attributes": {"first_name": "Ada"},
}


class EnrollmentIn(BaseModel):
    """A new enrollment. Attributes go in ``attributes`` or as extra top-level fields."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [EXAMPLE_ENROLLMENT]})

    sequence: str = Field(max_length=64, description="The sequence's key.")
    phone: str = Field(max_length=40, description="E.164, or national form in the default region.")
    timezone: str | None = Field(
        None, max_length=64, description="IANA zone, e.g. America/New_York."
    )
    anchor: str | None = Field(
        None, max_length=40, description="The anchor, e.g. the surgery date."
    )
    external_id: str | None = Field(
        None, max_length=128, description="Your id (two surgeries: two ids)."
    )
    catch_up: bool | None = Field(
        None,
        description="Send the most recent step already past its latest send time now, "
        "instead of recording it missed (default: the sequence's catch_up).",
    )
    attributes: dict[str, Scalar] = Field(default_factory=dict)


class MessageOut(BaseModel):
    """One planned or sent message."""

    step: str
    kind: str = "step"
    state: str
    due_utc: str | None
    due_local: str | None
    sid: str | None = None
    error_code: int | None = None
    reply: dict[str, Any] | None = None


class EnrollmentOut(BaseModel):
    """An enrollment and its timeline."""

    id: int
    sequence: str
    version: str
    state: str
    phone: str
    timezone: str
    anchor: str
    external_id: str | None
    messages: list[MessageOut]
    missed: list[str] = Field(
        default_factory=list, description="Steps already past their latest send time: never sent."
    )
    caught_up: list[str] = Field(
        default_factory=list, description="Steps sent now by catch-up instead of missed."
    )


class ContactIn(BaseModel):
    """Changes to a contact."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"attributes": {"surgery_date": "2026-03-14"}}]},
    )

    timezone: str | None = Field(None, max_length=64)
    attributes: dict[str, Scalar] = Field(default_factory=dict)


class ContactEnrollmentOut(BaseModel):
    """One of a contact's enrollments."""

    id: int
    sequence: str
    state: str
    external_id: str | None
    enrolled_at: str


class ContactOut(BaseModel):
    """A contact: attributes, opt-out state, enrollments."""

    phone: str
    timezone: str | None
    attributes: dict[str, Any]
    opted_out: bool
    opted_out_at: str | None
    enrollments: list[ContactEnrollmentOut]


class ContactChanged(ContactOut):
    """A contact after a change, and how many messages were re-planned."""

    replanned: int


class Unenrolled(BaseModel):
    """The enrollments ended."""

    unenrolled: list[int]


class AttributeOut(BaseModel):
    """An attribute a sequence declares."""

    type: str
    required: bool
    values: list[str] | None


class StepOut(BaseModel):
    """A step of a sequence."""

    id: str
    expects: str | None
    conditional: bool


class SequenceOut(BaseModel):
    """A sequence this server runs."""

    key: str
    name: str
    description: str
    version: str
    anchor: str
    timezone: str | None
    attributes: dict[str, AttributeOut]
    steps: list[StepOut]


def printable(text: str) -> str:
    """``text`` safe to answer with: an unpaired surrogate (no UTF-8 for it) backslash-escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _error(status: int, message: str, field: str | None = None) -> JSONResponse:
    problem = {
        "field": printable(field) if field is not None else None,
        "message": printable(message),
    }
    return JSONResponse({"error": problem}, status_code=status)


def _unstorable(value: Any, where: str = "") -> tuple[str, str] | None:
    """(field, problem) of the first value no database keeps as given, else None: text with a
    NUL (PostgreSQL refuses it) or an unpaired surrogate (no UTF-8 for it), and NaN or an
    infinity (JSON has none; PostgreSQL refuses it, SQLite reads it back as null)."""
    if isinstance(value, str):
        if "\x00" in value:
            return where or "body", "must not contain NUL characters"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return where or "body", "must be valid Unicode (it has an unpaired surrogate)"
    elif isinstance(value, float) and not math.isfinite(value):
        return where or "body", "must be a finite number"
    elif isinstance(value, dict):
        for key, item in value.items():
            inner = f"{where}.{key}" if where else str(key)
            problem = _unstorable(str(key), inner) or _unstorable(item, inner)
            if problem is not None:
                return problem
    elif isinstance(value, list):
        for item in value:
            if (problem := _unstorable(item, where)) is not None:
                return problem
    return None


def _local(instant: datetime | None, zone: str) -> str | None:
    return instant.astimezone(ZoneInfo(zone)).isoformat() if instant else None


def _created(result: Enrolled) -> dict[str, Any]:
    p = result.prepared
    return EnrollmentOut(
        id=result.enrollment_id, sequence=p.sequence_key, version=result.version, state="active",
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


async def _payload(request: Request) -> dict[str, Any]:
    body = await request.body()  # bounded (size, JSON depth) by web.limits as it is read
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            data = json.loads(body or b"null")
        except ValueError:
            raise HTTPException(400, "the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise HTTPException(422, "the body must be a JSON object")
        return data
    if kind == "application/x-www-form-urlencoded":
        form = await request.form()
        data = {}
        attributes: dict[str, Any] = {}
        for key, value in form.multi_items():
            if key.startswith("attributes[") and key.endswith("]"):
                attributes[key[11:-1]] = value
            else:
                data[key] = value
        if attributes:
            data["attributes"] = attributes
        return data
    raise HTTPException(415, "send application/json or application/x-www-form-urlencoded")


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


ENROLLMENT_REQUEST = {
    "parameters": [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": "Send the same key again to get the first answer back, not a second "
            "enrollment.",
            "schema": {"type": "string", "minLength": 1, "maxLength": 255},
        }
    ],
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": EnrollmentIn.model_json_schema()},
            "application/x-www-form-urlencoded": {"schema": EnrollmentIn.model_json_schema()},
        },
    },
}


@router.post(
    "/enrollments", status_code=201, response_model=EnrollmentOut,
    responses=_errors(400, 409, 413, 415, 422), openapi_extra=ENROLLMENT_REQUEST,
    summary="Enroll a contact",
)  # fmt: skip
async def create_enrollment(request: Request) -> JSONResponse:
    """Enroll a contact and plan its timeline. Honours ``Idempotency-Key``."""
    services = services_of(request)
    payload = await _payload(request)
    if (problem := _unstorable(payload)) is not None:
        return _error(422, problem[1], problem[0])
    key = request.headers.get("Idempotency-Key")
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
    if key is not None:
        if not 1 <= len(key) <= 255:
            return _error(400, "Idempotency-Key must be 1 to 255 characters", "Idempotency-Key")
        replay = await run_in_threadpool(_replay, services, key, digest)
        if replay is not None:
            return replay
    try:
        enrolled = await run_in_threadpool(_enroll, services, _request_of(payload))
    except DuplicateEnrollment as exc:
        return _error(409, exc.reason, exc.field)
    except EnrollmentError as exc:
        return _error(422, exc.reason, exc.field)
    body = _created(enrolled)
    services.metrics.enrollments.inc()
    if key is not None:
        await run_in_threadpool(_remember, services, key, digest, body)
    return JSONResponse(body, status_code=201)


def _enroll(services: Services, request: EnrollmentRequest) -> Enrolled:
    try:
        return services.enroller.enroll(request, now=services.clock())
    except UnknownSequence as exc:
        raise EnrollmentError("sequence", str(exc)) from None
    except TimelineError as exc:  # an anchor in range, offsets that run off the calendar
        raise EnrollmentError("anchor", str(exc)) from None


def _replay(services: Services, key: str, digest: str) -> JSONResponse | None:
    k = idempotency_keys.c
    with services.engine.connect() as connection:
        row = connection.execute(select(idempotency_keys).where(k.key == key)).first()
    if row is None:
        return None
    if row.request_hash != digest:
        return _error(422, "this Idempotency-Key was used with a different body", "Idempotency-Key")
    return JSONResponse(row.response, status_code=row.status)


def _remember(services: Services, key: str, digest: str, body: dict[str, Any]) -> None:
    try:
        with services.engine.begin() as connection:
            connection.execute(
                insert(idempotency_keys).values(
                    key=key, request_hash=digest, status=201, response=body,
                    created_at=services.clock(),
                )
            )  # fmt: skip
    except IntegrityError:
        pass  # a concurrent duplicate stored it first; the enrollment itself was refused


# Ids are INTEGER columns: 32 bits on PostgreSQL, which refuses a larger number outright.
EnrollmentId = Annotated[int, Path(ge=1, le=2**31 - 1, examples=[1])]


@router.get(
    "/enrollments/{enrollment_id}", response_model=EnrollmentOut, responses=_errors(404, 422)
)
def get_enrollment(enrollment_id: EnrollmentId, request: Request) -> Any:
    """An enrollment's timeline: step, due (UTC and local), state, SID, reply."""
    services = services_of(request)
    with services.engine.connect() as connection:
        view = enrollment_view(connection, enrollment_id)
    if view is None:
        return _error(404, f"no enrollment {enrollment_id}")
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
        missed=[m["step"] for m in view.messages if m["state"] == "missed"],
    )  # fmt: skip


def _jsonable(reply: dict[str, Any] | None) -> dict[str, Any] | None:
    if reply is None:
        return None
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in reply.items()}


@router.delete(
    "/enrollments/{enrollment_id}", response_model=Unenrolled, responses=_errors(404, 422)
)
def delete_enrollment(enrollment_id: EnrollmentId, request: Request) -> Any:
    """Unenroll: cancel what is not sent, at Twilio too."""
    services = services_of(request)
    try:
        ended = unenroll(services.engine, now=services.clock(), enrollment_id=enrollment_id)
    except DripError as exc:
        return _error(404, str(exc))
    return {"unenrolled": ended}


def _phone(services: Services, raw: str) -> str:
    try:
        return normalize_phone(raw, services.runtime.settings.default_region)
    except InvalidPhone as exc:
        raise HTTPException(422, str(exc)) from None


PhoneParam = Annotated[str, Path(max_length=40, examples=[EXAMPLE_PHONE])]


@router.get("/contacts/{phone}", response_model=ContactOut, responses=_errors(404, 422))
def get_contact(phone: PhoneParam, request: Request) -> Any:
    """A contact: attributes, opt-out state, enrollments."""
    services = services_of(request)
    normalized = _phone(services, phone)
    with services.engine.connect() as connection:
        view = contact_view(connection, normalized)
    if view is None:
        return _error(404, "no contact with this phone", "phone")
    return _contact(view)


@router.patch("/contacts/{phone}", response_model=ContactChanged, responses=_errors(400, 404, 422))
def patch_contact(phone: PhoneParam, changes: ContactIn, request: Request) -> Any:
    """Change attributes or zone; a moved anchor re-plans what is not sent yet."""
    services = services_of(request)
    normalized = _phone(services, phone)
    if (problem := _unstorable(changes.model_dump())) is not None:
        return _error(422, problem[1], problem[0])
    try:
        replanned = update_contact(
            services.engine, services.library, normalized, now=services.clock(),
            timezone=changes.timezone, attributes=changes.attributes,
        )  # fmt: skip
    except EnrollmentError as exc:
        status = 404 if exc.reason == "no contact with this phone" else 422
        return _error(status, exc.reason, exc.field)
    with services.engine.connect() as connection:
        view = contact_view(connection, normalized)
    if view is None:  # removed since: nothing to show
        return _error(404, "no contact with this phone", "phone")
    return {**_contact(view), "replanned": replanned}


def _contact(view: dict[str, Any]) -> dict[str, Any]:
    return {
        **view,
        "opted_out_at": view["opted_out_at"].isoformat() if view["opted_out_at"] else None,
        "enrollments": [
            {**e, "enrolled_at": e["enrolled_at"].isoformat()} for e in view["enrollments"]
        ],
    }


@router.get("/sequences", response_model=list[SequenceOut])
def list_sequences(request: Request) -> Any:
    """The sequences this server runs."""
    library = services_of(request).library
    return [_sequence_summary(library.current(key)) for key in library.sequence_keys()]


@router.get("/sequences/{key}", response_model=SequenceOut, responses=_errors(404, 422))
def get_sequence(
    key: Annotated[str, Path(max_length=64, examples=["postop"])], request: Request
) -> Any:
    """One sequence: anchor, attributes, steps."""
    try:
        loaded = services_of(request).library.current(key)
    except UnknownSequence as exc:
        return _error(404, str(exc), "key")
    return _sequence_summary(loaded)


def _sequence_summary(loaded: Any) -> dict[str, Any]:
    seq = loaded.sequence
    return {
        "key": seq.key,
        "name": seq.name,
        "description": seq.description,
        "version": loaded.version,
        "anchor": seq.anchor,
        "timezone": seq.timezone,
        "attributes": {
            name: {"type": a.type.value, "required": a.required, "values": list(a.values) or None}
            for name, a in seq.attributes.items()
        },
        "steps": [
            {
                "id": s.id,
                "expects": s.expect_reply.type if s.expect_reply else None,
                "conditional": s.when is not None,
            }
            for s in seq.steps
        ],
    }
