"""What the sandbox knows about recipients: opted out, landlines, handsets that never receive."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from dripsms.sandbox.errors import ApiError
from dripsms.sandbox.lifecycle import DELIVERED, Outcome, Status

OPTED_OUT = 21610
DELIVERY_ERRORS = {
    30003: "Unreachable destination handset",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
    30008: "Unknown error",
    OPTED_OUT: "Attempt to send to unsubscribed recipient",
}
"""Error codes a released message can end with, and Twilio's names for them."""


@dataclass(slots=True)
class Recipients:
    """Numbers the sandbox treats specially; everything else is a mobile that receives.

    An opt-out is either of a Messaging Service (the number texted STOP to it: Twilio
    blocks that service, whichever of its senders is used) or, set by hand, of every
    sender (``opted_out``). ``scopes`` name the services a message goes through.
    """

    opted_out: set[str] = field(default_factory=set)
    opted_out_of: dict[str, set[str]] = field(default_factory=dict)
    """Messaging Service SID → the numbers that opted out of it."""
    landlines: set[str] = field(default_factory=set)
    undeliverable: dict[str, Outcome] = field(default_factory=dict)

    def opt_out(self, number: str, scope: str | None = None) -> None:
        """``number`` opts out of the Messaging Service ``scope``, or of everything."""
        if scope is None:
            self.opted_out.add(number)
        else:
            self.opted_out_of.setdefault(scope, set()).add(number)

    def opt_in(self, number: str, scope: str | None = None) -> None:
        """``number`` opts back in to ``scope`` (and lifts an opt-out of everything), or to all."""
        self.opted_out.discard(number)
        for service, numbers in self.opted_out_of.items():
            if scope is None or service == scope:
                numbers.discard(number)

    def is_opted_out(self, number: str, scopes: Iterable[str] = ()) -> bool:
        """Whether a message to ``number`` through ``scopes`` is blocked (21610)."""
        return number in self.opted_out or any(
            number in self.opted_out_of.get(scope, ()) for scope in scopes
        )

    def services_opted_out(self, number: str) -> list[str]:
        """The Messaging Services ``number`` opted out of, sorted."""
        return sorted(s for s, numbers in self.opted_out_of.items() if number in numbers)

    def refuse(self, to: str, scopes: Iterable[str] = ()) -> None:
        """Raise what Twilio answers a create to an opted-out (21610) or landline (21614) number."""
        if self.is_opted_out(to, scopes):
            raise ApiError(OPTED_OUT, DELIVERY_ERRORS[OPTED_OUT])
        if to in self.landlines:
            raise ApiError(21614, f"'To' number {to} is not a valid mobile number")

    def mark_undeliverable(
        self, number: str, error_code: int = 30003, status: Status = Status.UNDELIVERED
    ) -> None:
        """Messages released to ``number`` end ``status`` (undelivered or failed) with the code."""
        if status not in (Status.UNDELIVERED, Status.FAILED):
            raise ValueError(f"an undeliverable number ends undelivered or failed, not {status}")
        message = DELIVERY_ERRORS.get(error_code, "Message delivery failed")
        self.undeliverable[number] = Outcome(status, error_code, message)

    def outcome(
        self, to: str, scopes: Iterable[str] = (), *, keyword_reply: bool = False
    ) -> Outcome:
        """How a message released now to ``to`` through ``scopes`` ends.

        A recipient who opted out after a message was scheduled makes it fail with 21610:
        Twilio does not cancel scheduled messages on STOP, the application must. Twilio's
        own answer to a keyword (``keyword_reply``) reaches an opted-out number.
        """
        if not keyword_reply and self.is_opted_out(to, scopes):
            return Outcome(Status.FAILED, OPTED_OUT, DELIVERY_ERRORS[OPTED_OUT])
        return self.undeliverable.get(to, DELIVERED)
