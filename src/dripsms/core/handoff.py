"""When and how a message goes to Twilio: schedule it, send it now, keep it, or let it go.

Pure: the dispatcher passes the clock's reading in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from dripsms.core.sequence.model import SendWindow
from dripsms.core.timeline import next_allowed


@dataclass(frozen=True, slots=True)
class ProviderWindow:
    """How far ahead the provider accepts a ``SendAt``, with a margin on both ends.

    The margin covers a request's time in flight and clock skew, so that a ``SendAt``
    computed here is still inside the window when Twilio checks it.
    """

    min_lead: timedelta = timedelta(minutes=15)
    horizon: timedelta = timedelta(days=7)
    margin: timedelta = timedelta(minutes=2)

    def __post_init__(self) -> None:
        if self.min_lead + 2 * self.margin >= self.horizon:
            raise ValueError("the scheduling window is empty: min_lead + margins >= horizon")

    def earliest(self, now: datetime) -> datetime:
        """The soonest ``SendAt`` to ask for."""
        return now + self.min_lead + self.margin

    def latest(self, now: datetime) -> datetime:
        """The latest ``SendAt`` to ask for."""
        return now + self.horizon - self.margin


class Decision(StrEnum):
    """What to do with a message whose turn has come."""

    SCHEDULE = "schedule"
    """Inside the window: create it with ``SendAt`` = its due time."""
    SEND_NOW = "send_now"
    """Due sooner than the minimum lead, or missed by less than max_delay: send at once."""
    WAIT = "wait"
    """Beyond the horizon: keep it here for a later pass."""
    DEFER = "defer"
    """Missed, but sending now would break quiet hours: move it to the next allowed time."""
    EXPIRE = "expire"
    """Missed by more than max_delay."""


def latest_send(due_at: datetime, max_delay: timedelta) -> datetime:
    """The last instant a message due at ``due_at`` may still go out."""
    return due_at + max_delay


def too_late(due_at: datetime, now: datetime, max_delay: timedelta) -> bool:
    """Whether a message is missed for good at ``now``: past its :func:`latest_send`.

    The one rule for expiry at handoff and for ``missed`` at enrollment.
    """
    return now > latest_send(due_at, max_delay)


@dataclass(frozen=True, slots=True)
class Verdict:
    """A decision and, for SCHEDULE, the ``SendAt``; for DEFER, the new due time."""

    decision: Decision
    at: datetime | None = None


def decide(
    due_at: datetime,
    now: datetime,
    *,
    window: ProviderWindow,
    max_delay: timedelta,
    zone: ZoneInfo,
    send_window: SendWindow,
) -> Verdict:
    """Decide a message's handoff at ``now`` (all instants aware)."""
    if due_at > window.latest(now):
        return Verdict(Decision.WAIT)
    if due_at >= window.earliest(now):
        return Verdict(Decision.SCHEDULE, due_at)
    if due_at >= now:
        if next_allowed(now, zone, send_window) > now:
            return Verdict(Decision.WAIT)  # early would be inside quiet hours: go when due
        return Verdict(Decision.SEND_NOW)
    if too_late(due_at, now, max_delay):
        return Verdict(Decision.EXPIRE)
    allowed = next_allowed(now, zone, send_window)
    if allowed > now:
        return Verdict(Decision.DEFER, allowed)
    return Verdict(Decision.SEND_NOW)
