"""The /v1 API's request and answer bodies (pydantic models), as the OpenAPI shows them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from dripsms.core.states import MessageKind

Scalar = str | int | float | bool | None


class Problem(BaseModel):
    """An error: the field at fault (when there is one) and what is wrong."""

    field: str | None = None
    message: str


class ErrorBody(BaseModel):
    """Every 4xx answer, and a 503 when the database is unavailable."""

    error: Problem


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses: each the :class:`ErrorBody`."""
    return {code: {"model": ErrorBody} for code in codes}


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
    kind: str = MessageKind.STEP
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
