from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from dripsms.core.planning import EnrollmentRequest
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


@contextmanager
def due_now(
    engine: Engine,
    folder: Path,
    contacts: int,
    *,
    concurrency: int,
    key: str = "now",
    sequence: str = ONE_STEP_SEQUENCE,
) -> Iterator[SandboxWorld]:
    """``contacts`` patients each with one step of ``sequence`` due now (a send-now
    create), handed off in batches of 5."""
    (folder / f"{key}.yaml").write_text(sequence)
    with sandbox_world(
        url_of(engine), folder, T0, public_url="http://127.0.0.1:9", rate_limit=100_000,
        concurrency=concurrency, batch_size=5,
    ) as world:  # fmt: skip
        requests = [
            (i + 1, EnrollmentRequest(key, f"+1415555{i:04d}", attributes={"name": f"n{i}"}))
            for i in range(contacts)
        ]
        assert len(world.runtime.enroller.enroll_batch(requests, now=T0).enrolled) == contacts
        world.at(T0 + timedelta(minutes=1))
        yield world


@pytest.fixture
def world(engine: Engine) -> Iterator[SandboxWorld]:
    with sandbox_world(
        url_of(engine), REPO / "sequences", T0, public_url="http://127.0.0.1:9", rate_limit=10_000
    ) as world:
        yield world
