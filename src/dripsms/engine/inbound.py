"""One inbound text and what dripsms made of it: the values routing and matching pass
between them (frozen per-call facts in, a result out)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dripsms.core.states import ReplyKind

REVIEW_OPT_OUT = "possible opt-out: review"
NOT_A_PHONE = "the sender is not a phone number"


@dataclass(frozen=True, slots=True)
class Inbound:
    """One inbound text, as Twilio's webhook (or its message list) gives it."""

    message_sid: str
    from_phone: str
    body: str
    received_at: datetime
    to: str = ""
    opt_out_type: str | None = None
    params: tuple[tuple[str, str], ...] = ()
    """Twilio's webhook parameters as received (forwarded as they are to a Studio flow)."""


@dataclass(slots=True)
class InboundResult:
    """What dripsms did with a text, and the texts to answer with at once (TwiML)."""

    kind: str
    """A :class:`ReplyKind` (matched, followup, late, invalid, unmatched, opt_out, opt_in,
    help), or ``duplicate`` for a text handled before."""
    answers: list[str] = field(default_factory=list)
    enrollment_id: int | None = None
    step_id: str | None = None
    value: Any = None
    reason: str | None = None
    """Why an answer was invalid, or that a person should review it (a possible opt-out)."""
    message_id: int | None = None
    """The question's message, when the text was tied to one."""


DUPLICATE = "duplicate"
"""The kind of an :class:`InboundResult` for a ``MessageSid`` handled before (not stored)."""


@dataclass(frozen=True, slots=True)
class PossibleOptOut:
    """A text that may revoke consent in words: routing decides (STOP, or flag for review).

    ``result`` is what the text would be otherwise (its rules are not run).
    """

    result: InboundResult


@dataclass(frozen=True, slots=True)
class Call:
    """One inbound text being handled: the per-call facts, frozen and passed down."""

    inbound: Inbound
    sender: str | None
    """``From`` in E.164, or None when it is not a phone number (a short code, a name)."""

    @property
    def at(self) -> datetime:
        """When the text arrived."""
        return self.inbound.received_at


__all__ = [
    "DUPLICATE",
    "NOT_A_PHONE",
    "REVIEW_OPT_OUT",
    "Call",
    "Inbound",
    "InboundResult",
    "PossibleOptOut",
    "ReplyKind",
]
