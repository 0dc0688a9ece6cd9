"""Handoff decisions: schedule, send now, wait, defer for quiet hours, expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dripsms.core.handoff import Decision, ProviderWindow, Verdict, decide
from dripsms.core.sequence.model import SendWindow
from dripsms.engine.preparation import backoff

NY = ZoneInfo("America/New_York")
WINDOW = ProviderWindow(min_lead=timedelta(minutes=15), horizon=timedelta(days=7))
DAYTIME = SendWindow.model_validate({"start": "08:00", "end": "20:00"})
NOW = datetime(2026, 6, 3, 16, 0, tzinfo=UTC)  # 12:00 in New York


def verdict(
    due: datetime, now: datetime = NOW, max_delay: timedelta = timedelta(hours=2)
) -> Verdict:
    return decide(due, now, window=WINDOW, max_delay=max_delay, zone=NY, send_window=DAYTIME)


@pytest.mark.parametrize(
    ("offset", "decision"),
    [
        (timedelta(days=8), Decision.WAIT),  # beyond the horizon: kept here
        (timedelta(days=7), Decision.WAIT),  # at the horizon: inside the margin, kept
        (timedelta(days=6, hours=23), Decision.SCHEDULE),
        (timedelta(minutes=18), Decision.SCHEDULE),
        (timedelta(minutes=16), Decision.SEND_NOW),  # inside the margin above min_lead
        (timedelta(minutes=5), Decision.SEND_NOW),
        (timedelta(0), Decision.SEND_NOW),
        (-timedelta(minutes=90), Decision.SEND_NOW),  # missed by less than max_delay
        (-timedelta(hours=3), Decision.EXPIRE),
    ],
)
def test_decisions_by_due_time(offset: timedelta, decision: Decision) -> None:
    result = verdict(NOW + offset)
    assert result.decision is decision
    if decision is Decision.SCHEDULE:
        assert result.at == NOW + offset


def test_a_missed_message_waits_for_the_end_of_quiet_hours() -> None:
    night = datetime(2026, 6, 4, 3, 0, tzinfo=UTC)  # 23:00 in New York
    result = verdict(night - timedelta(minutes=30), now=night)
    assert result.decision is Decision.DEFER
    assert result.at == datetime(2026, 6, 4, 12, 0, tzinfo=UTC)  # 08:00 the next morning


def test_a_message_due_soon_is_not_sent_early_into_quiet_hours() -> None:
    dawn = datetime(2026, 6, 4, 11, 50, tzinfo=UTC)  # 07:50 in New York; due 08:00
    assert verdict(dawn + timedelta(minutes=10), now=dawn).decision is Decision.WAIT


def test_an_empty_window_is_refused() -> None:
    with pytest.raises(ValueError, match="window is empty"):
        ProviderWindow(min_lead=timedelta(days=1), horizon=timedelta(days=1))


def test_backoff_doubles_caps_and_honours_retry_after() -> None:
    assert backoff(1, None, 1.0) == timedelta(seconds=2)
    assert backoff(2, None, 1.0) == timedelta(seconds=4)
    assert backoff(30, None, 1.0) == timedelta(seconds=600)
    assert backoff(1, None, 0.0) == timedelta(seconds=1)  # jitter halves at most
    assert backoff(1, 30.0, 1.0) == timedelta(seconds=30)
