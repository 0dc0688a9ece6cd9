"""``/_sandbox/`` routes of the phone simulator: phones that text, their screens, inbound URLs.

``POST /_sandbox/phones/{number}/messages`` is the phone texting (as
:meth:`~dripsms.sandbox.state.Sandbox.receive`); ``GET /_sandbox/phones/{number}`` is its
screen; ``/_sandbox/inbound-url`` sets where a Messaging Service posts inbound messages;
``GET /_sandbox/inbound`` lists what came of every inbound message. Like every
``/_sandbox/`` route, these take no credentials: tests and demos only.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from dripsms.sandbox.ids import SANDBOX_MESSAGING_SERVICE_SID
from dripsms.sandbox.phones import delivery_json, shown_json
from dripsms.sandbox.state import Sandbox


class Text(BaseModel):
    """What a phone texts: a body and/or media, to a number or a Messaging Service."""

    body: str = ""
    media_urls: list[str] = Field(default_factory=list)
    to: str | None = None
    messaging_service_sid: str | None = None


class InboundUrl(BaseModel):
    """Where a Messaging Service posts inbound messages (``null``: nowhere)."""

    url: str | None
    messaging_service_sid: str = SANDBOX_MESSAGING_SERVICE_SID


def phone_routes(sandbox: Sandbox) -> APIRouter:
    """The phone simulator's routes over ``sandbox``."""
    router = APIRouter(prefix="/_sandbox", tags=["sandbox phones"])

    # Plain ``def`` routes run in a worker thread: the webhook is posted while the server
    # keeps answering, so the webhook's receiver may call the sandbox's API meanwhile.
    @router.post("/phones/{number}/messages")
    def text(number: str, sent: Text) -> dict[str, Any]:
        try:
            message = sandbox.receive(
                number,
                sent.body,
                to=sent.to,
                messaging_service_sid=sent.messaging_service_sid,
                media_urls=sent.media_urls,
            )
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        return delivery_json(sandbox.inbound_delivery(message.sid))

    @router.get("/phones/{number}")
    def screen(number: str) -> dict[str, Any]:
        return {
            "number": number,
            "opted_out_of": sandbox.opted_out_of(number),
            "messages": [shown_json(m) for m in sandbox.conversation(number)],
        }

    @router.get("/inbound-url")
    def read_inbound_urls() -> dict[str, Any]:
        return {"inbound_urls": sandbox.inbound_urls()}

    @router.post("/inbound-url")
    def set_inbound_url(change: InboundUrl) -> dict[str, Any]:
        try:
            sandbox.set_inbound_url(change.messaging_service_sid, change.url)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        return {"inbound_urls": sandbox.inbound_urls()}

    @router.get("/inbound")
    def every_delivery() -> dict[str, Any]:
        return {"deliveries": [delivery_json(d) for d in sandbox.inbound_deliveries()]}

    return router
