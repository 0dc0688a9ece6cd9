"""Turning a claimed message into what to do with it: a create to make, or a final state."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dripsms.core.backoff import backoff as retry_delay
from dripsms.core.context import template_context, typed_attributes
from dripsms.core.handoff import Decision, ProviderWindow, decide, too_late
from dripsms.core.sequence.model import Sequence
from dripsms.core.states import (
    NEVER_SENT,
    SENT_QUESTION,
    EnrollmentState,
    MessageKind,
    MessageState,
)
from dripsms.core.templates import evaluate, render
from dripsms.errors import TemplateError
from dripsms.store.outbox import Claimed, error_text

S = MessageState


@dataclass(frozen=True, slots=True)
class Create:
    """A create to make: the rendered body and, when scheduling, its SendAt."""

    message: Claimed
    body: str
    send_at: datetime | None
    messaging_service_sid: str
    closes: bool = False
    """A step that asks nothing: handed off to go now, its reply window closes with it."""


@dataclass(frozen=True, slots=True)
class Settle:
    """A message that is done (or goes back to wait) without calling Twilio."""

    message: Claimed
    target: MessageState
    cause: str
    counter: str
    values: Mapping[str, Any]


def claimed_attributes(sequence: Sequence, claimed: Claimed) -> dict[str, Any]:
    """Contact attributes overlaid with the enrollment's, typed by the sequence."""
    raw = {**claimed.contact_attributes, **claimed.enrollment_attributes}
    return typed_attributes(sequence, raw)


def prepare_handoff(
    claimed: Claimed,
    sequence: Sequence,
    replies: Mapping[str, Any],
    *,
    now: datetime,
    window: ProviderWindow,
    default_service: str | None,
) -> Create | Settle:
    """Decide what happens to a freshly claimed message at ``now``."""

    def settle(target: MessageState, cause: str, counter: str, **values: Any) -> Settle:
        return Settle(claimed, target, cause, counter, values)

    if claimed.kind != MessageKind.STEP:
        return _prepare_text(claimed, sequence, now, default_service, settle)
    if claimed.enrollment_state != EnrollmentState.ACTIVE:
        return settle(S.CANCELED, f"enrollment_{claimed.enrollment_state}", "canceled")
    if claimed.opted_out_at is not None:
        return settle(S.SUPPRESSED, "opted_out", "suppressed")
    step = sequence.step(claimed.step_id)
    zone = ZoneInfo(claimed.timezone)
    assert claimed.due_at is not None
    verdict = decide(
        claimed.due_at, now, window=window, max_delay=sequence.max_delay, zone=zone,
        send_window=sequence.send_window,
    )  # fmt: skip
    if verdict.decision is Decision.EXPIRE:
        return settle(S.EXPIRED, "missed_by_more_than_max_delay", "expired")
    if verdict.decision is Decision.WAIT:
        return settle(S.PLANNED, "not_yet", "waiting", next_attempt_at=claimed.due_at)
    if verdict.decision is Decision.DEFER:
        return settle(S.PLANNED, "quiet_hours", "deferred", due_at=verdict.at)
    context = template_context(
        sequence, step_id=step.id, attributes=claimed_attributes(sequence, claimed),
        phone=claimed.phone, zone=zone, replies=replies, external_id=claimed.external_id,
        enrolled_at=claimed.enrolled_at,
    )  # fmt: skip
    try:
        if step.when is not None and not evaluate(step.when, context):
            return settle(S.SKIPPED, "condition_false", "skipped")
        body = render(step.body, context)
    except TemplateError as exc:
        return settle(S.FAILED, "template_error", "failed", error_message=error_text(exc))
    if not body:
        return settle(S.FAILED, "empty_body", "failed", error_message="the body rendered empty")
    service = sequence.messaging_service_sid or default_service
    if not service:
        return _no_service(settle)
    send_at = verdict.at if verdict.decision is Decision.SCHEDULE else None
    # A step that asks nothing, sent now: its reply window closes as its answer is recorded.
    closes = step.expect_reply is None and send_at is None
    return Create(claimed, body, send_at, service, closes=closes)


def _no_service(settle: Callable[..., Settle]) -> Settle:
    """Neither the sequence nor the settings name a Messaging Service: nothing can go."""
    return settle(
        S.FAILED, "no_messaging_service", "failed",
        error_message="no Messaging Service SID: set DRIPSMS_MESSAGING_SERVICE_SID",
    )  # fmt: skip


def _prepare_text(
    claimed: Claimed,
    sequence: Sequence,
    now: datetime,
    default_service: str | None,
    settle: Callable[..., Settle],
) -> Create | Settle:
    """A text written already: a rule's answer to the contact, or a staff alert.

    It goes at once. A staff alert goes whatever became of the enrollment; an answer to a
    contact who has opted out is suppressed; one left behind for longer than the
    sequence's max_delay expires.
    """
    assert claimed.due_at is not None
    assert claimed.body is not None
    if claimed.kind != MessageKind.STAFF and claimed.opted_out_at is not None:
        return settle(S.SUPPRESSED, "opted_out", "suppressed")
    if too_late(claimed.due_at, now, sequence.max_delay):
        return settle(S.EXPIRED, "missed_by_more_than_max_delay", "expired")
    service = sequence.messaging_service_sid or default_service
    if not service:
        return _no_service(settle)
    return Create(claimed, claimed.body, None, service)


def backoff(attempts: int, retry_after: float | None, jitter: float) -> timedelta:
    """A handoff's wait before its next try: 2 s doubling, at most 10 min, jittered; never
    sooner than Twilio's ``Retry-After``."""
    delay = retry_delay(attempts, base=2.0, cap=600.0, jitter=jitter)
    return timedelta(seconds=max(delay, retry_after or 0.0))


def settled(
    sequence: Sequence,
    step_id: str,
    row: tuple[str, datetime | None, datetime | None] | None,
    replied: bool,
    now: datetime,
) -> bool:
    """Whether step ``step_id``'s reply is known for good: given, or never coming.

    A sent question is settled once its window is closed (``store.replies``: answered,
    given up, or elapsed and its ``on_no_reply`` run), never by a clock rule of its own.
    """
    if replied or row is None:
        return True
    state, due_at, closed_at = row
    if state in NEVER_SENT:
        return True
    expect = sequence.step(step_id).expect_reply
    if expect is None:
        return True
    if state in SENT_QUESTION:
        return closed_at is not None
    return due_at is not None and now >= due_at + expect.window
