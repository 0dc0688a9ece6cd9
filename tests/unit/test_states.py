"""The message state machine: legal moves, and status callbacks that only move forward."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dripsms.core.states import (
    TERMINAL,
    TRANSITIONS,
    TWILIO_STATUSES,
    IllegalTransition,
    MessageState,
    advance,
    transition,
)

S = MessageState


def test_terminal_states_have_no_way_out() -> None:
    for state in TERMINAL:
        assert TRANSITIONS[state] == frozenset()
        for target in S:
            with pytest.raises(IllegalTransition):
                transition(state, target)


def test_every_state_has_its_transitions_declared() -> None:
    assert set(TRANSITIONS) == set(S)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.PLANNED, S.SCHEDULED),  # only through handing_off
        (S.SCHEDULED, S.PLANNED),  # once at Twilio, never back
        (S.SENT, S.QUEUED),
        (S.BLOCKED, S.HANDING_OFF),  # a blocked message must be planned first
    ],
)
def test_illegal_moves_raise(current: MessageState, target: MessageState) -> None:
    with pytest.raises(IllegalTransition, match=f"from {current} to {target}"):
        transition(current, target)


def test_a_late_sent_does_not_undo_delivered() -> None:
    assert advance(S.DELIVERED, S.SENT) is S.DELIVERED
    assert advance(S.SENT, S.DELIVERED) is S.DELIVERED
    assert advance(S.SCHEDULED, S.QUEUED) is S.QUEUED
    assert advance(S.QUEUED, S.SCHEDULED) is S.QUEUED


def test_a_callback_can_settle_a_message_whose_answer_was_lost() -> None:
    assert advance(S.HANDING_OFF, S.SENT) is S.SENT
    assert advance(S.HANDING_OFF, S.SCHEDULED) is S.SCHEDULED


# Realistic reports for one message: a path Twilio walks, each status possibly repeated.
PATHS = [
    ["scheduled", "queued", "sending", "sent", "delivered"],
    ["scheduled", "queued", "sent", "undelivered"],
    ["accepted", "queued", "sending", "sent", "delivered"],
    ["queued", "failed"],
    ["scheduled", "canceled"],
    ["accepted", "sent", "read"],
]
RANK = {"scheduled": 0, "accepted": 1, "queued": 1, "sending": 2, "sent": 3}


@given(
    path=st.sampled_from(PATHS),
    data=st.data(),
)
def test_any_permutation_and_duplication_ends_in_the_furthest_state(
    path: list[str], data: st.DataObject
) -> None:
    reports = data.draw(st.lists(st.sampled_from(path), min_size=len(path)).map(lambda r: r + path))
    shuffled = data.draw(st.permutations(reports))
    state = S.HANDING_OFF
    for status in shuffled:
        state = advance(state, TWILIO_STATUSES[status])
    assert state is TWILIO_STATUSES[path[-1]]


def test_a_lost_message_is_moved_on_by_a_callback_that_still_comes() -> None:
    for in_flight in (S.SCHEDULED, S.QUEUED, S.SENDING):
        assert transition(in_flight, S.LOST) is S.LOST
    assert advance(S.LOST, S.DELIVERED) is S.DELIVERED
    assert advance(S.LOST, S.SCHEDULED) is S.LOST  # never back to waiting at Twilio
    assert S.LOST not in TERMINAL
    for done in (S.SENT, S.DELIVERED, S.CANCELED, S.PLANNED):
        with pytest.raises(IllegalTransition):
            transition(done, S.LOST)
