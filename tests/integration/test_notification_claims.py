"""Notify webhooks with several workers: each due notification is claimed by one worker
(``SKIP LOCKED`` on PostgreSQL, held ahead for the others), so none is posted twice at once;
one whose worker died mid-post is posted again once the hold runs out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from dripsms.store import notifications

NOW = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)
HOLD = timedelta(minutes=5)


def _queue(engine: Engine, count: int) -> None:
    with engine.begin() as connection:
        for i in range(count):
            notifications.queue_notification(
                connection, None, "nurse", f"http://x.invalid/{i}", {"i": i}, NOW
            )


def test_a_claimed_notification_is_not_claimed_again_until_its_hold_runs_out(
    engine: Engine,
) -> None:
    _queue(engine, 3)
    with engine.begin() as connection:
        first = notifications.claim_due_notifications(connection, NOW, 2, HOLD)
    with engine.begin() as connection:
        second = notifications.claim_due_notifications(connection, NOW, 10, HOLD)
    assert len(first) == 2 and len(second) == 1
    assert not {d.id for d in first} & {d.id for d in second}
    with engine.begin() as connection:  # nobody settled them: the claimer died mid-post
        assert notifications.claim_due_notifications(connection, NOW + HOLD / 2, 10, HOLD) == []
        again = notifications.claim_due_notifications(connection, NOW + HOLD, 10, HOLD)
    assert len(again) == 3


# On SQLite, BEGIN IMMEDIATE makes the second claimer wait for the first: nothing to skip.
@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_concurrent_claimers_skip_what_the_other_is_claiming(engine: Engine) -> None:
    _queue(engine, 4)
    with engine.begin() as one:
        mine = notifications.claim_due_notifications(one, NOW, 2, HOLD)
        with engine.begin() as other:  # while the first transaction still holds its rows
            other.exec_driver_sql("SET LOCAL lock_timeout = '5s'")  # fail, never hang
            theirs = notifications.claim_due_notifications(other, NOW, 10, HOLD)
    assert len(mine) == 2 and len(theirs) == 2
    assert not {d.id for d in mine} & {d.id for d in theirs}
