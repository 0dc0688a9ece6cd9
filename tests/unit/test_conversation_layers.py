"""The conversation side of the engine builds no SQL (the store owns the queries), and
every action a sequence may write is one typed :data:`RuleAction`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from dripsms.core.sequence.model import ACTION_KINDS, Action
from dripsms.engine.actions import Exit, Goto, Notify, RuleAction, Send, SetAttributes, typed

ENGINE = Path(__file__).resolve().parents[2] / "src" / "dripsms" / "engine"
CONVERSATION_SIDE = [
    "actions.py", "alerts.py", "conversations.py", "inbound.py", "matching.py",
    "notifier.py", "recovery.py", "timers.py",
]  # fmt: skip
SQLALCHEMY_TYPES = {"Connection", "Engine"}


def _sqlalchemy_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("sqlalchemy"))
        elif isinstance(node, ast.ImportFrom) and node.module == "dripsms.store.tables":
            names.update(f"tables.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("name", CONVERSATION_SIDE)
def test_the_conversation_side_builds_no_sql(name: str) -> None:
    imported = _sqlalchemy_names(ENGINE / name)
    assert imported <= SQLALCHEMY_TYPES, f"{name} imports {sorted(imported - SQLALCHEMY_TYPES)}"


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
