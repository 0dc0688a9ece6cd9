"""Every action a sequence may write is one typed :data:`RuleAction` (that the engine
builds no SQL is tests/unit/test_layers.py's)."""

from __future__ import annotations

import pytest

from dripsms.core.sequence.model import ACTION_KINDS, Action
from dripsms.engine.actions import Exit, Goto, Notify, RuleAction, Send, SetAttributes, typed

EXAMPLES: dict[str, tuple[object, RuleAction]] = {
    "send": ({"send": "Thanks {{ first_name }}"}, Send("Thanks {{ first_name }}")),
    "goto": ({"goto": "day7"}, Goto("day7")),
    "exit": ("exit", Exit()),
    "notify": ({"notify": "nurse", "message": "call"}, Notify("nurse", "call")),
    "set": ({"set": {"worried": True}}, SetAttributes({"worried": True})),
}


def test_every_action_kind_has_an_example() -> None:
    assert set(EXAMPLES) == set(ACTION_KINDS)


@pytest.mark.parametrize("kind", ACTION_KINDS)
def test_every_action_is_typed(kind: str) -> None:
    data, expected = EXAMPLES[kind]
    assert typed(Action.model_validate(data)) == expected
