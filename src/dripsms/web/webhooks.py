"""``POST /twilio/inbound`` and ``POST /twilio/status``: signed, idempotent, never 200 for
something lost (a database failure answers 503 so that Twilio's side records a failure)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from twilio.twiml.messaging_response import MessagingResponse

from dripsms.engine.callbacks import verify_callback
from dripsms.engine.conversations import Inbound
from dripsms.engine.status import StatusUpdate, apply_status
from dripsms.web.dependencies import ServicesDep, get_services
from dripsms.web.schemas import ErrorBody
from dripsms.web.twilio_signature import verified_params


async def signature_key(request: Request) -> str:
    """The auth token webhooks must be signed with; 503 before reading a byte without one.

    An API key cannot check Twilio's signatures, and the sandbox's published token is
    known to everyone: then no webhook is processed at all, and the answer says what to set.
    (``async``: FastAPI runs it on the event loop, not through its threadpool.)
    """
    key = get_services(request).auth_token
    if not key:
        raise HTTPException(503, get_services(request).runtime.webhook_problem)
    return key


@dataclass(frozen=True, slots=True)
class SignedForm:
    """A webhook's parameters, signed by Twilio with the auth token (checked)."""

    params: dict[str, str]
    started: float = field(default_factory=time.perf_counter)
    """When the check began (``perf_counter``): the webhook's time is measured from here."""

    def first(self, *names: str) -> str:
        """The first of ``names`` given and not empty, else ``""``."""
        return next((value for name in names if (value := self.params.get(name))), "")


async def signed_form(
    request: Request, services: ServicesDep, key: Annotated[str, Depends(signature_key)]
) -> SignedForm:
    """The form (or JSON body) after its ``X-Twilio-Signature`` holds; 403 when it does not."""
    started = time.perf_counter()
    params = await verified_params(request, key, services.public_url)
    return SignedForm(params, started)


Signed = Annotated[SignedForm, Depends(signed_form)]
"""A route's verified webhook parameters."""


router = APIRouter(
    prefix="/twilio", tags=["twilio webhooks"],  # every route takes ``Signed``
    responses={
        400: {"model": ErrorBody, "description": "A required field is missing"},
        403: {"model": ErrorBody, "description": "Not signed by Twilio (with the auth token)"},
        503: {
            "model": ErrorBody,
            "description": "The database is unavailable, or no auth token to check signatures",
        },
    },
)  # fmt: skip


def _small_int(text: str, digits: int) -> bool:
    """At most ``digits`` ASCII digits (``"²".isdigit()``, yet ``int("²")`` fails)."""
    return text.isascii() and text.isdigit() and len(text) <= digits


def _missing(message: str, field: str) -> JSONResponse:
    return JSONResponse({"error": {"field": field, "message": message}}, status_code=400)


NO_ANSWER = str(MessagingResponse())
"""The TwiML of a text that gets no answer (most of them), built once."""


def _twiml(answers: list[str]) -> Response:
    if not answers:
        return Response(NO_ANSWER, media_type="application/xml")
    response = MessagingResponse()
    for text in answers:
        response.message(text)
    return Response(str(response), media_type="application/xml")


@router.post(
    "/inbound", summary="Twilio's incoming-message webhook (answers TwiML)",
    response_class=Response,
    responses={200: {"description": "TwiML", "content": {"application/xml": {}}}},
)  # fmt: skip
async def inbound(form: Signed, services: ServicesDep) -> Response:
    """An inbound text: keywords, reply matching, rules; answers TwiML."""
    params = form.params
    now = services.clock().astimezone(UTC)
    text = Inbound(
        message_sid=form.first("MessageSid", "SmsSid"),
        from_phone=params.get("From", ""),
        body=params.get("Body", ""),
        received_at=now,
        to=params.get("To", ""),
        opt_out_type=params.get("OptOutType") or None,
        params=tuple((str(k), str(v)) for k, v in params.items()),
    )
    if not text.message_sid or not text.from_phone:
        return _missing(
            "MessageSid and From are required", "MessageSid" if not text.message_sid else "From"
        )
    result = await run_in_threadpool(services.conversations.receive, text)
    services.metrics.replies.labels(result.kind).inc()
    services.metrics.webhook_seconds.labels("inbound").observe(time.perf_counter() - form.started)
    return _twiml(result.answers)


@router.post(
    "/status", summary="Twilio's status callback (the URL carries our message id)",
    status_code=204, response_class=Response,
)  # fmt: skip
async def status(
    form: Signed,
    services: ServicesDep,
    m: Annotated[str | None, Query(description="Our message id (signed by ``t``)")] = None,
    t: Annotated[str, Query(description="The message id's signature")] = "",
) -> Response:
    """A message's new status; forward only, each (SID, status) once."""
    params = form.params
    account = params.get("AccountSid")
    if account is not None and account != services.runtime.account_sid:
        # Signed, but about another account's message: not one of ours to record.
        raise HTTPException(403, "the callback is about another account's message")
    message_id: int | None = None
    if (
        m
        and _small_int(m, 18)  # fits a 64-bit id
        and verify_callback(services.callback_secret, int(m), t)
    ):
        message_id = int(m)
    sid = form.first("MessageSid", "SmsSid")
    state = form.first("MessageStatus", "SmsStatus")
    if not sid or not state:
        return _missing(
            "MessageSid and MessageStatus are required",
            "MessageSid" if not sid else "MessageStatus",
        )
    code = params.get("ErrorCode")
    update = StatusUpdate(
        message_sid=sid,
        status=state,
        message_id=message_id,
        error_code=int(code) if code and _small_int(code, 9) else None,
    )
    outcome = await run_in_threadpool(apply_status, services.engine, update, now=services.clock())
    services.metrics.status_callbacks.labels(outcome.result).inc()
    services.metrics.webhook_seconds.labels("status").observe(time.perf_counter() - form.started)
    return Response(status_code=204)
