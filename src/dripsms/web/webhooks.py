"""``POST /twilio/inbound`` and ``POST /twilio/status``: signed, idempotent, never 200 for
something lost (a database failure answers 503 so that Twilio's side records a failure)."""

from __future__ import annotations

import time
from datetime import UTC

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool
from twilio.twiml.messaging_response import MessagingResponse

from dripsms.engine.callbacks import verify_callback
from dripsms.engine.conversations import Inbound
from dripsms.engine.status import StatusUpdate, apply_status
from dripsms.web.deps import services_of
from dripsms.web.twilio_signature import verified_params

router = APIRouter(prefix="/twilio", tags=["twilio webhooks"])


def _twiml(answers: list[str]) -> Response:
    response = MessagingResponse()
    for text in answers:
        response.message(text)
    return Response(str(response), media_type="application/xml")


@router.post("/inbound", summary="Twilio's incoming-message webhook (answers TwiML)")
async def inbound(request: Request) -> Response:
    """An inbound text: keywords, reply matching, rules; answers TwiML."""
    services = services_of(request)
    started = time.perf_counter()
    params = await verified_params(request, services.auth_token, services.public_url)
    now = services.clock().astimezone(UTC)
    text = Inbound(
        message_sid=params.get("MessageSid") or params.get("SmsSid") or "",
        from_phone=params.get("From", ""),
        body=params.get("Body", ""),
        received_at=now,
        to=params.get("To", ""),
        opt_out_type=params.get("OptOutType") or None,
    )
    if not text.message_sid or not text.from_phone:
        return Response("MessageSid and From are required", status_code=400)
    result = await run_in_threadpool(services.conversations.receive, text)
    services.metrics.replies.labels(result.kind).inc()
    services.metrics.webhook_seconds.labels("inbound").observe(time.perf_counter() - started)
    return _twiml(result.answers)


@router.post("/status", summary="Twilio's status callback (the URL carries our message id)")
async def status(request: Request) -> Response:
    """A message's new status; forward only, each (SID, status) once."""
    services = services_of(request)
    started = time.perf_counter()
    params = await verified_params(request, services.auth_token, services.public_url)
    message_id: int | None = None
    raw_id, token = request.query_params.get("m"), request.query_params.get("t", "")
    if (
        raw_id
        and raw_id.isdigit()
        and verify_callback(services.callback_secret, int(raw_id), token)
    ):
        message_id = int(raw_id)
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    state = params.get("MessageStatus") or params.get("SmsStatus") or ""
    if not sid or not state:
        return Response("MessageSid and MessageStatus are required", status_code=400)
    code = params.get("ErrorCode")
    update = StatusUpdate(
        message_sid=sid,
        status=state,
        message_id=message_id,
        error_code=int(code) if code and code.isdigit() else None,
    )
    outcome = await run_in_threadpool(apply_status, services.engine, update, now=services.clock())
    services.metrics.status_callbacks.labels(outcome.result).inc()
    services.metrics.webhook_seconds.labels("status").observe(time.perf_counter() - started)
    return Response(status_code=204)
