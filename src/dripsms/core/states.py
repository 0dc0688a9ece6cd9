"""The life of a message, as an explicit state machine.

```
planned ──▶ handing_off ──▶ scheduled ──▶ queued/sending ──▶ sent ──▶ delivered/undelivered/failed
   │             │              └──▶ canceled
   │             └──▶ queued (sent now) ──▶ ...
   ├──▶ skipped (condition false)   ├──▶ suppressed (opted out)   └──▶ expired (missed)
blocked ──▶ planned (its reply came, its window closed, a goto reached it)
missed (already past its latest send time at enrollment: written so, never sent)
scheduled/queued/sending ──(Twilio answers 404 at reconciliation)──▶ lost ──▶ sent/delivered/...
```

States after a handoff come from Twilio's answers and status callbacks. They only move
forward (a late ``sent`` never undoes ``delivered``) and terminal states never change.
"""

from __future__ import annotations

from enum import StrEnum

from dripsms.errors import InvariantBroken


class MessageState(StrEnum):
    """Where one planned text is."""

    PLANNED = "planned"
    """Has a due time; waits until it enters Twilio's scheduling window."""
    BLOCKED = "blocked"
    """Waits on a reply, a goto or a condition before it can be planned."""
    HANDING_OFF = "handing_off"
    """Claimed by a dispatcher; a create call may be in flight (outcome unknown)."""
    SCHEDULED = "scheduled"
    """Held by Twilio until its SendAt."""
    QUEUED = "queued"
    """Given to Twilio to send now (Twilio's accepted or queued)."""
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    CANCELED = "canceled"
    SKIPPED = "skipped"
    """Its condition was false at handoff."""
    SUPPRESSED = "suppressed"
    """The contact opted out before it went out."""
    EXPIRED = "expired"
    """Missed by more than the sequence's max_delay."""
    MISSED = "missed"
    """Already past its latest send time (due + max_delay) when the contact was enrolled.

    Written as such at enrollment (a state a message starts in, never moves to) and terminal.
    """
    LOST = "lost"
    """Twilio no longer knows its SID (404 at status reconciliation); alerted. Not terminal:
    a status callback that still comes moves it on."""


class MessageKind(StrEnum):
    """What an outbox row is."""

    STEP = "step"
    """A step of the sequence."""
    TEXT = "text"
    """A rule's answer (``send``), sent through the outbox."""
    STAFF = "staff"
    """An alert to a notify target's phone."""
    SUPERSEDED = "superseded"
    """A step re-planned after its anchor moved (canceled at Twilio)."""


class ReplyKind(StrEnum):
    """What an inbound text became (see docs/conversations.md)."""

    MATCHED = "matched"
    INVALID = "invalid"
    FOLLOWUP = "followup"
    LATE = "late"
    UNMATCHED = "unmatched"
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"


class EnrollmentState(StrEnum):
    """Where an enrollment stands."""

    ACTIVE = "active"
    COMPLETED = "completed"
    """Nothing left to send and no reply window open."""
    EXITED = "exited"
    """Ended by a rule (``exit``) or an opt-out."""
    CANCELED = "canceled"
    """Ended by a person (unenroll)."""


class NotificationState(StrEnum):
    """Where a notify webhook stands (see :mod:`dripsms.engine.notifier`)."""

    PENDING = "pending"
    """Due at its ``next_attempt_at``; retried until it is delivered or given up."""
    DELIVERED = "delivered"
    """The receiver answered 2xx."""
    FAILED = "failed"
    """Given up after the last attempt."""


S = MessageState

TERMINAL = frozenset(
    {S.DELIVERED, S.UNDELIVERED, S.FAILED, S.CANCELED, S.SKIPPED, S.SUPPRESSED, S.EXPIRED}
    | {S.MISSED}
)
AT_PROVIDER = frozenset({S.SCHEDULED, S.QUEUED, S.SENDING, S.SENT})
"""States in which Twilio holds the message (and its SID is known)."""
NOT_HANDED_OFF = frozenset({S.PLANNED, S.BLOCKED})
INITIAL = frozenset({S.PLANNED, S.BLOCKED, S.MISSED})
"""The states a message is created in; ``missed`` is reached no other way."""
IN_FLIGHT = frozenset({S.SCHEDULED, S.QUEUED, S.SENDING})
"""At Twilio and not yet out: status reconciliation asks Twilio about these once overdue."""
SENT_QUESTION = frozenset({S.SCHEDULED, S.QUEUED, S.SENDING, S.SENT, S.DELIVERED})
"""A step message in one of these went out (or will, at its SendAt): its reply may come."""
NEVER_SENT = frozenset(
    {S.SKIPPED, S.EXPIRED, S.FAILED, S.CANCELED, S.SUPPRESSED, S.UNDELIVERED, S.MISSED}
)
"""A step message in one of these never reached the contact: no reply to wait for."""

