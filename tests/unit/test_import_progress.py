"""The import's progress bar: on a terminal only."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from dripsms.cli import render


def shown(monkeypatch: pytest.MonkeyPatch, *, terminal: bool, enabled: bool) -> str:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=terminal, width=100)
    monkeypatch.setattr(render, "err", console)
    with render.progress(enabled=enabled) as advance:
        advance("read", 500, 1000)
        advance("enroll", 10, 20)
    return screen.getvalue()


def test_a_terminal_sees_both_phases(monkeypatch: pytest.MonkeyPatch) -> None:
    text = shown(monkeypatch, terminal=True, enabled=True)
    assert "checking the file" in text
    assert "enrolling" in text


@pytest.mark.parametrize(("terminal", "enabled"), [(False, True), (True, False)])
def test_no_bar_off_a_terminal_or_with_json(
    monkeypatch: pytest.MonkeyPatch, terminal: bool, enabled: bool
) -> None:
    assert shown(monkeypatch, terminal=terminal, enabled=enabled) == ""
