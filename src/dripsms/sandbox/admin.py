"""``/_sandbox/`` admin routes: the clock, every message (and forgetting one), faults,
recipients, reset.

They take no Twilio credentials and exist for tests and demos only: never expose a
sandbox where anyone but you can reach it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field, model_validator

from dripsms.sandbox.faults import FaultConfig
from dripsms.sandbox.lifecycle import Status
from dripsms.sandbox.state import Sandbox
from dripsms.sandbox.wire import iso_instant, message_json


class ClockChange(BaseModel):
    """Set the clock (``now``, an instant with a zone) or move it forward (``advance``, seconds)."""

    now: datetime | None = None
    advance: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _exactly_one(self) -> ClockChange:
        if (self.now is None) == (self.advance is None):
            raise ValueError("give either 'now' or 'advance'")
        if self.now is not None and self.now.tzinfo is None:
            raise ValueError("'now' needs a zone: end it with Z or an offset")
        return self


class Number(BaseModel):
    """One phone number, E.164."""

    number: str


class OptOut(Number):
    """A number opting out or in: of one Messaging Service, or (``null``) of every sender."""

    messaging_service_sid: str | None = None


class Undeliverable(Number):
    """A number whose messages end undelivered or failed with ``error_code``."""

    error_code: int = 30003
    status: Literal["undelivered", "failed"] = "undelivered"


def admin_routes(sandbox: Sandbox) -> APIRouter:
    """The admin routes over ``sandbox``."""
    router = APIRouter(prefix="/_sandbox", tags=["sandbox admin"])

    def clock() -> dict[str, Any]:
        return {"now": iso_instant(sandbox.now())}

    @router.get("/clock")
    def read_clock() -> dict[str, Any]:
        return clock()

    @router.post("/clock")
    def change_clock(change: ClockChange) -> dict[str, Any]:
        if change.now is not None:
            sandbox.set_now(change.now)
        elif change.advance is not None:
            sandbox.advance(change.advance)
        return clock()

    @router.get("/messages")
    def every_message() -> dict[str, Any]:
        return {
            "messages": [
                {
                    **message_json(m),
                    "send_at": iso_instant(m.send_at),
                    "status_callback": m.status_callback,
                }
                for m in sandbox.messages()
            ],
            "creates": sandbox.creates,
            "creates_by_recipient": [
                {"to": to, "body": body, "count": count}
                for (to, body), count in sandbox.creates_by_recipient().items()
            ],
        }

    @router.delete("/messages/{sid}")
    def forget_message(sid: str) -> dict[str, Any]:
        try:
            sandbox.forget_message(sid)
        except KeyError:
            raise HTTPException(404, f"no message {sid}") from None
        return {"sid": sid, "forgotten": True}

    @router.get("/callbacks")
    def every_callback() -> dict[str, Any]:
        return {"callbacks": [{"url": c.url, "params": c.form} for c in sandbox.callbacks]}

    @router.get("/faults")
    def read_faults() -> dict[str, Any]:
        return sandbox.faults.config.model_dump(mode="json")

    @router.post("/faults")
    def set_faults(config: FaultConfig) -> dict[str, Any]:
        sandbox.faults.configure(config)
        return config.model_dump(mode="json")

    @router.post("/reset")
    def reset() -> dict[str, Any]:
        sandbox.reset()
        return clock()

    @router.post("/opt-out")
    def opt_out(body: OptOut) -> dict[str, Any]:
        sandbox.opt_out(body.number, body.messaging_service_sid)
        return {"number": body.number, "opted_out_of": sandbox.opted_out_of(body.number)}

    @router.post("/opt-in")
    def opt_in(body: OptOut) -> dict[str, Any]:
        sandbox.opt_in(body.number, body.messaging_service_sid)
        return {"number": body.number, "opted_out_of": sandbox.opted_out_of(body.number)}

    @router.post("/landline")
    def landline(body: Number) -> dict[str, Any]:
        sandbox.add_landline(body.number)
        return {"number": body.number, "landline": True}

    @router.post("/undeliverable")
    def undeliverable(body: Undeliverable) -> dict[str, Any]:
        try:
            sandbox.mark_undeliverable(body.number, body.error_code, Status(body.status))
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        return body.model_dump()

    return router
