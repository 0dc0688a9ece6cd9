"""What a dispatcher pass did, counted."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(slots=True)
class TickReport:
    """Counts of what one dispatcher pass did to messages."""

    scheduled: int = 0
    """Created at Twilio with SendAt."""
    sent_now: int = 0
    """Created at Twilio to go out at once."""
    adopted: int = 0
    """An earlier create whose answer was lost, found at Twilio and tied to its row."""
    retrying: int = 0
    """Failed for a passing reason; will be tried again."""
    unknown: int = 0
    """Outcome not known yet (no answer, a 5xx); reconciled before any retry."""
    failed: int = 0
    skipped: int = 0
    expired: int = 0
    suppressed: int = 0
    canceled: int = 0
    """Canceled here (never handed off) or at Twilio."""
    cancel_too_late: int = 0
    """Asked to cancel, but Twilio had already released the message."""
    deferred: int = 0
    """Moved to the next allowed time (quiet hours)."""
    waiting: int = 0
    """Handed back to wait for a later pass."""
    released: int = 0
    """Blocked messages whose awaited replies came in (or never will): planned now."""
    no_reply: int = 0
    """Questions whose window closed unanswered: their on_no_reply ran."""
    completed: int = 0
    """Enrollments ended: nothing left to send, no reply window open."""
    notified: int = 0
    """Notify webhooks acknowledged."""
    notify_retrying: int = 0
    recovered: int = 0
    """Replies the webhook missed, fetched from Twilio and handled."""
    lost_lease: int = 0
    """A result that arrived after another dispatcher took the message over."""
    reconciled: int = 0
    """Overdue messages whose status was fetched from Twilio and moved on (a lost callback)."""
    still_in_flight: int = 0
    """Overdue messages Twilio still has in flight: asked about again later."""
    reconcile_failed: int = 0
    """Status fetches that failed; asked again later."""
    lost: int = 0
    """Messages Twilio no longer knows (404 on fetch): marked ``lost`` and alerted."""

    def add(self, field: str, count: int = 1) -> None:
        """Count ``count`` more of ``field``."""
        setattr(self, field, getattr(self, field) + count)

    def as_json(self) -> dict[str, Any]:
        """The counts, for ``--json``."""
        return asdict(self)

    @property
    def handed_off(self) -> int:
        """Messages that reached Twilio in this pass."""
        return self.scheduled + self.sent_now + self.adopted
