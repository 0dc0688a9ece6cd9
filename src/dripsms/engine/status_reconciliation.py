"""Status reconciliation: repairing status callbacks that never came.

Twilio posts each status change once and does not retry a failed post, so a message sent
while dripsms was down (or its callback lost on the way) would stay ``scheduled`` or
``queued`` here for ever. Each dispatcher pass asks Twilio about the messages still in
flight ``grace`` after their SendAt (or, sent at once, after their handoff), a capped
batch at a time, under the dispatcher's own rate limit, and records what it answers
through the status-callback path (cause ``reconciled``). A message Twilio still has in
flight is asked about again later, the wait doubling with its age up to an hour; one
Twilio no longer knows (404, error 20404) becomes ``lost`` and is alerted.
"""

from __future__ import annotations

import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from dripsms.core.handoff import ProviderWindow
from dripsms.core.states import IN_FLIGHT, MessageState
from dripsms.engine.config import config_from
from dripsms.engine.ratelimit import TokenBucket
from dripsms.engine.status import StatusUpdate, apply_status
from dripsms.provider.base import Provider, ProviderError, ProviderMessage
from dripsms.store import outbox
from dripsms.store.reconciliation import Overdue, check_again, claim_overdue

if TYPE_CHECKING:
    from dripsms.settings import Settings

log = logging.getLogger(__name__)
S = MessageState
CAUSE = "reconciled"
MAX_RECHECK = timedelta(hours=1)
"""The longest wait before asking again about a message Twilio still has in flight."""


@dataclass(frozen=True, slots=True)
class ReconcileConfig:
    """How reconciliation behaves: built from the settings by :meth:`from_settings` only."""

    grace: timedelta
    batch_size: int
    concurrency: int
    window: ProviderWindow

    @classmethod
    def from_settings(cls, settings: Settings, window: ProviderWindow) -> ReconcileConfig:
        """The settings' values; ``window`` is the dispatcher's (one window per process)."""
        s = settings
        return config_from(
            cls, settings, grace=s.status_grace, batch_size=s.status_batch, window=window
        )


def recheck_delay(age: timedelta, grace: timedelta) -> timedelta:
    """How long to wait before asking again about a message ``age`` past its SendAt.

    The wait is its age (at least ``grace``, at most :data:`MAX_RECHECK`), so the checks of
    one message double apart: a message stuck for a day costs a fetch an hour, not a pass.
    """
    return min(MAX_RECHECK, max(grace, age))


class StatusReconciler:
    """One reconciliation pass per call: a dispatcher pass (``passes=``) runs it."""

    def __init__(
        self,
        engine: Engine,
        provider: Provider,
        bucket: TokenBucket,
        config: ReconcileConfig,
    ) -> None:
        self.engine = engine
        self.provider = provider
        self.bucket = bucket
        self.config = config

    def __call__(self, now: datetime) -> dict[str, int]:
        """Reconcile one batch of overdue messages at ``now``; counts for the tick report."""
        config = self.config
        with self.engine.begin() as connection:
            overdue = claim_overdue(
                connection, now=now, grace=config.grace, due_by=config.window.earliest(now),
                limit=config.batch_size, hold=config.grace,
            )  # fmt: skip
        if not overdue:
            return {}
        counts: Counter[str] = Counter()
        workers = max(1, min(config.concurrency, len(overdue)))
        with ThreadPoolExecutor(workers, thread_name_prefix="dripsms-reconcile") as pool:
            for outcome in pool.map(lambda message: self._reconcile(message, now), overdue):
                counts[outcome] += 1
        return dict(counts)

    def _reconcile(self, message: Overdue, now: datetime) -> str:
        """Fetch one message and record its status; the counter it adds to."""
        self.bucket.acquire()  # the dispatcher's bucket: never above DRIPSMS_RATE_LIMIT
        try:
            fetched = self.provider.fetch(message.sid)
        except ProviderError as error:
            if error.not_found:
                return self._lost(message, now, error)
            log.info(
                "status fetch failed; will ask again",
                extra={"action": "reconcile_failed", "message_id": message.id,
                       "code": error.code, "status": error.status},
            )  # fmt: skip
            self._again(message, now)
            return "reconcile_failed"
        return self._record(message, fetched, now)

    def _record(self, message: Overdue, fetched: ProviderMessage, now: datetime) -> str:
        outcome = apply_status(
            self.engine,
            StatusUpdate(
                fetched.sid, fetched.status, message_id=message.id,
                error_code=fetched.error_code, sent_at=fetched.date_sent,
            ),
            now=now, cause=CAUSE,
        )  # fmt: skip
        if outcome.state is not None and outcome.state not in IN_FLIGHT:
            return "reconciled"
        # Still scheduled, queued or sending at Twilio (or a status we do not map; or a
        # repeat of one already recorded): ask again later, not on every pass.
        self._again(message, now)
        return "still_in_flight"

    def _again(self, message: Overdue, now: datetime) -> None:
        at = now + recheck_delay(now - message.since, self.config.grace)
        with self.engine.begin() as connection:
            check_again(connection, message.id, at)

    def _lost(self, message: Overdue, now: datetime, error: ProviderError) -> str:
        with self.engine.begin() as connection:
            moved = outbox.move(
                connection, message.id, fence=None, source=message.state, target=S.LOST,
                now=now, cause=CAUSE,
                detail={"status": "not_found", "code": error.code, "sid": message.sid},
            )  # fmt: skip
        if not moved:
            return "still_in_flight"  # a callback moved it meanwhile: Twilio knew it after all
        log.warning(
            "Twilio no longer knows a message it was given: marked lost",
            extra={"action": "alert", "reason": "message_lost", "message_id": message.id,
                   "sid": message.sid, "state": message.state.value},
        )  # fmt: skip
        return "lost"
