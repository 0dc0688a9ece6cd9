"""One message as the sandbox keeps it: an immutable snapshot, replaced on change."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from dripsms.sandbox.lifecycle import Status


class Direction(StrEnum):
    """Which way a message goes, with Twilio's names (the Message resource's ``direction``)."""

    INBOUND = "inbound"
    """A phone texted one of the service's numbers."""
    OUTBOUND_API = "outbound-api"
    """Created through the REST API."""
    OUTBOUND_REPLY = "outbound-reply"
    """Created in answer to an inbound message: TwiML ``<Message>`` or a keyword reply."""


@dataclass(frozen=True, slots=True)
class Message:
    """A Message resource with what the sandbox needs besides Twilio's fields."""

    sid: str
    account_sid: str
    to: str
    from_: str
    messaging_service_sid: str | None
    body: str
    media_urls: tuple[str, ...]
    num_segments: int
    status: Status
    date_created: datetime
    date_updated: datetime
    sequence: int
    """Creation order: orders messages created at the same instant (the clock may stand still)."""
    date_sent: datetime | None = None
    send_at: datetime | None = None
    status_callback: str | None = None
    validity_period: int = 36_000
    error_code: int | None = None
    error_message: str | None = None
    direction: Direction = Direction.OUTBOUND_API
    keyword_reply: bool = False
    """Twilio's own answer to STOP, START or HELP: it reaches a number that opted out."""

    @property
    def due_at(self) -> datetime:
        """When the message is to be released: its ``SendAt``, else its creation."""
        return self.send_at or self.date_created

    def evolve(self, **changes: Any) -> Message:
        """A copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)
