"""The handoff's slots and answer recorder, on their own: every job runs, answers share
transactions, and a failure stops the rest and is raised."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from dripsms.core.states import MessageState
from dripsms.engine.handoff import Answered, AnswerRecorder, Slots
from dripsms.store.handoffs import Answer


def answered(i: int) -> Answered:
    return Answered(Answer(i, 1, f"SM{i:032d}", "queued", MessageState.QUEUED), "sent_now")


def test_every_job_runs_with_at_most_concurrency_at_once() -> None:
    running, most, done = 0, 0, []
    lock = threading.Lock()
    gate = threading.Barrier(4)

    def job(i: int) -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        if i < 4:
            gate.wait(timeout=10)  # the first four run together: four slots
        with lock:
            running -= 1
            done.append(i)

    with ThreadPoolExecutor(4) as pool:
        slots = Slots(pool, 4)
        for i in range(50):
            slots.put(lambda i=i: job(i))
        slots.drain_to(0)
        slots.finish()
    assert sorted(done) == list(range(50))
    assert most == 4


def test_a_failed_job_skips_the_rest_and_is_raised() -> None:
    ran: list[int] = []
    release = threading.Event()

    def job(i: int) -> None:
        if i == 0:
            raise RuntimeError("boom")
        release.wait(timeout=10)
        ran.append(i)

    with ThreadPoolExecutor(1) as pool:
        slots = Slots(pool, 1)
        for i in range(10):
            slots.put(lambda i=i: job(i))
        slots.drain_to(0)  # returns on the failure, never hangs
        assert slots.failed.is_set()
        release.set()
        with pytest.raises(RuntimeError, match="boom"):
            slots.finish()
    assert ran == []


def test_answers_arriving_together_share_a_transaction() -> None:
    batches: list[list[int]] = []

    def record(batch: Sequence[Answered]) -> None:
        batches.append([a.answer.message_id for a in batch])

    with ThreadPoolExecutor(1) as pool:
        recorder = AnswerRecorder(pool, record, limit=10, linger=5.0)
        for i in range(25):
            recorder.add(answered(i))
        recorder.finish()
    assert [i for batch in batches for i in batch] == list(range(25))
    assert [len(b) for b in batches] == [10, 10, 5]


def test_after_a_failed_transaction_nothing_more_is_recorded_and_finish_raises() -> None:
    calls: list[int] = []

    def record(batch: Sequence[Answered]) -> None:
        calls.append(len(batch))
        raise OSError("disk gone")

    with ThreadPoolExecutor(1) as pool:
        recorder = AnswerRecorder(pool, record, limit=3, linger=5.0)
        for i in range(9):
            recorder.add(answered(i))
        with pytest.raises(OSError, match="disk gone"):
            recorder.finish()
    assert calls == [3]
    assert recorder.error is not None
