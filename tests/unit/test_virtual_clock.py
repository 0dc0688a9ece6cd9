"""The virtual clock of sandbox mode: it follows real time, moves forward on demand and
never backward, tells its listeners, and a restart resumes no earlier than it stopped."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from dripsms.clock import ClockMovedBackward, VirtualClock
from dripsms.engine.outcomes import TickReport
from dripsms.engine.sandbox_session import start_position
from dripsms.engine.supervisor import DispatcherHealth, Supervisor

T0 = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)


class Real:
    """A fake monotonic source the test moves."""

    def __init__(self) -> None:
        self.seconds = 1000.0

    def __call__(self) -> float:
        return self.seconds


def test_it_follows_real_time_from_its_start() -> None:
    real = Real()
    clock = VirtualClock(T0, real)
    assert clock() == T0
    real.seconds += 90
    assert clock() == T0 + timedelta(seconds=90)
    assert clock.now().tzinfo is UTC


def test_advance_moves_forward_and_keeps_following_real_time() -> None:
    real = Real()
    clock = VirtualClock(T0, real)
    real.seconds += 10
    assert clock.advance(timedelta(days=1)) == T0 + timedelta(days=1, seconds=10)
    real.seconds += 5
    assert clock() == T0 + timedelta(days=1, seconds=15)


def test_it_never_moves_backward() -> None:
    real = Real()
    clock = VirtualClock(T0, real)
    with pytest.raises(ClockMovedBackward, match="only moves forward"):
        clock.advance(timedelta(seconds=-1))
    with pytest.raises(ClockMovedBackward, match="only moves forward"):
        clock.advance_to(T0 - timedelta(hours=1))
    assert clock() == T0
    assert clock.advance_to(T0 + timedelta(hours=2)) == T0 + timedelta(hours=2)


def test_a_real_source_going_back_does_not_move_it_back() -> None:
    real = Real()
    clock = VirtualClock(T0, real)
    real.seconds -= 50
    assert clock() == T0


def test_listeners_hear_every_move_with_the_new_now() -> None:
    clock = VirtualClock(T0, Real())
    heard: list[datetime] = []
    clock.on_move(heard.append)
    clock.advance(timedelta(hours=1))
    clock.advance_to(T0 + timedelta(days=2))
    assert heard == [T0 + timedelta(hours=1), T0 + timedelta(days=2)]


def test_a_naive_start_is_refused() -> None:
    with pytest.raises(Exception, match="aware"):
        VirtualClock(datetime(2026, 3, 7, 12, 0), Real())


def test_a_restart_resumes_no_earlier_than_the_saved_position() -> None:
    later = T0 + timedelta(days=3)
    assert start_position(T0, None).at == T0
    assert not start_position(T0, None).resumed
    resumed = start_position(T0, later)
    assert (resumed.at, resumed.resumed) == (later, True)
    ahead = start_position(later + timedelta(days=1), later)
    assert (ahead.at, ahead.resumed) == (later + timedelta(days=1), False)


def test_a_move_wakes_the_dispatcher_without_waiting_for_the_poll_interval() -> None:
    """The loop waits an hour between passes; setting ``wake`` runs the next pass at once."""
    clock = VirtualClock(T0, Real())
    seen: list[datetime] = []
    passed = [threading.Event(), threading.Event()]

    def run_pass(now: datetime) -> TickReport:
        seen.append(now)
        passed[min(len(seen), 2) - 1].set()
        return TickReport()

    stop, wake = threading.Event(), threading.Event()
    loop = Supervisor(
        run_pass, clock, DispatcherHealth(lambda: T0), stop, poll_interval=3600.0, wake=wake
    )
    clock.on_move(lambda _: wake.set())
    thread = threading.Thread(target=loop.run)
    thread.start()
    try:
        assert passed[0].wait(10)
        clock.advance(timedelta(days=1))
        assert passed[1].wait(10), "the moved clock did not wake the dispatcher"
    finally:
        stop.set()
        wake.set()
        thread.join(10)
    assert not thread.is_alive()
    assert seen[1] == T0 + timedelta(days=1)
