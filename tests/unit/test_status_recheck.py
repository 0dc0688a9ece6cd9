"""How long status reconciliation waits before asking Twilio again about a message."""

from __future__ import annotations

from datetime import timedelta

from dripsms.engine.status_reconciliation import MAX_RECHECK, recheck_delay

GRACE = timedelta(minutes=10)


def test_checks_of_one_message_double_apart_up_to_an_hour() -> None:
    age, checks = GRACE, []
    while age < timedelta(hours=4):
        checks.append(age)
        age += recheck_delay(age, GRACE)
    minutes = [int(c.total_seconds() // 60) for c in checks]
    assert minutes == [10, 20, 40, 80, 140, 200]
    assert recheck_delay(timedelta(days=3), GRACE) == MAX_RECHECK


def test_never_sooner_than_the_grace() -> None:
    assert recheck_delay(timedelta(0), GRACE) == GRACE
