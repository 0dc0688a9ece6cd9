"""The dispatcher: hands due messages to Twilio exactly once, retries, reconciles, cancels.

One pass (:meth:`Dispatcher.tick`) is: cancel at Twilio what must no longer go out; then,
batch by batch, claim due messages (with a lease and a fence), decide each one, record
the intent (rendered body, SendAt, attempt time) *before* calling Twilio, call Twilio
with bounded concurrency under a rate limit, and record each answer fenced. The next
batch is claimed while the calls of the current one run, and answers are recorded in
batches on their own thread (:mod:`dripsms.engine.handoff`): the slots stay busy.

Exactly once: a create whose outcome is unknown (a timeout, a 5xx, a reset, a crash
between the call and the commit) is never retried blindly. It is reconciled first: the
messages Twilio holds for that number are listed and matched on the recorded body and
attempt time; a match is adopted, and only a message Twilio does not have is created
again. The residual risk is documented in docs/exactly-once.md.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine

from dripsms.core.handoff import ProviderWindow
from dripsms.core.states import TWILIO_STATUSES, MessageState, advance
from dripsms.engine.actions import complete_finished
from dripsms.engine.callbacks import status_callback_url
from dripsms.engine.canceling import Canceler
from dripsms.engine.config import config_from
from dripsms.engine.handoff import Answered, AnswerRecorder, Slots
from dripsms.engine.library import SequenceLibrary
from dripsms.engine.outcomes import TickReport
from dripsms.engine.preparation import Create, Settle, backoff, prepare_handoff
from dripsms.engine.ratelimit import TokenBucket
from dripsms.engine.releasing import release_blocked
from dripsms.engine.stopping import opt_out_contact
from dripsms.provider.base import (
    OPTED_OUT,
    SCHEDULE_LIMIT,
    Provider,
    ProviderError,
    ProviderMessage,
)
from dripsms.store import outbox
from dripsms.store.handoffs import Answer, Intent, record_answers, record_intents

if TYPE_CHECKING:
    from dripsms.settings import Settings

log = logging.getLogger(__name__)
S = MessageState
RECONCILE_SKEW = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class DispatcherConfig:
    """How the dispatcher behaves: built from the settings by :meth:`from_settings` only.

    No field has a default of its own: :class:`dripsms.settings.Settings` is the one source.
    """

    messaging_service_sid: str | None
    public_url: str
    callback_secret: str
    window: ProviderWindow
    scheduled_budget: int
    batch_size: int
    lease: timedelta
    reconcile_after: timedelta
    max_attempts: int
    concurrency: int
    rate_limit: float
    owner: str

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        messaging_service_sid: str | None,
        callback_secret: str,
        owner: str,
    ) -> DispatcherConfig:
        """The settings' values, with what the runtime resolves (sandbox SID, secret, owner)."""
        s = settings
        return config_from(
            cls, settings, messaging_service_sid=messaging_service_sid,
            callback_secret=callback_secret, owner=owner,
            window=ProviderWindow(s.min_lead, s.horizon, s.window_margin),
        )  # fmt: skip


