"""Small value parsers: durations, clock times, attribute coercion, YAML scalars, instants."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from dripsms.clock import clock_from_environment, parse_instant
from dripsms.core.attributes import AttributeType, coerce
from dripsms.core.durations import format_duration, parse_clock, parse_duration
from dripsms.core.yaml_source import parse_yaml
from dripsms.core.zones import time_zone
from dripsms.errors import DripError
from dripsms.settings import Settings


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15m", timedelta(minutes=15)),
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("2w", timedelta(weeks=2)),
        ("90s", timedelta(seconds=90)),
        ("PT15M", timedelta(minutes=15)),
        ("P1DT2H", timedelta(days=1, hours=2)),
        (300, timedelta(seconds=300)),
    ],
)
def test_parse_duration(text: str | int, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "15", "15x", "m15", "1d 2", "P", "PT", "-5m", "soon", "99999999999d", "P99999999999D",
     10**20],
)  # fmt: skip
def test_parse_duration_rejects_nonsense(text: str | int) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize("name", ["Mars/Olympus", "../etc/passwd", "a" * 300, "UTC\0", ""])
def test_a_name_that_is_no_time_zone_is_a_value_error(name: str) -> None:
    # "a" * 300 is an OSError in ZoneInfo (a file name too long): still a ValueError here
    with pytest.raises(ValueError, match="unknown time zone"):
        time_zone(name)
    assert time_zone("America/New_York").key == "America/New_York"


def test_a_clinic_timezone_too_long_for_a_file_name_is_a_settings_error() -> None:
    with pytest.raises(ValidationError, match="clinic_timezone"):
        Settings(clinic_timezone="a" * 300)


def test_format_duration_round_trips() -> None:
    for text in ("1d12h", "15m", "2h30m", "7d"):
        assert format_duration(parse_duration(text)) == text


def test_parse_clock() -> None:
    assert parse_clock("09:00") == 540
    assert parse_clock("9:05") == 545
    assert parse_clock("24:00", allow_end_of_day=True) == 1440
    for bad in ("24:00", "12:60", "9", "9am", "09:00:00"):
        with pytest.raises(ValueError, match="time of day"):
            parse_clock(bad)


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [
        (AttributeType.STRING, "Ada", "Ada"),
        (AttributeType.STRING, 2139, "2139"),
        (AttributeType.INTEGER, " 42 ", 42),
        (AttributeType.INTEGER, 7.0, 7),
        (AttributeType.NUMBER, "3.5", 3.5),
        (AttributeType.BOOLEAN, "yes", True),
        (AttributeType.BOOLEAN, "0", False),
        (AttributeType.DATE, "2026-03-07", date(2026, 3, 7)),
        (AttributeType.DATETIME, "2026-03-07T09:30", datetime(2026, 3, 7, 9, 30)),
        (
            AttributeType.DATETIME,
            "2026-03-07T09:30:00Z",
            datetime(2026, 3, 7, 9, 30, tzinfo=UTC),
        ),
    ],
)
def test_coerce(kind: AttributeType, raw: object, expected: object) -> None:
    assert coerce(kind, raw) == expected


def test_coerce_choice_is_case_insensitive_and_canonical() -> None:
    assert coerce(AttributeType.CHOICE, " HIP ", ("knee", "hip")) == "hip"
    with pytest.raises(ValueError, match="expected one of knee, hip"):
        coerce(AttributeType.CHOICE, "elbow", ("knee", "hip"))


@pytest.mark.parametrize(
    ("kind", "raw"),
    [
        (AttributeType.INTEGER, "4.5"),
        (AttributeType.INTEGER, True),
        (AttributeType.NUMBER, "many"),
        (AttributeType.BOOLEAN, "maybe"),
        (AttributeType.DATE, "03/07/2026"),
        (AttributeType.DATETIME, "tomorrow"),
        (AttributeType.STRING, ["a"]),
    ],
)
def test_coerce_refuses_wrong_types(kind: AttributeType, raw: object) -> None:
    with pytest.raises(ValueError, match="expected"):
        coerce(kind, raw)


def test_yaml_scalars_follow_yaml_1_2_not_1_1() -> None:
    data, _ = parse_yaml("a: 09:00\nb: yes\nc: on\nd: 0777\ne: true\nf: 1_000\ng: ~\nh: 2.5\n")
    assert data == {
        "a": "09:00",
        "b": "yes",
        "c": "on",
        "d": "0777",
        "e": True,
        "f": 1000,
        "g": None,
        "h": 2.5,
    }


def test_yaml_locator_knows_keys_and_values() -> None:
    _, locator = parse_yaml("steps:\n  - id: a\n    body: hi\n")
    assert locator.find(("steps", 0, "body")).line == 3
    assert locator.find(("steps", 0, "body")).column == 11
    assert locator.find_key(("steps", 0, "body")).column == 5
    assert locator.find(("steps", 0, "nope")).line == 2  # nearest existing ancestor


def test_parse_instant_needs_an_offset() -> None:
    assert parse_instant("2026-03-03T14:00:00Z") == datetime(2026, 3, 3, 14, tzinfo=UTC)
    assert parse_instant("2026-03-03T09:00:00-05:00") == datetime(2026, 3, 3, 14, tzinfo=UTC)
    with pytest.raises(DripError, match="no UTC offset"):
        parse_instant("2026-03-03T14:00:00")


def test_dripsms_now_pins_the_clock() -> None:
    clock = clock_from_environment({"DRIPSMS_NOW": "2026-03-03T14:00:00Z"})
    assert clock() == datetime(2026, 3, 3, 14, tzinfo=UTC)
    assert clock_from_environment({})().tzinfo is UTC
