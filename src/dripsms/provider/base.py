"""What the engine needs from an SMS provider, and how its failures are classified."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from dripsms.errors import Unavailable

OPTED_OUT = 21610
PERMANENT_CODES = frozenset({21211, 21214, 21408, 21610, 21612, 21614, 21606, 30004, 30006})
WINDOW_CODES = frozenset({35114, 35115})
NOT_CANCELABLE = 30409
SCHEDULE_LIMIT = 35125
NOT_FOUND = 20404


@dataclass(frozen=True, slots=True)
class Handoff:
    """Twilio's answer to a create: the message's SID and first status."""

    sid: str
    status: str


@dataclass(frozen=True, slots=True)
class ProviderMessage:
    """A message as the provider lists it (for reconciliation)."""

    sid: str
    to: str
    body: str
    status: str
    messaging_service_sid: str | None
    date_created: datetime | None
    from_: str | None = None
    date_sent: datetime | None = None
    error_code: int | None = None


class ProviderError(Unavailable):
    """A provider call failed; the flags say what may be done about it.

    ``retryable``: trying again later may work. ``outcome_unknown``: the request may have
    been carried out (a 5xx, a timeout or a reset after the request was sent), so a
    create must be reconciled before any retry.
    """

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        status: int | None = None,
        retryable: bool = False,
        outcome_unknown: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.retryable = retryable
        self.outcome_unknown = outcome_unknown
        self.retry_after = retry_after

    @property
    def outside_window(self) -> bool:
        """Twilio refused the SendAt as too soon or too far."""
        return self.code in WINDOW_CODES

    @property
    def not_found(self) -> bool:
        """Twilio has no such resource (HTTP 404, 20404): e.g. a message it no longer knows."""
        return self.code == NOT_FOUND or self.status == 404


def http_error(
    status: int,
    code: int | None,
    message: str,
    *,
    creates: bool,
    retry_after: float | None = None,
) -> ProviderError:
    """An HTTP error answer as the :class:`ProviderError` the engine acts on.

    The one mapping, shared by the SDK path and :class:`dripsms.testing.FakeProvider`:
    a 429 is retryable (after ``retry_after``), a 5xx is retryable and leaves a create's
    outcome unknown, a 408/409 is retryable unless its code is permanent, the rest is not.
    """
    text = f"Twilio {status} ({code}): {message}"
    if status == 429 or code == 20429:
        return ProviderError(
            text, code=code, status=status, retryable=True, retry_after=retry_after
        )
    if status >= 500:
        return ProviderError(
            text, code=code, status=status, retryable=True, outcome_unknown=creates
        )
    return ProviderError(
        text,
        code=code,
        status=status,
        retryable=code not in PERMANENT_CODES and status in (408, 409),
    )


def no_answer_error(name: str, *, creates: bool) -> ProviderError:
    """A request sent but never answered (a read timeout, a broken response): a create's
    outcome is unknown."""
    return ProviderError(f"no answer: {name}", retryable=True, outcome_unknown=creates)


class Provider(Protocol):
    """The calls the engine makes to an SMS provider."""

    def create(
        self,
        *,
        to: str,
        body: str,
        messaging_service_sid: str,
        send_at: datetime | None,
        status_callback: str | None,
    ) -> Handoff:
        """Create a message: scheduled when ``send_at`` is given, sent now otherwise."""
        ...

    def cancel(self, sid: str) -> str:
        """Cancel a scheduled message; answers its status after the call."""
        ...

    def fetch(self, sid: str) -> ProviderMessage:
        """One message by SID."""
        ...

    def recent(self, *, to: str, limit: int = 50) -> list[ProviderMessage]:
        """The newest messages to a number, newest first."""
        ...

    def received(self, *, to: str, since: datetime) -> list[ProviderMessage]:
        """Inbound messages to one of our numbers sent since ``since`` (day granularity)."""
        ...
