"""What the sandbox knows about recipients: opted out, landlines, handsets that never receive."""

from __future__ import annotations

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
    """Numbers the sandbox treats specially; everything else is a mobile that receives."""

    opted_out: set[str] = field(default_factory=set)
    landlines: set[str] = field(default_factory=set)
    undeliverable: dict[str, Outcome] = field(default_factory=dict)

    def refuse(self, to: str) -> None:
        """Raise what Twilio answers a create to an opted-out (21610) or landline (21614) number."""
        if to in self.opted_out:
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

    def outcome(self, to: str) -> Outcome:
        """How a message released now to ``to`` ends.

        A recipient who opted out after a message was scheduled makes it fail with 21610:
        Twilio does not cancel scheduled messages on STOP, the application must.
        """
        if to in self.opted_out:
            return Outcome(Status.FAILED, OPTED_OUT, DELIVERY_ERRORS[OPTED_OUT])
        return self.undeliverable.get(to, DELIVERED)
