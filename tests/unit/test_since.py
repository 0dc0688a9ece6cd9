"""``--since`` and the audit page's "since": a date, an instant, or a time back from now."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dripsms.engine.users import parse_since
from dripsms.errors import InvalidInput

NOW = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "zone", "expected"),
    [
        ("24h", "UTC", datetime(2026, 11, 29, 14, 0, tzinfo=UTC)),
        ("30m", "UTC", datetime(2026, 11, 30, 13, 30, tzinfo=UTC)),
        (" 7D ", "UTC", datetime(2026, 11, 23, 14, 0, tzinfo=UTC)),
        ("2w", "UTC", datetime(2026, 11, 16, 14, 0, tzinfo=UTC)),
        ("1d12h", "UTC", datetime(2026, 11, 29, 2, 0, tzinfo=UTC)),
        ("2026-11-30", "UTC", datetime(2026, 11, 30, tzinfo=UTC)),
        ("2026-11-30", "America/New_York", datetime(2026, 11, 30, 5, 0, tzinfo=UTC)),
        ("2026-11-30T08:00Z", "America/New_York", datetime(2026, 11, 30, 8, 0, tzinfo=UTC)),
        ("2026-11-30T08:00+02:00", "UTC", datetime(2026, 11, 30, 6, 0, tzinfo=UTC)),
    ],
)
def test_since_accepts_a_duration_a_date_in_the_zone_or_an_instant(
    text: str, zone: str, expected: datetime
) -> None:
    assert parse_since(text, now=NOW, zone=zone) == expected


@pytest.mark.parametrize("text", ["", "yesterday", "2026-11-30T08:00", "24", "h", "-1d",
                                  "9999999d", "999999w", "999999d", "99999999999d", "2026-13-01",
                                  "x" * 10_000])  # fmt: skip
def test_anything_else_is_refused_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidInput, match=r"^--since: "):
        parse_since(text, now=NOW, field="--since")
