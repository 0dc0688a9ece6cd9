"""A message's statuses and the path it takes once released, as Twilio reports them.

Twilio creates an outbound message ``queued`` (sent with ``From`` only), ``accepted``
(through a Messaging Service) or ``scheduled`` (with ``SendAt``), and sends no status
callback for that initial status. The sandbox collapses ``sending`` (Twilio does not
always report it either) and releases a due message in one step:

- delivered: [``queued``] → ``sent`` → ``delivered``
- undelivered (the carrier could not hand it over): [``queued``] → ``sent`` → ``undelivered``
- failed (it never left Twilio): [``queued``] → ``failed``

``queued`` is reported only when it is a change, i.e. not for a message created queued.
A ``scheduled`` message can instead become ``canceled``; terminal statuses never change.
An inbound message is ``received`` from the start and never changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    """The statuses the sandbox gives messages (all in Twilio's status enum)."""

    ACCEPTED = "accepted"
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    CANCELED = "canceled"
    RECEIVED = "received"


WAITING = frozenset({Status.ACCEPTED, Status.SCHEDULED, Status.QUEUED})
"""Statuses of a message not yet released: the sandbox moves them on when they are due."""
TERMINAL = frozenset(
    {Status.DELIVERED, Status.UNDELIVERED, Status.FAILED, Status.CANCELED, Status.RECEIVED}
)
"""Statuses that never change again."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a released message ends: delivered, or undelivered/failed with an error code."""

    status: Status = Status.DELIVERED
    error_code: int | None = None
    error_message: str | None = None


DELIVERED = Outcome()


def release_path(initial: Status, outcome: Outcome) -> list[Status]:
    """The statuses a due message passes through after ``initial``, each one a callback."""
    if initial not in WAITING:
        raise ValueError(f"a {initial} message is not waiting to be released")
    path = [] if initial is Status.QUEUED else [Status.QUEUED]
    if outcome.status is not Status.FAILED:
        path.append(Status.SENT)
    path.append(outcome.status)
    return path