_AFTER_HANDOFF = {S.QUEUED, S.SENDING, S.SENT, S.DELIVERED, S.UNDELIVERED, S.FAILED}
_STOPPED_BEFORE = {S.SKIPPED, S.SUPPRESSED, S.EXPIRED, S.CANCELED}

TRANSITIONS: dict[MessageState, frozenset[MessageState]] = {
    S.PLANNED: frozenset({S.HANDING_OFF, S.BLOCKED, S.PLANNED, *_STOPPED_BEFORE}),
    S.BLOCKED: frozenset({S.PLANNED, *_STOPPED_BEFORE}),
    # A lost answer is settled by reconciliation or by a status callback, in any state.
    # Claimed messages are decided in handing_off: they may also be stopped before the call.
    S.HANDING_OFF: frozenset(
        {S.PLANNED, S.HANDING_OFF, S.SCHEDULED, *_STOPPED_BEFORE, *_AFTER_HANDOFF}
    ),
    S.SCHEDULED: frozenset({S.CANCELED, S.LOST, *_AFTER_HANDOFF}),
    S.QUEUED: frozenset({S.LOST, *(_AFTER_HANDOFF - {S.QUEUED})}),
    S.SENDING: frozenset({S.SENT, S.DELIVERED, S.UNDELIVERED, S.FAILED, S.LOST}),
    S.SENT: frozenset({S.DELIVERED, S.UNDELIVERED, S.FAILED}),
    # Twilio forgot the SID; a callback it still sends is the better news.
    S.LOST: frozenset({S.SENT, S.DELIVERED, S.UNDELIVERED, S.FAILED}),
    **{state: frozenset() for state in TERMINAL},
}

_PROGRESS = {
    S.SCHEDULED: 1,
    S.QUEUED: 2,
    S.SENDING: 3,
    S.SENT: 4,
    S.DELIVERED: 5,
    S.UNDELIVERED: 5,
    S.FAILED: 5,
    S.CANCELED: 5,
}

TWILIO_STATUSES: dict[str, MessageState] = {
    "scheduled": S.SCHEDULED,
    "accepted": S.QUEUED,
    "queued": S.QUEUED,
    "sending": S.SENDING,
    "sent": S.SENT,
    "delivered": S.DELIVERED,
    "read": S.DELIVERED,
    "undelivered": S.UNDELIVERED,
    "failed": S.FAILED,
    "canceled": S.CANCELED,
    "partially_delivered": S.DELIVERED,
}
"""Twilio's message statuses mapped onto ours."""


class IllegalTransition(InvariantBroken):
    """A message cannot move from one state to another."""

    def __init__(self, current: MessageState, target: MessageState) -> None:
        super().__init__(f"a message cannot go from {current} to {target}")
        self.current = current
        self.target = target


def can_move(current: MessageState, target: MessageState) -> bool:
    """Whether ``current`` may become ``target``."""
    return target in TRANSITIONS[current]


def transition(current: MessageState, target: MessageState) -> MessageState:
    """``target`` when the move is legal; raises :class:`IllegalTransition` otherwise."""
    if not can_move(current, target):
        raise IllegalTransition(current, target)
    return target


def advance(current: MessageState, reported: MessageState) -> MessageState:
    """The state after Twilio reports ``reported``: forward only, terminal states kept.

    Status callbacks arrive out of order and more than once; applying any permutation of
    them with this function ends in the furthest state reported.
    """
    if current in TERMINAL:
        return current
    if current in NOT_HANDED_OFF or current is S.HANDING_OFF:
        return reported if can_move(S.HANDING_OFF, reported) else current
    if _PROGRESS.get(reported, 0) > _PROGRESS.get(current, 0) and can_move(current, reported):
        return reported
    return current
