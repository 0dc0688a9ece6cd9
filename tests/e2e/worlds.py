"""What the end-to-end tests of a :class:`~dripsms.testing.SandboxWorld` share: its
messages by step, and a bounded wait for what the sandbox's own thread posts."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from dripsms.store.tables import messages
from dripsms.testing import SandboxWorld


def rows(world: SandboxWorld) -> dict[str, Any]:
    """Every message of the world's database, by step id."""
    with world.engine.connect() as connection:
        return {r.step_id: r for r in connection.execute(select(messages))}


def wait_for(check: Callable[[], Any], timeout: float = 10.0) -> None:
    """Status callbacks are posted by the sandbox's own thread: wait for them, bounded."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the sandbox's callbacks")
        time.sleep(0.02)
