"""Properties of the timeline over every IANA zone, random anchors, offsets and windows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import cache
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from hypothesis import given
from hypothesis import strategies as st

from dripsms.core.sequence.model import Sequence
from dripsms.core.timeline import ORDER, QUIET_HOURS, PlannedStep, plan_timeline
from dripsms.testing import ALWAYS_OPEN, make_sequence

ZONES = sorted(available_timezones())
zones = st.sampled_from(ZONES).map(ZoneInfo)
anchors = st.dates(min_value=date(1975, 1, 1), max_value=date(2037, 12, 31))
clock_minutes = st.integers(min_value=0, max_value=1439)
step_times = st.lists(
    st.tuples(st.integers(min_value=-3, max_value=400), clock_minutes), min_size=1, max_size=8
)


def hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@cache
def _sequence(times: tuple[tuple[int, int], ...], window: tuple[int, int] | None) -> Sequence:
    steps = [
        {"id": f"s{i}", "at": {"days": days, "time": hhmm(minute)}, "body": "x"}
        for i, (days, minute) in enumerate(times)
    ]
    send_window: dict[str, Any] = ALWAYS_OPEN
    if window is not None:
        send_window = {"start": hhmm(window[0]), "end": hhmm(window[1])}
    return make_sequence(steps, send_window=send_window)


def _plan(
    times: list[tuple[int, int]], zone: ZoneInfo, anchor: date, window: tuple[int, int] | None
) -> tuple[Sequence, dict[str, PlannedStep]]:
    seq = _sequence(tuple(times), window)
    planned = plan_timeline(seq, zone=zone, anchor=anchor)
    return seq, {p.step_id: p for p in planned}


def _requested(anchor: date, days: int, minute: int) -> datetime:
    return datetime.combine(anchor + timedelta(days=days), datetime.min.time()) + timedelta(
        minutes=minute
    )


def _gap_length(wall: datetime, zone: ZoneInfo) -> timedelta:
    """How far a nonexistent wall time is pushed: the offset after minus the offset before."""
    before = wall.replace(tzinfo=zone, fold=0).utcoffset()
    after = wall.replace(tzinfo=zone, fold=1).utcoffset()
    assert before is not None and after is not None
    return after - before


def _exists(wall: datetime, zone: ZoneInfo) -> bool:
    instant = wall.replace(tzinfo=zone).astimezone(UTC)
    return instant.astimezone(zone).replace(tzinfo=None) == wall


@given(zone=zones, anchor=anchors, times=step_times)
def test_due_times_are_the_requested_wall_times_or_exactly_gap_shifted(
    zone: ZoneInfo, anchor: date, times: list[tuple[int, int]]
) -> None:
    _, planned = _plan(times, zone, anchor, None)
    for i, (days, minute) in enumerate(times):
        step = planned[f"s{i}"]
        assert step.due_at is not None and step.due_local is not None
        if ORDER in step.adjustments:
            continue  # held to an earlier step's instant; checked by the ordering property
        wall = _requested(anchor, days, minute)
        shown = step.due_local.replace(tzinfo=None)
        if _exists(wall, zone):
            assert shown == wall
            # an ambiguous wall time takes its first occurrence
            occurrences = {wall.replace(tzinfo=zone, fold=f).astimezone(UTC) for f in (0, 1)}
            assert step.due_at == min(occurrences)
        else:
            gap = _gap_length(wall, zone)
            assert gap > timedelta(0)
            assert shown == wall + gap


@given(zone=zones, anchor=anchors, times=step_times)
def test_steps_stay_in_order(zone: ZoneInfo, anchor: date, times: list[tuple[int, int]]) -> None:
    _, planned = _plan(times, zone, anchor, None)
    by_request = sorted(range(len(times)), key=lambda i: (_requested(anchor, *times[i]), i))
    dues = [planned[f"s{i}"].due_at for i in by_request]
    assert all(a is not None and b is not None and a <= b for a, b in pairwise(dues))


windows = st.tuples(st.integers(0, 1380), st.integers(30, 1440)).filter(lambda w: w[0] < w[1])


@given(zone=zones, anchor=anchors, times=step_times, window=windows)
def test_no_step_falls_in_quiet_hours_nor_earlier_than_asked(
    zone: ZoneInfo, anchor: date, times: list[tuple[int, int]], window: tuple[int, int]
) -> None:
    _, planned = _plan(times, zone, anchor, window)
    start, end = window
    for i, (days, minute) in enumerate(times):
        step = planned[f"s{i}"]
        assert step.due_at is not None and step.due_local is not None
        local = step.due_local
        local_minute = local.hour * 60 + local.minute
        assert start <= local_minute < end, f"{local} outside {hhmm(start)}-{hhmm(end)}"
        asked = _requested(anchor, days, minute).replace(tzinfo=zone, fold=0).astimezone(UTC)
        assert step.due_at >= asked
        if QUIET_HOURS in step.adjustments and ORDER not in step.adjustments:
            # moved to the window's opening (or just past it, when the opening is in a gap)
            opening = datetime.combine(local.date(), datetime.min.time()) + timedelta(minutes=start)
            assert local.replace(tzinfo=None) == opening or not _exists(opening, zone)
