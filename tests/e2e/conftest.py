from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from dripsms.testing import SandboxWorld, sandbox_world

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ONE_STEP_SEQUENCE = """key: now
name: Now
timezone: UTC
send_window: {start: "00:00", end: "24:00"}
steps:
  - id: hello
    at: {minutes: 1}
    body: "Hello {{ name }}"
attributes:
  name: string
"""
"""One text a minute after enrollment, at any hour (for tests of a whole process)."""


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture
def world(engine: Engine) -> Iterator[SandboxWorld]:
    with sandbox_world(
        url_of(engine), REPO / "sequences", T0, public_url="http://127.0.0.1:9", rate_limit=10_000
    ) as world:
        yield world
