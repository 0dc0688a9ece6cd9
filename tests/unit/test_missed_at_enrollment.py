"""Steps already past their latest send time at enrollment: missed, or caught up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dripsms.core.handoff import Decision, ProviderWindow, decide
from dripsms.core.planning import EnrollmentRequest, prepare
from dripsms.core.sequence.loader import parse_sequence
from dripsms.core.sequence.model import Sequence
from dripsms.core.states import INITIAL, TRANSITIONS, MessageState
from dripsms.testing import ALWAYS_OPEN, make_sequence

S = MessageState
REPO = Path(__file__).resolve().parents[2]
POSTOP = parse_sequence((REPO / "sequences" / "postop.yaml").read_text()).sequence
UTC_ZONE = ZoneInfo("UTC")


def ada(anchor: str, **changes: object) -> EnrollmentRequest:
    fields: dict[str, object] = {
        "sequence": "postop", "phone": "+14155550100", "timezone": "America/New_York",
        "attributes": {"first_name": "Ada"}, "anchor": anchor,
    }  # fmt: skip
    fields.update(changes)
    return EnrollmentRequest(**fields)  # type: ignore[arg-type]


def states(sequence: Sequence, request: EnrollmentRequest, now: datetime) -> dict[str, str]:
    prepared = prepare(sequence, request, enrolled_at=now)
    return {m.step_id: m.state.value for m in prepared.messages}


def test_a_patient_enrolled_after_day_1_has_day_1_missed_and_the_rest_planned() -> None:
    # Day 1 is due Sunday 2026-03-08 10:00 EDT (14:00 UTC); max_delay is 2h.
    prepared = prepare(POSTOP, ada("2026-03-07"), enrolled_at=datetime(2026, 3, 8, 17, tzinfo=UTC))
    assert prepared.missed == ("day1",)
    assert prepared.caught_up == ()
    assert {m.step_id: m.state for m in prepared.messages} == {
        "day1": S.MISSED, "day3": S.BLOCKED, "day3_escalated": S.BLOCKED,
        "day7": S.PLANNED, "day30": S.PLANNED,
    }  # fmt: skip


def test_a_surgery_60_days_back_misses_every_step_and_leaves_nothing_to_send() -> None:
    found = states(POSTOP, ada("2026-01-01"), datetime(2026, 3, 2, 15, tzinfo=UTC))
    assert set(found.values()) == {"missed"}


@given(late=st.integers(min_value=-600, max_value=600))
def test_missed_at_enrollment_is_exactly_the_dispatchers_expiry_rule(late: int) -> None:
    sequence = make_sequence(
        [{"id": "hello", "at": {"days": 1, "time": "09:00"}, "body": "Hi"}],
        timezone="UTC", send_window=ALWAYS_OPEN, max_delay="2h", anchor="day",
        attributes={"day": "date"},
    )  # fmt: skip
    due = datetime(2026, 3, 2, 9, tzinfo=UTC)
    now = due + timedelta(hours=2, seconds=late)
    verdict = decide(
        due, now, window=ProviderWindow(), max_delay=sequence.max_delay, zone=UTC_ZONE,
        send_window=sequence.send_window,
    )  # fmt: skip
    found = states(sequence, EnrollmentRequest("test", "+14155550100", anchor="2026-03-01"), now)
    assert (found["hello"] == "missed") == (verdict.decision is Decision.EXPIRE) == (late > 0)


def test_catch_up_sends_the_most_recent_missed_step_now_and_misses_the_others() -> None:
    now = datetime(2026, 3, 2, 15, tzinfo=UTC)  # Monday 10:00 EST
    prepared = prepare(POSTOP, ada("2026-01-01", catch_up=True), enrolled_at=now)
    assert prepared.caught_up == ("day30",)
    assert prepared.missed == ("day1", "day3", "day3_escalated", "day7")
    [day30] = [m for m in prepared.messages if m.step_id == "day30"]
    assert (day30.state, day30.due_at) == (S.PLANNED, now)
    assert day30.caught_up_from == datetime(2026, 1, 31, 15, tzinfo=UTC)


def test_catch_up_still_honours_quiet_hours() -> None:
    now = datetime(2026, 3, 3, 2, tzinfo=UTC)  # Monday 21:00 EST, after the 20:00 close
    prepared = prepare(POSTOP, ada("2026-01-01", catch_up=True), enrolled_at=now)
    [day30] = [m for m in prepared.messages if m.step_id == "day30"]
    assert day30.due_at == datetime(2026, 3, 3, 13, tzinfo=UTC)  # Tuesday 08:00 EST


def test_catch_up_takes_every_alternative_due_at_that_instant() -> None:
    # day3 and day3_escalated are both due at day 3 09:00: their conditions pick one.
    now = datetime(2026, 3, 4, 19, tzinfo=UTC)
    prepared = prepare(POSTOP, ada("2026-03-01", catch_up=True), enrolled_at=now)
    assert prepared.caught_up == ("day3", "day3_escalated")
    assert prepared.missed == ("day1",)
    # They wait on day 1's reply, which will never come: blocked, released on the next pass.
    found = {m.step_id: m.state for m in prepared.messages}
    assert (found["day3"], found["day3_escalated"]) == (S.BLOCKED, S.BLOCKED)


@pytest.mark.parametrize(("default", "given", "caught"), [
    (True, None, True), (True, False, False), (False, True, True), (False, None, False),
])  # fmt: skip
def test_the_request_overrides_the_sequence_default(
    default: bool, given: bool | None, caught: bool
) -> None:
    sequence = POSTOP.model_copy(update={"catch_up": default})
    now = datetime(2026, 3, 2, 15, tzinfo=UTC)
    prepared = prepare(sequence, ada("2026-01-01", catch_up=given), enrolled_at=now)
    assert bool(prepared.caught_up) is caught


def test_steps_only_a_missed_step_leads_to_are_missed_with_it() -> None:
    sequence = make_sequence(
        [
            {"id": "ask", "at": {"days": 1, "time": "09:00"}, "body": "Pain 0-10?",
             "expect_reply": {"type": "integer"},
             "on_reply": [{"if": "reply >= 7", "then": [{"goto": "call_us"}]}]},
            {"id": "thanks", "after": {"step": "ask", "from": "reply", "hours": 1},
             "body": "Thanks"},
            {"id": "call_us", "body": "Please call us"},
            {"id": "later", "at": {"days": 9, "time": "09:00"}, "body": "Day 9",
             "expect_reply": {"type": "text"}, "on_reply": [{"then": [{"goto": "help"}]}]},
            {"id": "help", "body": "Help is here"},
        ],
        timezone="UTC", send_window=ALWAYS_OPEN, anchor="day", attributes={"day": "date"},
    )  # fmt: skip
    request = EnrollmentRequest("test", "+14155550100", anchor="2026-03-01")
    found = states(sequence, request, datetime(2026, 3, 5, tzinfo=UTC))
    assert found == {
        "ask": "missed", "thanks": "missed", "call_us": "missed",
        "later": "planned", "help": "blocked",  # day 9 is still to come, and can lead there
    }  # fmt: skip
    everything = states(sequence, request, datetime(2026, 4, 1, tzinfo=UTC))
    assert set(everything.values()) == {"missed"}  # nothing left to send


def test_nothing_is_missed_when_every_step_is_ahead() -> None:
    found = states(POSTOP, ada("2026-03-07"), datetime(2026, 3, 1, tzinfo=UTC))
    assert "missed" not in found.values()


def test_missed_is_terminal_and_only_ever_a_starting_state() -> None:
    assert TRANSITIONS[S.MISSED] == frozenset()
    assert S.MISSED in INITIAL
    assert all(S.MISSED not in targets for targets in TRANSITIONS.values())
