"""The virtual clock's saved position and the next due message, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from dripsms.core.planning import EnrollmentRequest
from dripsms.engine.enrollment import Enroller
from dripsms.engine.library import SequenceLibrary
from dripsms.store import virtual_clock

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)


def test_the_saved_position_only_moves_forward(engine: Engine) -> None:
    assert virtual_clock.saved(engine) is None
    assert virtual_clock.save(engine, T0) == T0
    later = T0 + timedelta(days=1)
    assert virtual_clock.save(engine, later) == later
    assert virtual_clock.save(engine, T0) == later  # an older position never wins
    assert virtual_clock.saved(engine) == later


def test_the_next_due_message_is_the_earliest_still_to_go_out(engine: Engine) -> None:
    assert virtual_clock.next_due(engine, T0) is None
    enroller = Enroller(engine, SequenceLibrary(REPO / "sequences"))
    enroller.enroll(
        EnrollmentRequest(
            "postop", "+14155550100", "America/New_York", {"first_name": "Ada"}, "2026-03-07"
        ),
        now=T0,
    )
    day1 = datetime(2026, 3, 8, 14, 0, tzinfo=UTC)  # 10:00 on Sunday in New York
    assert virtual_clock.next_due(engine, T0) == day1
    assert virtual_clock.next_due(engine, day1) == datetime(2026, 3, 14, 14, 0, tzinfo=UTC)
