"""The bounds on values the core accepts: anchors a timeline can be planned from, and
attribute values that stay finite, exact and short. Each refusal is a domain error with a
message for a person, never an OverflowError from the calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from dripsms.core.attributes import LARGEST_INTEGER, check_names, coerce
from dripsms.core.timeline import AnchorOutOfRange, check_anchor, plan_timeline
from dripsms.errors import TimelineError
from dripsms.testing import ALWAYS_OPEN, make_sequence

STEPS = [{"id": "a", "at": {"days": 1, "time": "09:00"}, "body": "hi"}]


@pytest.mark.parametrize(
    "anchor",
    [
        date(9999, 12, 31),
        date(1, 1, 1),
        date(1899, 12, 31),
        date(2200, 1, 1),
        datetime(9999, 12, 31, 23, 59, tzinfo=UTC),
        datetime(1, 1, 1, 0, 0),
    ],
)
def test_an_anchor_outside_the_supported_range_is_a_timeline_error(anchor: date) -> None:
    sequence = make_sequence(STEPS, send_window=ALWAYS_OPEN)
    with pytest.raises(AnchorOutOfRange, match="outside the supported range 1900-01-01 to 2199"):
        plan_timeline(sequence, zone=ZoneInfo("Pacific/Kiritimati"), anchor=anchor)


@pytest.mark.parametrize("anchor", [date(1900, 1, 1), date(2199, 12, 31)])
def test_the_ends_of_the_range_are_planned_in_the_zones_furthest_from_utc(anchor: date) -> None:
    sequence = make_sequence(STEPS, send_window=ALWAYS_OPEN)
    for zone in ("Pacific/Kiritimati", "Etc/GMT+12"):  # UTC+14 and UTC-12
        [planned] = plan_timeline(sequence, zone=ZoneInfo(zone), anchor=anchor)
        assert planned.due_at is not None


def test_offsets_that_run_off_the_calendar_are_a_timeline_error_not_an_overflow() -> None:
    far = [{"id": "a", "at": {"days": 2_950_000, "time": "09:00"}, "body": "hi"}]
    sequence = make_sequence(far, send_window=ALWAYS_OPEN)
    with pytest.raises(TimelineError, match="runs past the last date a calendar holds"):
        plan_timeline(sequence, zone=ZoneInfo("UTC"), anchor=date(2026, 3, 1))


def test_check_anchor_uses_the_date_of_an_instant() -> None:
    check_anchor(datetime(2199, 12, 31, 23, 0, tzinfo=UTC))
    with pytest.raises(AnchorOutOfRange):
        check_anchor(datetime(2200, 1, 1, 0, 0, tzinfo=UTC))


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        ("integer", 10**400, "between -9007199254740991 and 9007199254740991"),
        ("integer", str(LARGEST_INTEGER + 1), "between"),
        ("integer", "9" * 5000, "expected a whole number"),
        ("number", 10**400, "finite number"),
        ("number", "1e309", "finite number"),
        ("number", float("nan"), "finite number"),
        ("number", "-inf", "finite number"),
        ("string", 10**400, "must be sent as text"),
        ("string", "x" * 1001, "at most 1000 characters"),
        ("choice", "x" * 5000, "at most 1000 characters"),
        ("choice", "x" * 500, "expected one of a, b"),
        ("date", "x" * 5000, "expected a date"),
    ],
)
def test_values_past_the_bounds_are_refused_with_a_short_message(
    kind: str, value: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message) as refused:
        coerce(kind, value, ["a", "b"])
    assert len(str(refused.value)) < 200  # a megabyte value is not echoed back


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("integer", LARGEST_INTEGER, LARGEST_INTEGER),
        ("integer", f"-{LARGEST_INTEGER}", -LARGEST_INTEGER),
        ("number", "1e308", 1e308),
        ("string", "x" * 1000, "x" * 1000),
        ("string", LARGEST_INTEGER, str(LARGEST_INTEGER)),
    ],
)
def test_values_at_the_bounds_are_kept(kind: str, value: Any, expected: Any) -> None:
    assert coerce(kind, value) == expected


def test_attribute_names_are_bounded_in_number_and_length() -> None:
    check_names({f"a{i}": 1 for i in range(64)})
    with pytest.raises(ValueError, match="at most 64 attributes, got 65"):
        check_names({f"a{i}": 1 for i in range(65)})
    with pytest.raises(ValueError, match="at most 64 characters"):
        check_names(["n" * 65])
