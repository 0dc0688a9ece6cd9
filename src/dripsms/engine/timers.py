"""Reply windows that close unanswered: ``on_no_reply`` runs once, from the dispatcher.

No process sleeps for a day waiting: each pass asks ``store.replies`` (the one rule of
when a window is open) for sent questions whose window has run out without being closed,
runs their ``on_no_reply`` actions (texts go to the outbox) and closes them. Then the
enrollments that may have finished (a window just closed, and a rolling slice of the
others) end ``completed`` when nothing is left to send and no window is open.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection

from dripsms.core.sequence.model import Sequence
from dripsms.core.states import EnrollmentState
from dripsms.engine.actions import ActionRunner, Trigger, complete_finished
from dripsms.engine.conversations import Conversations
from dripsms.store.replies import (
    active_enrollments_after,
    close_many,
    close_question,
    load_position,
    save_position,
    unclosed,
)

COMPLETION_SCAN = "completion_scan"
SCAN_SLICE = 500
"""Active enrollments looked at per scan for completion, besides those just touched."""
SCAN_EVERY = timedelta(minutes=1)
"""How often the rolling completion scan runs: a safety net, not on every pass (the
enrollments a pass touches are checked at once)."""
MAX_PAGES = 20


LEAD = timedelta(minutes=17)
"""The default minimum lead plus margin: a message due sooner than this is sent at once."""


def close_reply_windows(
    conversations: Conversations, *, now: datetime, limit: int = 1000, lead: timedelta = LEAD
) -> int:
    """Run ``on_no_reply`` for every question whose window closed unanswered; how many."""
    return run_reply_timers(conversations, now=now, limit=limit, lead=lead)["no_reply"]


def run_reply_timers(
    conversations: Conversations, *, now: datetime, limit: int = 1000, lead: timedelta = LEAD
) -> dict[str, int]:
    """Close run-out windows, then complete finished enrollments; counts of each.

    ``lead``: how far ahead of its due time a message may go out (the provider window's
    minimum lead and margin: sooner than that it is sent at once).
    """
    handled = 0
    touched: set[int] = set()
    with conversations.engine.begin() as connection:
        skipped = 0  # windows still open stay in the listing: page past them
        for _ in range(MAX_PAGES):
            page_handled, still_open, seen = _close_page(
                conversations, connection, now, now + lead, limit, skipped, touched
            )
            handled += page_handled
            skipped += still_open
            if seen < limit:
                break
        batch: list[int] = []
        after, scanned_at = load_position(connection, COMPLETION_SCAN)
        if scanned_at is None or now - scanned_at >= SCAN_EVERY or now < scanned_at:
            batch = active_enrollments_after(connection, after, SCAN_SLICE)
            position = batch[-1] if len(batch) == SCAN_SLICE else 0
            save_position(connection, COMPLETION_SCAN, position, now)
        completed = complete_finished(connection, sorted(touched | set(batch)), now)
    return {"no_reply": handled, "completed": completed}


def _close_page(
    conversations: Conversations,
    connection: Connection,
    now: datetime,
    due_by: datetime,
    limit: int,
    offset: int,
    touched: set[int],
) -> tuple[int, int, int]:
    """(on_no_reply runs, windows still open, rows seen) for one page."""
    library = conversations.library

    def pinned(digest: str, text: str, key: str) -> Sequence:
        return library.pinned(digest, text, key).sequence

    questions, others = unclosed(
        connection, pinned, at=now, due_by=due_by, limit=limit, offset=offset
    )
    # Steps that ask nothing: no window to wait for; their enrollment may be done now.
    close_many(connection, (message_id for message_id, _ in others), now)
    touched.update(enrollment_id for _, enrollment_id in others)
    handled = still_open = 0
    for question in questions:
        if question.enrollment_state == EnrollmentState.ACTIVE and not question.has_elapsed(now):
            still_open += 1
            continue
        if not close_question(connection, question.message_id, now):
            continue
        if question.enrollment_state != EnrollmentState.ACTIVE:
            continue
        touched.add(question.enrollment_id)
        if question.answered or not question.step.on_no_reply:
            continue
        context = conversations.context_for(connection, question, reply=None)
        trigger = Trigger("noreply", question.phone, None, now, reason="no_reply")
        public_url = conversations.config.public_url
        runner = ActionRunner(
            library, connection, question, context, trigger, answer=False, public_url=public_url
        )
        runner.run(question.step.on_no_reply)
        handled += 1
    return handled, still_open, len(questions) + len(others)
