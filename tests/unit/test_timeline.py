"""Named timeline cases in real zones: DST gaps and overlaps, odd offsets, quiet hours."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from dripsms.core.timeline import GAP, ORDER, QUIET_HOURS, plan_timeline
from dripsms.testing import ALWAYS_OPEN, make_sequence


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def plan(
    zone: str,
    anchor: date | datetime,
    steps: list[dict[str, Any]],
    window: dict[str, Any] | None = None,
) -> dict[str, Any]:
    seq = make_sequence(steps, send_window=window or ALWAYS_OPEN)
    return {p.step_id: p for p in plan_timeline(seq, zone=ZoneInfo(zone), anchor=anchor)}


def at(step_id: str, **when: Any) -> dict[str, Any]:
    return {"id": step_id, "at": when, "body": "hi"}


@pytest.mark.parametrize(
    ("zone", "day", "clock", "expected_utc", "expected_local", "gap"),
    [
        # New York springs forward at 02:00 on 2026-03-08: 02:30 does not exist.
        ("America/New_York", date(2026, 3, 8), "02:30", "2026-03-08T07:30", "03:30", True),
        ("America/New_York", date(2026, 3, 8), "09:00", "2026-03-08T13:00", "09:00", False),
        ("America/New_York", date(2026, 3, 7), "09:00", "2026-03-07T14:00", "09:00", False),
        # ...and falls back at 02:00 on 2026-11-01: 01:30 happens twice; the first (EDT) wins.
        ("America/New_York", date(2026, 11, 1), "01:30", "2026-11-01T05:30", "01:30", False),
        ("America/New_York", date(2026, 11, 1), "09:00", "2026-11-01T14:00", "09:00", False),
        # London: gap 01:00-02:00 on 2026-03-29, overlap 01:00-02:00 on 2026-10-25.
        ("Europe/London", date(2026, 3, 29), "01:30", "2026-03-29T01:30", "02:30", True),
        ("Europe/London", date(2026, 10, 25), "01:30", "2026-10-25T00:30", "01:30", False),
        # Lord Howe moves its clocks by 30 minutes: 02:00 -> 02:30 on 2026-10-04.
        ("Australia/Lord_Howe", date(2026, 10, 4), "02:15", "2026-10-03T15:45", "02:45", True),
        ("Australia/Lord_Howe", date(2026, 4, 5), "01:45", "2026-04-04T14:45", "01:45", False),
        # Kathmandu is +05:45 all year.
        ("Asia/Kathmandu", date(2026, 5, 2), "09:00", "2026-05-02T03:15", "09:00", False),
        # Chatham is +12:45/+13:45 and jumps 02:45 -> 03:45 on 2026-09-27.
        ("Pacific/Chatham", date(2026, 9, 27), "03:00", "2026-09-26T14:15", "04:00", True),
        ("Pacific/Chatham", date(2026, 9, 27), "09:00", "2026-09-26T19:15", "09:00", False),
        # Samoa skipped 2011-12-30 entirely: the whole day is a 24-hour gap.
        ("Pacific/Apia", date(2011, 12, 30), "09:00", "2011-12-30T19:00", "09:00", True),
    ],
)
def test_wall_time_in_real_zones(
    zone: str,
    day: date,
    clock: str,
    expected_utc: str,
    expected_local: str,
    gap: bool,
) -> None:
    planned = plan(zone, day, [at("s", days=0, time=clock)])["s"]
    assert planned.due_at == utc(expected_utc)
    assert planned.due_local is not None
    assert planned.due_local.strftime("%H:%M") == expected_local
    assert (GAP in planned.adjustments) is gap


def test_day_offsets_follow_the_wall_clock_across_dst() -> None:
    # Surgery on Saturday 2026-03-07 (EST); day 1 is Sunday 2026-03-08 (EDT): still 09:00.
    timeline = plan(
        "America/New_York",
        date(2026, 3, 7),
        [at("day0", days=0, time="09:00"), at("day1", days=1, time="09:00")],
    )
    assert timeline["day0"].due_at == utc("2026-03-07T14:00")
    assert timeline["day1"].due_at == utc("2026-03-08T13:00")


def test_a_sequence_crossing_the_year_boundary() -> None:
    timeline = plan(
        "America/Los_Angeles",
        date(2026, 12, 30),
        [at("d1", days=1, time="10:00"), at("d3", days=3, time="10:00")],
    )
    assert timeline["d1"].due_at == utc("2026-12-31T18:00")
    assert timeline["d3"].due_at == utc("2027-01-02T18:00")
    assert timeline["d3"].due_local is not None
    assert timeline["d3"].due_local.year == 2027


def test_days_are_wall_days_and_hours_are_elapsed() -> None:
    # Enrolled at 10:00 EST the day before New York springs forward.
    enrolled = utc("2026-03-07T15:00")
    timeline = plan("America/New_York", enrolled, [at("by_day", days=1), at("by_hours", hours=24)])
    assert timeline["by_day"].due_at == utc("2026-03-08T14:00")  # 10:00 EDT on the wall
    assert timeline["by_hours"].due_at == utc("2026-03-08T15:00")  # 24 h later: 11:00 EDT


def test_an_instant_anchor_keeps_its_own_fold() -> None:
    # 01:30 EST, the *second* 01:30 of 2026-11-01; an offset of minutes stays on it.
    second = utc("2026-11-01T06:30")
    timeline = plan("America/New_York", second, [at("soon", minutes=20)])
    assert timeline["soon"].due_at == utc("2026-11-01T06:50")


def test_a_date_anchor_means_that_local_day() -> None:
    # Tokyo is ahead of UTC: day 0 at 08:00 local is the previous day in UTC.
    timeline = plan("Asia/Tokyo", date(2026, 6, 1), [at("s", days=0, time="08:00")])
    assert timeline["s"].due_at == utc("2026-05-31T23:00")


def test_a_date_anchor_at_a_midnight_gap_moves_forward() -> None:
    # Havana springs forward at midnight: 2026-03-08 00:00 does not exist.
    timeline = plan("America/Havana", date(2026, 3, 8), [at("s", minutes=0)])
    assert timeline["s"].due_local is not None
    assert timeline["s"].due_local.strftime("%Y-%m-%d %H:%M") == "2026-03-08 01:00"


def test_negative_days_plan_before_the_anchor() -> None:
    timeline = plan("Europe/Paris", date(2026, 5, 20), [at("eve", days=-1, time="18:00")])
    assert timeline["eve"].due_at == utc("2026-05-19T16:00")


QUIET = {
    "start": "08:00",
    "end": "20:00",
    "days": {"sun": "closed", "sat": {"start": "10:00", "end": "14:00"}},
}


@pytest.mark.parametrize(
    ("day", "clock", "expected_local"),
    [
        (date(2026, 6, 3), "07:00", "2026-06-03 08:00"),  # Wednesday, before the window
        (date(2026, 6, 3), "12:00", "2026-06-03 12:00"),  # inside: untouched
        (date(2026, 6, 3), "19:59", "2026-06-03 19:59"),  # the last allowed minute
        (date(2026, 6, 3), "20:00", "2026-06-04 08:00"),  # end is exclusive
        (date(2026, 6, 5), "21:00", "2026-06-06 10:00"),  # Friday night -> Saturday's hours
        (date(2026, 6, 6), "15:00", "2026-06-08 08:00"),  # Saturday after 14:00, Sunday closed
        (date(2026, 6, 7), "12:00", "2026-06-08 08:00"),  # Sunday closed -> Monday
    ],
)
def test_quiet_hours_move_to_the_next_allowed_minute(
    day: date, clock: str, expected_local: str
) -> None:
    planned = plan("America/Chicago", day, [at("s", time=clock)], QUIET)["s"]
    assert planned.due_local is not None
    assert planned.due_local.strftime("%Y-%m-%d %H:%M") == expected_local
    assert (QUIET_HOURS in planned.adjustments) is (expected_local != f"{day} {clock}")


def test_quiet_hours_window_start_inside_a_gap() -> None:
    # A window opening at 02:00 on the night New York skips 02:00-03:00 opens at 03:00.
    window = {"start": "02:00", "end": "22:00"}
    planned = plan("America/New_York", date(2026, 3, 8), [at("s", time="01:00")], window)["s"]
    assert planned.due_local is not None
    assert planned.due_local.strftime("%H:%M %Z") == "03:00 EDT"


def test_a_gap_never_reorders_steps() -> None:
    # 02:30 does not exist and becomes 03:30, later than the 03:00 step after it.
    timeline = plan(
        "America/New_York",
        date(2026, 3, 8),
        [at("first", time="02:30"), at("second", time="03:00")],
    )
    assert timeline["first"].due_at == utc("2026-03-08T07:30")
    assert timeline["second"].due_at == utc("2026-03-08T07:30")
    assert ORDER in timeline["second"].adjustments


def test_steps_listed_out_of_order_are_planned_by_time() -> None:
    seq = make_sequence(
        [at("late", days=5, time="09:00"), at("early", days=1, time="09:00")],
        send_window=ALWAYS_OPEN,
    )
    planned = plan_timeline(seq, zone=ZoneInfo("UTC"), anchor=date(2026, 1, 1))
    assert [p.step_id for p in planned] == ["early", "late"]


def test_after_counts_from_the_other_steps_due_time_and_respects_quiet_hours() -> None:
    timeline = plan(
        "Europe/Berlin",
        date(2026, 7, 1),
        [
            at("ask", days=1, time="19:00"),
            {"id": "soon", "after": {"step": "ask", "hours": 2}, "body": "x"},
            {"id": "next_day", "after": {"step": "ask", "days": 1}, "body": "x"},
        ],
        {"start": "08:00", "end": "20:00"},
    )
    assert timeline["ask"].due_at == utc("2026-07-02T17:00")
    assert timeline["soon"].due_at == utc("2026-07-03T06:00")  # 21:00 is quiet: 08:00
    assert QUIET_HOURS in timeline["soon"].adjustments
    assert timeline["next_day"].due_at == utc("2026-07-03T17:00")


def test_after_a_reply_and_goto_only_steps_wait() -> None:
    seq = make_sequence(
        [
            {
                "id": "ask",
                "at": {"days": 1, "time": "09:00"},
                "body": "Pain 0-10?",
                "expect_reply": {"type": "integer", "min": 0, "max": 10},
                "on_reply": [{"if": "reply >= 7", "then": [{"goto": "escalate"}]}],
            },
            {"id": "thanks", "after": {"step": "ask", "from": "reply"}, "body": "Thanks"},
            {"id": "escalate", "body": "A nurse will call."},
        ]
    )
    timeline = plan_timeline(seq, zone=ZoneInfo("UTC"), anchor=date(2026, 1, 1))
    planned = {p.step_id: p for p in timeline}
    assert planned["ask"].due_at == utc("2026-01-02T09:00")
    assert planned["thanks"].due_at is None
    assert planned["thanks"].waits_for == "reply:ask"
    assert planned["escalate"].due_at is None
    assert planned["escalate"].waits_for == "goto"
