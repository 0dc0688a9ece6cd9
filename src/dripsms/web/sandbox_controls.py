"""``/v1/sandbox/*``: the virtual clock and the phone simulator of a ``dripsms run`` in
sandbox mode, for ``dripsms clock`` and ``dripsms sandbox reply``.

Mounted only when the process started a sandbox (no Twilio credentials): with real Twilio
these paths answer 404. A caller presents the run's control token (from the run file) or
one of ``DRIPSMS_API_TOKENS``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBasicCredentials
from pydantic import BaseModel, ConfigDict, Field, model_validator

from dripsms.core.durations import parse_duration
from dripsms.engine.sandbox_session import SandboxSession
from dripsms.web.auth import BASIC, BEARER, check_token
from dripsms.web.dependencies import ServicesDep
from dripsms.web.problems import BadValue


def session_of(services: ServicesDep) -> SandboxSession:
    """The run's sandbox session (the router is mounted only when there is one)."""
    session = services.runtime.sandbox_session
    if session is None:
        raise HTTPException(404, "no sandbox in this process: these routes exist in sandbox mode")
    return session


Session = Annotated[SandboxSession, Depends(session_of)]


def require_control_token(
    services: ServicesDep,
    session: Session,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
    basic: Annotated[HTTPBasicCredentials | None, Depends(BASIC)],
) -> None:
    """401 unless the request carries the run's control token or an API token."""
    tokens = [session.token, *services.api_tokens]
    check_token(bearer, basic, tokens, missing="send the run's control token")


router = APIRouter(
    prefix="/v1/sandbox", tags=["sandbox"], dependencies=[Depends(require_control_token)]
)


class ClockChange(BaseModel):
    """Move the virtual clock forward: by ``advance`` (``30m``, ``1h``, ``1d``, ``2d12h``)
    or ``to`` the next due message (``"next"``)."""

    model_config = ConfigDict(extra="forbid")
    advance: str | None = Field(None, max_length=32, examples=["1d"])
    to: str | None = Field(None, max_length=32, examples=["next"])

    @model_validator(mode="after")
    def _exactly_one(self) -> ClockChange:
        if (self.advance is None) == (self.to is None):
            raise ValueError("give either 'advance' (e.g. \"1d\") or 'to' (\"next\")")
        return self


class PhoneText(BaseModel):
    """A sandbox phone texts dripsms's number."""

    model_config = ConfigDict(extra="forbid")
    phone: str = Field(max_length=32, examples=["+14155550100"])
    text: str = Field(max_length=1600, examples=["8"])


@router.get("/clock", summary="The virtual clock and the next due message")
def read_clock(session: Session) -> dict[str, Any]:
    return session.status()


@router.post("/clock", summary="Move the virtual clock forward")
def move_clock(change: ClockChange, session: Session) -> dict[str, Any]:
    if change.to is not None:
        if change.to.strip().lower() != "next":
            raise BadValue("to", 'the only target is "next" (the next due message)')
        return session.to_next_due().as_json()
    assert change.advance is not None
    try:
        step = parse_duration(change.advance)
    except ValueError as exc:
        raise BadValue("advance", str(exc)) from None
    return session.advance(step).as_json()


@router.post("/replies", summary="A sandbox phone texts dripsms (a signed inbound webhook)")
def phone_texts(text: PhoneText, session: Session) -> dict[str, Any]:
    return session.reply(text.phone, text.text).as_json()