class Dispatcher:
    """Moves messages from the outbox to Twilio; drive it with :meth:`tick`."""

    def __init__(
        self,
        engine: Engine,
        provider: Provider,
        library: SequenceLibrary,
        config: DispatcherConfig,
        *,
        bucket: TokenBucket | None = None,
        jitter: Callable[[], float] = random.random,
        monotonic: Callable[[], float] = time.monotonic,
        passes: Sequence[Callable[[datetime], Mapping[str, int]]] = (),
    ) -> None:
        self.engine = engine
        self.passes = tuple(passes)
        """Other timers a pass runs (reply windows, notify webhooks, missed replies)."""
        self.stopping = threading.Event()
        """Set to stop claiming new batches (calls already made are finished and recorded)."""
        self.provider = provider
        self.library = library
        self.config = config
        self.bucket = bucket or TokenBucket(config.rate_limit)
        self.jitter = jitter
        self.monotonic = monotonic
        self._pool = ThreadPoolExecutor(config.concurrency, thread_name_prefix="dripsms-call")
        self._recording = ThreadPoolExecutor(1, thread_name_prefix="dripsms-record")
        self._report_lock = threading.Lock()
        self.canceler = Canceler(engine, provider, self.bucket, self._pool, config.concurrency)
        self.progress: Callable[[], None] = lambda: None
        """Called after each batch of a pass (the supervisor: a long pass is alive)."""

    @property
    def backlog(self) -> int:
        """The next batch is claimed once at most this many prepared creates wait for a slot:
        two rounds of calls, enough to cover claiming and preparing it."""
        return 2 * self.config.concurrency

    def close(self) -> None:
        """Wait for calls in flight, then release the threads."""
        self._pool.shutdown(wait=True)
        self._recording.shutdown(wait=True)

    def _count(self, report: TickReport, counter: str, count: int = 1) -> None:
        with self._report_lock:
            report.add(counter, count)

    def tick(self, now: datetime) -> TickReport:
        """One pass at ``now``: cancel, then hand off everything due, batch by batch.

        ``now`` is the pass's reading of the clock, but a pass may last longer than a lease:
        each batch's lease counts from the moment it is claimed, and no create starts once
        half of it is gone (another dispatcher could take the message over meanwhile).
        """
        started = self.monotonic()
        report = TickReport()
        self.canceler.run(now, partial(self._count, report))
        for run_pass in self.passes:
            for name, count in run_pass(now).items():
                report.add(name, count)
        report.add(
            "released",
            release_blocked(self.engine, self.library, self.config.window.latest(now), now),
        )
        self._hand_off_due(now, report, started)
        return report

    def _hand_off_due(self, now: datetime, report: TickReport, started: float) -> None:
        """Claim, prepare and queue batch after batch while the slots call Twilio.

        The next batch is claimed once no more than :attr:`backlog` creates of the current
        one wait for a slot: claims stay just ahead of the calls, and each claimed message
        waits little (its lease counts from its claim).
        """
        slots: Slots | None = None
        recorder: AnswerRecorder | None = None
        try:
            for _ in range(100_000):  # a bound, not a goal: each batch claims only due work
                if self.stopping.is_set():
                    break  # a worker asked to stop: finish what is claimed, claim no more
                if (slots and slots.failed.is_set()) or (recorder and recorder.error):
                    break  # finish() raises it
                claimed_at = self.monotonic()
                claimed = self._claim(now, timedelta(seconds=claimed_at - started))
                if not claimed:
                    break
                creates, stale = self._prepare(claimed, now, report)
                if slots is None or recorder is None:
                    slots = Slots(self._pool, self.config.concurrency)
                    recorder = AnswerRecorder(
                        self._recording, partial(self._record_answers, now=now, report=report)
                    )
                # Reconciling lists messages at Twilio: never inside a transaction (on
                # SQLite it would hold the write lock over HTTP calls, and lock out reads).
                for message in stale:
                    slots.put(partial(self._reconcile_stale, message, now, report))
                for create in creates:
                    slots.put(
                        partial(self._hand_off, create, now, report, started, claimed_at, recorder)
                    )
                self.progress()
                if len(claimed) < self.config.batch_size:
                    break
                slots.drain_to(self.backlog)
        finally:
            # Whatever happened above, what was claimed is finished and recorded.
            if slots is not None and recorder is not None:
                try:
                    slots.finish()
                finally:
                    recorder.finish()

    # -- claiming -------------------------------------------------------------------------

    def _claim(self, now: datetime, elapsed: timedelta) -> list[outbox.Claimed]:
        """Claim a batch, leased from this moment: ``now`` plus the pass's ``elapsed`` time."""
        window = self.config.window
        lease = self.config.lease + elapsed
        with self.engine.begin() as connection:
            if not outbox.anything_due(connection, now=now, until=window.latest(now)):
                outbox.fold_held(connection)  # callbacks append to the count's log meanwhile
                return []  # idle: nothing to claim, and no count of what Twilio holds
            room = self.config.scheduled_budget - outbox.scheduled_count(connection, now)
            # Due before the earliest SendAt: sent now, so no scheduling slot is used.
            claimed = outbox.claim_due(
                connection, now=now, until=window.earliest(now), limit=self.config.batch_size,
                owner=self.config.owner, lease=lease,
            )  # fmt: skip
            left = min(self.config.batch_size - len(claimed), max(0, room))
            if left > 0:
                claimed += outbox.claim_due(
                    connection, now=now, until=window.latest(now), limit=left,
                    owner=self.config.owner, lease=lease, stale=False,
                )  # fmt: skip
        return claimed

    # -- deciding -------------------------------------------------------------------------

    def _prepare(
        self, claimed: list[outbox.Claimed], now: datetime, report: TickReport
    ) -> tuple[list[Create], list[outbox.Claimed]]:
        """The creates to make, and the stale handoffs to reconcile (outside any transaction)."""
        creates: list[Create] = []
        planned: list[Create] = []
        stale: list[outbox.Claimed] = []
        with self.engine.begin() as connection:
            replies = outbox.replies_of(connection, (c.enrollment_id for c in claimed))
            for message in claimed:
                if message.previous_state is S.HANDING_OFF and message.attempt_started_at:
                    stale.append(message)
                    continue
                loaded = self.library.pinned(
                    message.sequence_digest, message.sequence_text, message.sequence_key
                )
                plan = prepare_handoff(
                    message, loaded.sequence, replies[message.enrollment_id], now=now,
                    window=self.config.window,
                    default_service=self.config.messaging_service_sid,
                )  # fmt: skip
                if isinstance(plan, Settle):
                    self._settle(connection, plan, now, report)
                    continue
                planned.append(plan)
            # The intent of every create, before any of them is made.
            intents = [
                Intent(p.message.id, p.message.fence, p.body, p.send_at, p.message.attempts + 1)
                for p in planned
            ]
            recorded = record_intents(connection, intents, now)
        for plan in planned:
            if plan.message.id in recorded:
                creates.append(plan)
            else:
                self._count(report, "lost_lease")
        return creates, stale

    def _settle(
        self, connection: Connection, plan: Settle, now: datetime, report: TickReport
    ) -> None:
        moved = outbox.move(
            connection, plan.message.id, fence=plan.message.fence, source=S.HANDING_OFF,
            target=plan.target, now=now, cause=plan.cause, **plan.values,
        )  # fmt: skip
        self._count(report, plan.counter if moved else "lost_lease")
        if moved and plan.target is S.EXPIRED:
            log.warning(
                "message expired: missed by more than max_delay",
                extra={"action": "expired", "message_id": plan.message.id,
                       "step": plan.message.step_id, "enrollment_id": plan.message.enrollment_id},
            )  # fmt: skip

    # -- calling Twilio -------------------------------------------------------------------

    def _hand_off(
        self,
        create: Create,
        now: datetime,
        report: TickReport,
        started: float,
        claimed_at: float,
        recorder: AnswerRecorder | None = None,
    ) -> None:
        message = create.message
        if recorder is not None and recorder.error is not None:
            # Answers cannot be recorded: make no more calls. The row stays handing_off
            # with its intent, and is reconciled once its lease runs out.
            return
        self.bucket.acquire()
        if self.monotonic() - claimed_at > self.config.lease.total_seconds() / 2:
            # Too late to start a call whose outcome must be recorded within the lease: a
            # dispatcher that took the message over could send it too. Hand it back.
            self._update(
                message, now, report, "waiting", target=S.PLANNED, cause="lease_running_out",
                attempt_started_at=None, attempts=message.attempts,
            )  # fmt: skip
            return
        callback = status_callback_url(
            self.config.public_url, self.config.callback_secret, message.id
        )
        try:
            handoff = self.provider.create(
                to=message.phone, body=create.body,
                messaging_service_sid=create.messaging_service_sid,
                send_at=create.send_at, status_callback=callback,
            )  # fmt: skip
        except ProviderError as error:
            # Leases set from here on count from this moment, not from the pass's start.
            late = timedelta(seconds=self.monotonic() - started)
            self._failed_call(create, error, now, report, late)
            return
        counter = "scheduled" if create.send_at is not None else "sent_now"
        if recorder is None:
            self._record_handoff(message, handoff.sid, handoff.status, now, report, counter)
            return
        target = advance(S.HANDING_OFF, TWILIO_STATUSES.get(handoff.status, S.QUEUED))
        answer = Answer(
            message.id, message.fence, handoff.sid, handoff.status, target, closes=create.closes
        )
        recorder.add(Answered(answer, counter, message.enrollment_id))

    def _record_answers(
        self, batch: Sequence[Answered], *, now: datetime, report: TickReport
    ) -> None:
        """Record a batch of answers in one transaction, each row fenced.

        A step that asks nothing closes its reply window as it is recorded (one row version,
        not a second from the reply timers' next pass), so its enrollment is completed here
        when nothing is left to do: what those timers would have done with it.
        """
        with self.engine.begin() as connection:
            moved = record_answers(connection, [a.answer for a in batch], now)
            closed = sorted(
                {
                    a.enrollment_id
                    for a in batch
                    if a.enrollment_id is not None
                    and a.answer.closing
                    and a.answer.message_id in moved
                }
            )
            completed = complete_finished(connection, closed, now) if closed else 0
        with self._report_lock:
            if completed:
                report.add("completed", completed)
            for answered in batch:
                moved_now = answered.answer.message_id in moved
                report.add(answered.counter if moved_now else "lost_lease")
        for answered in batch:
            if answered.answer.message_id not in moved:
                log.warning(
                    "handoff recorded too late: another dispatcher owns the message",
                    extra={"action": "lost_lease", "message_id": answered.answer.message_id},
                )

    def _record_handoff(
        self,
        message: outbox.Claimed,
        sid: str,
        status: str,
        now: datetime,
        report: TickReport,
        counter: str,
        cause: str = "handed_off",
    ) -> None:
        target = advance(S.HANDING_OFF, TWILIO_STATUSES.get(status, S.QUEUED))
        with self.engine.begin() as connection:
            moved = outbox.move(
                connection, message.id, fence=message.fence, source=S.HANDING_OFF,
                target=target, now=now, cause=cause, detail={"status": status},
                sid=sid, lease_owner=None, lease_expires_at=None,
            )  # fmt: skip
        with self._report_lock:
            report.add(counter if moved else "lost_lease")
        if not moved:
            log.warning(
                "handoff recorded too late: another dispatcher owns the message",
                extra={"action": "lost_lease", "message_id": message.id},
            )

    def _failed_call(
        self,
        create: Create,
        error: ProviderError,
        now: datetime,
        report: TickReport,
        late: timedelta,
    ) -> None:
        message = create.message
        log.info(
            "provider call failed",
            extra={"action": "handoff_failed", "message_id": message.id, "code": error.code,
                   "status": error.status, "unknown": error.outcome_unknown},
        )  # fmt: skip
        if error.outcome_unknown:
            try:
                found = self._find_at_provider(message.phone, create.body, now)
            except ProviderError:
                found = None  # cannot tell yet: reconciled after reconcile_after
            if found is not None:
                self._adopt(message, found, now, report)
                return
            until = now + late + self.config.reconcile_after
            self._hold_unknown(message, now, report, "outcome_unknown", until, error)
            return
        if error.outside_window and create.send_at is not None:
            self._update(
                message, now, report, "retrying", target=S.PLANNED, cause="outside_window",
                next_attempt_at=now + timedelta(minutes=1), error_code=error.code,
                error_message=outbox.error_text(error),
            )  # fmt: skip
            return
        if error.code == SCHEDULE_LIMIT:
            log.error("Twilio's scheduled-message limit reached", extra={"action": "alert"})
            self._update(
                message, now, report, "retrying", target=S.PLANNED, cause="schedule_limit",
                next_attempt_at=now + timedelta(minutes=5), error_code=error.code,
            )  # fmt: skip
            return
        if error.retryable and message.attempts + 1 < self.config.max_attempts:
            delay = backoff(message.attempts + 1, error.retry_after, self.jitter())
            self._update(
                message, now, report, "retrying", target=S.PLANNED, cause="transient_error",
                next_attempt_at=now + delay, error_code=error.code,
                error_message=outbox.error_text(error),
            )  # fmt: skip
            return
        log.warning(
            "handoff failed for good",
            extra={"action": "handoff_gave_up", "message_id": message.id, "code": error.code,
                   "attempts": message.attempts + 1},
        )  # fmt: skip
        self._update(
            message, now, report, "failed", target=S.FAILED, cause="provider_error",
            error_code=error.code, error_message=outbox.error_text(error),
        )  # fmt: skip
        if error.code == OPTED_OUT:
            with self.engine.begin() as connection:
                opt_out_contact(connection, message.contact_id, now, cause="provider_21610")

    def _adopt(
        self, message: outbox.Claimed, found: ProviderMessage, now: datetime, report: TickReport
    ) -> None:
        """Twilio has the create: tie its SID to the row (counted ``adopted``)."""
        self._record_handoff(message, found.sid, found.status, now, report, "adopted", "reconciled")

    def _hold_unknown(
        self,
        message: outbox.Claimed,
        now: datetime,
        report: TickReport,
        cause: str,
        until: datetime,
        error: ProviderError,
    ) -> None:
        """Whether Twilio has the create is not known: the row stays handing off, leased
        ``until`` it is reconciled, never planned afresh (that could send it twice)."""
        self._update(
            message, now, report, "unknown", target=S.HANDING_OFF, cause=cause,
            lease_expires_at=until, error_code=error.code, error_message=outbox.error_text(error),
        )  # fmt: skip

    def _update(
        self,
        message: outbox.Claimed,
        now: datetime,
        report: TickReport,
        counter: str,
        *,
        target: MessageState,
        cause: str,
        **values: Any,
    ) -> None:
        with self.engine.begin() as connection:
            moved = outbox.move(
                connection, message.id, fence=message.fence, source=S.HANDING_OFF,
                target=target, now=now, cause=cause, **values,
            )  # fmt: skip
        with self._report_lock:
            report.add(counter if moved else "lost_lease")

    # -- reconciling ----------------------------------------------------------------------

    def _find_at_provider(self, phone: str, body: str, since: datetime) -> ProviderMessage | None:
        """The oldest message to ``phone`` with ``body`` created since ``since`` that no row
        of ours claims yet. Raises :class:`ProviderError` when Twilio cannot be asked: that
        is no proof of absence."""
        self.bucket.acquire()
        listed = self.provider.recent(to=phone, limit=50)
        earliest = since - RECONCILE_SKEW
        candidates = [
            p
            for p in listed
            if p.body == body and (p.date_created is None or p.date_created >= earliest)
        ]
        if not candidates:
            return None
        with self.engine.connect() as connection:
            taken = outbox.known_sids(connection, (p.sid for p in candidates))
        free = [p for p in candidates if p.sid not in taken]
        free.sort(key=lambda p: (p.date_created is None, p.date_created))
        return free[0] if free else None

    def _reconcile_stale(self, message: outbox.Claimed, now: datetime, report: TickReport) -> None:
        """A message whose claimer vanished mid-handoff: adopt what Twilio has, or retry."""
        assert message.attempt_started_at is not None
        assert message.body is not None
        try:
            found = self._find_at_provider(message.phone, message.body, message.attempt_started_at)
        except ProviderError as error:
            # Twilio could not be asked: the create may still be there. Ask again later;
            # planning it afresh now could send it twice.
            until = now + self.config.reconcile_after
            self._hold_unknown(message, now, report, "reconcile_failed", until, error)
            return
        if found is not None:
            self._adopt(message, found, now, report)
            return
        # Twilio does not have it: the earlier attempt never landed. Plan it afresh.
        self._update(
            message, now, report, "retrying", target=S.PLANNED, cause="reconciled_absent",
            attempt_started_at=None,
        )  # fmt: skip
