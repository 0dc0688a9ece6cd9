"""Canceling at Twilio what must no longer go out (a STOP, an unenrollment, a changed
path): every scheduled message with a cancel request, through the dispatcher's slots and
rate limit, before anything is claimed (a cancel frees a scheduling slot at Twilio).

Twilio's answer is what counts: a message it can no longer cancel (error 30409) is
fetched, and the row takes the status Twilio reports.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import datetime
from functools import partial

from sqlalchemy import Engine

from dripsms.core.states import TWILIO_STATUSES, MessageState, advance
from dripsms.engine.handoff import Slots
from dripsms.engine.ratelimit import TokenBucket
from dripsms.provider.base import NOT_CANCELABLE, Provider, ProviderError
from dripsms.store import messages as stored_messages
from dripsms.store import outbox

log = logging.getLogger(__name__)
S = MessageState
LIMIT = 10_000
"""Most cancel requests one pass makes (oldest first; the rest wait a pass)."""

Count = Callable[[str], None]
"""Counts one more of a pass's report field (thread-safe)."""


class Canceler:
    """Cancels at Twilio, ``concurrency`` calls at a time on ``pool``, under ``bucket``."""

    def __init__(
        self,
        engine: Engine,
        provider: Provider,
        bucket: TokenBucket,
        pool: Executor,
        concurrency: int,
    ) -> None:
        self.engine = engine
        self.provider = provider
        self.bucket = bucket
        self.pool = pool
        self.concurrency = concurrency

    def run(self, now: datetime, count: Count) -> None:
        """Cancel every requested cancel; a call that fails is tried again next pass."""
        with self.engine.connect() as connection:
            pending = outbox.cancel_requests(connection, limit=LIMIT)
        if not pending:
            return
        slots = Slots(self.pool, self.concurrency)
        try:
            for message_id, sid, _ in pending:
                slots.put(partial(self._cancel, message_id, sid, now, count))
        finally:
            slots.finish()

    def _cancel(self, message_id: int, sid: str, now: datetime, count: Count) -> None:
        self.bucket.acquire()
        try:
            status = self.provider.cancel(sid)
        except ProviderError as error:
            if error.code != NOT_CANCELABLE:
                log.info("cancel failed; will retry", extra={"message_id": message_id})
                return
            status = self._status_of(sid)
            count("cancel_too_late")
        self._apply_status(message_id, status, now, count)

    def _status_of(self, sid: str) -> str:
        self.bucket.acquire()
        try:
            return self.provider.fetch(sid).status
        except ProviderError:
            return "sent"

    def _apply_status(self, message_id: int, status: str, now: datetime, count: Count) -> None:
        target = TWILIO_STATUSES.get(status, S.SENT)
        with self.engine.begin() as connection:
            moved = outbox.move(
                connection, message_id, fence=None, source=S.SCHEDULED,
                target=advance(S.SCHEDULED, target), now=now, cause="cancel_requested",
                detail={"status": status}, cancel_requested_at=None,
            )  # fmt: skip
            if not moved:
                stored_messages.clear_cancel_request(connection, message_id)
        # Twilio's answer is what counts: its "canceled" callback may have been recorded
        # before this answer, so the row can be canceled already and ``moved`` false.
        if target is S.CANCELED:
            count("canceled")
