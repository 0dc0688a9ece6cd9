"""The handoff's moving parts: slots that call Twilio, and a recorder of their answers.

:class:`Slots` keeps ``concurrency`` calls in flight from a bounded queue of prepared jobs:
the dispatcher claims and prepares the next batch while the calls of the current one run,
and no slot waits for the slowest create of a batch. :class:`AnswerRecorder` writes the
answers on its own thread, as many as have arrived in one short transaction (a group
commit), so a slot is free again as soon as Twilio answers.

A process killed between a create and the commit of its answer leaves the row
``handing_off`` with its intent recorded: the next pass reconciles it (docs/exactly-once.md),
as it always has. Batching widens that window by a few milliseconds, nothing more.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass

from dripsms.store.handoffs import Answer

RECORD_LIMIT = 100
"""Most answers one recording transaction writes."""
RECORD_LINGER = 0.005
"""Seconds the recorder waits for more answers after the first of a batch: a few
milliseconds later, many answers share one commit (one fsync on SQLite)."""

Job = Callable[[], None]


class Slots:
    """Up to ``concurrency`` jobs running at once on ``pool``, fed by a queue.

    The producer queues a batch, then :meth:`drain_to` waits while more than a few jobs
    wait for a slot: it stays ahead of the slots, never far ahead (a claimed message waits
    little, so its lease is not spent waiting). After the first failure the remaining jobs
    are skipped (their messages stay ``handing_off`` and are reconciled later, never sent
    twice) and :meth:`finish` raises it.
    """

    def __init__(self, pool: Executor, concurrency: int) -> None:
        self._pool = pool
        self._concurrency = concurrency
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        self._running: list[Future[None]] = []
        self._waiting = 0
        self._changed = threading.Condition()
        self.error: BaseException | None = None
        self.failed = threading.Event()
        """Set when a job raised: stop feeding."""

    def put(self, job: Job) -> None:
        """Queue ``job``; a slot runs it as soon as one is free."""
        if len(self._running) < self._concurrency:
            self._running.append(self._pool.submit(self._work))
        with self._changed:
            self._waiting += 1
        self._jobs.put(job)

    def drain_to(self, waiting: int) -> None:
        """Return once at most ``waiting`` jobs wait for a slot (or a job failed)."""
        with self._changed:
            self._changed.wait_for(lambda: self._waiting <= waiting or self.failed.is_set())

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            with self._changed:
                self._waiting -= 1
                self._changed.notify_all()
            if self.failed.is_set():
                continue  # skipped: reconciled later
            try:
                job()
            except BaseException as error:  # re-raised by finish()
                with self._changed:
                    self.error = self.error or error
                    self.failed.set()
                    self._changed.notify_all()

    def finish(self) -> None:
        """Wait for every queued job; raise the first failure."""
        for _ in self._running:
            self._jobs.put(None)
        for running in self._running:
            running.result()
        self._running.clear()
        if self.error is not None:
            error, self.error = self.error, None
            raise error


@dataclass(frozen=True, slots=True)
class Answered:
    """An answer waiting to be recorded, and what the pass counts it as."""

    answer: Answer
    counter: str
    enrollment_id: int | None = None
    """The message's enrollment: completed with the answer when it closes the last window."""


class AnswerRecorder:
    """Records answers on one thread, in batches of what has arrived (at most ``limit``).

    ``record(batch)`` writes one batch in one transaction. After a failure nothing more is
    written (those messages stay ``handing_off``: reconciled later); :meth:`finish` raises it.
    """

    def __init__(
        self,
        pool: Executor,
        record: Callable[[Sequence[Answered]], None],
        limit: int = RECORD_LIMIT,
        linger: float = RECORD_LINGER,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._record = record
        self._limit = limit
        self._linger = linger
        self._monotonic = monotonic
        self._answers: queue.Queue[Answered | None] = queue.Queue()
        self.error: BaseException | None = None
        self._running = pool.submit(self._work)

    def add(self, answered: Answered) -> None:
        """Record this answer soon (in the next batch)."""
        self._answers.put(answered)

    def _work(self) -> None:
        closing = False
        while not closing:
            first = self._answers.get()
            if first is None:
                return
            batch = [first]
            deadline = self._monotonic() + self._linger
            while len(batch) < self._limit:
                try:
                    item = self._answers.get(timeout=max(0.0, deadline - self._monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    closing = True
                    break
                batch.append(item)
            if self.error is None:
                try:
                    self._record(batch)
                except BaseException as error:  # re-raised by finish()
                    self.error = error

    def finish(self) -> None:
        """Record what has been added; raise the failure, if any."""
        self._answers.put(None)
        self._running.result()
        if self.error is not None:
            raise self.error
