"""A folder with one broken sequence file: it is reported and skipped, the others run."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from tests.e2e.test_cli import dripsms

from dripsms.cli import render
from dripsms.core.planning import EnrollmentError, EnrollmentRequest
from dripsms.engine.library import SequenceLibrary
from dripsms.store.tables import messages
from dripsms.testing import SandboxWorld, sandbox_world

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def plain(key: str, body: str | None = None) -> str:
    text = body or f"Hello from {key}"
    return (
        f"key: {key}\nname: {key.title()}\nanchor: enrolled_at\ntimezone: UTC\nsteps:\n"
        f"  - id: hello\n    at: {{days: 1, time: '09:00'}}\n    body: {text!r}\n"
    )


BROKEN = """key: broken
name: Broken
anchor: enrolled_at
max_delay: 2x
steps:
  - id: hello
    at: {days: 1, time: '09:00'}
    body: "{{ 'x' * 10**9 }}"
  - id: again
    at: {days: 2}
    body: "{{ '{}'.format() }}"
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    sequences = tmp_path / "sequences"
    sequences.mkdir()
    (sequences / "good.yaml").write_text(plain("good"))
    (sequences / "broken.yaml").write_text(BROKEN)
    return sequences


def test_validate_lists_every_problem_of_the_broken_file_only(folder: Path) -> None:
    started = time.perf_counter()
    result = dripsms("validate", str(folder))
    assert time.perf_counter() - started < 30
    assert result.returncode == 1
    broken = folder / "broken.yaml"
    assert result.stdout.splitlines() == [
        f"{broken}:4:12: max_delay: '2x' is not a duration; write e.g. '15m', '24h', '7d' or "
        "'1d12h'",
        f"{broken}:8:11: steps[0].body: cannot render: a repetition would be 1,000,000,000 "
        "long, over the limit of 100,000",
        f"{broken}:11:11: steps[1].body: cannot render: tuple index out of range (IndexError)",
    ]
    assert "3 error(s) in 2 files" in result.stderr


def test_the_library_loads_the_good_file_and_keeps_the_broken_ones_problems(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    library = SequenceLibrary(folder)
    assert library.sequence_keys() == ["good"]
    [broken] = library.load_problems
    assert (broken.file, broken.key) == (str(folder / "broken.yaml"), "broken")
    assert [(p.line, p.field) for p in broken.problems] == [
        (4, "max_delay"), (8, "steps[0].body"), (11, "steps[1].body"),
    ]  # fmt: skip
    assert broken.as_json()["problems"][0].startswith(f"{folder / 'broken.yaml'}:4:12: ")
    render.skipped(library.load_problems)
    banner = capsys.readouterr().err
    assert f"skipped {folder / 'broken.yaml'}: 3 problem(s)" in banner
    assert "see `dripsms validate`" in banner


def test_a_tick_hands_off_the_good_sequence_and_enrolling_in_the_broken_one_says_why(
    engine: Engine, folder: Path
) -> None:
    url = engine.url.render_as_string(hide_password=False)
    with sandbox_world(url, folder, T0, rate_limit=10_000) as world:
        with pytest.raises(EnrollmentError, match=r"'broken' cannot be used: .*broken\.yaml has 3"):
            world.runtime.enroller.enroll(EnrollmentRequest("broken", "+14155550100"), now=T0)
        world.runtime.enroller.enroll(EnrollmentRequest("good", "+14155550101"), now=T0)
        world.tick()
        [sent] = world.sandbox.messages()
        assert sent.body == "Hello from good"
        assert states(world) == {"good": "scheduled"}


def states(world: SandboxWorld) -> dict[str, str]:
    with world.engine.connect() as connection:
        rows = connection.execute(select(messages.c.body, messages.c.state)).all()
    return {row.body.removeprefix("Hello from "): row.state for row in rows}


def test_enrollments_pinned_to_a_version_keep_running_after_its_file_breaks(
    engine: Engine, folder: Path
) -> None:
    (folder / "broken.yaml").write_text(plain("broken"))
    url = engine.url.render_as_string(hide_password=False)
    with sandbox_world(url, folder, T0, rate_limit=10_000) as world:
        world.runtime.enroller.enroll(EnrollmentRequest("broken", "+14155550100"), now=T0)
        (folder / "broken.yaml").write_text(BROKEN)
        world.runtime.library.reload()
        assert [p.key for p in world.runtime.library.load_problems] == ["broken"]
        world.runtime.enroller.enroll(EnrollmentRequest("good", "+14155550101"), now=T0)
        world.tick()
        assert states(world) == {"broken": "scheduled", "good": "scheduled"}


def test_a_stored_version_is_not_checked_again_when_pinned(folder: Path) -> None:
    """A version accepted before a check was added keeps running: pinned skips cross-checks."""
    library = SequenceLibrary(folder)
    stored = plain("older", body="{{ 'x' * 10**9 }}")  # refused today, stored by an older dripsms
    loaded = library.pinned("d" * 64, stored, "older")
    assert loaded.sequence.step("hello").body == "{{ 'x' * 10**9 }}"


REPEAT = """key: repeat
name: Repeat
anchor: enrolled_at
timezone: UTC
attributes:
  times: {type: integer}
steps:
  - id: hello
    at: {days: 1, time: '09:00'}
    body: "{{ 'ha' * times }}"
"""


def test_a_body_that_fails_with_a_contacts_values_fails_that_message_only(
    engine: Engine, folder: Path
) -> None:
    """Valid with sample values, hostile with a contact's: that message fails, fast."""
    (folder / "repeat.yaml").write_text(REPEAT)
    url = engine.url.render_as_string(hide_password=False)
    with sandbox_world(url, folder, T0, rate_limit=10_000) as world:
        huge = EnrollmentRequest("repeat", "+14155550100", attributes={"times": "1000000000"})
        world.runtime.enroller.enroll(huge, now=T0)
        world.runtime.enroller.enroll(EnrollmentRequest("good", "+14155550101"), now=T0)
        started = time.thread_time()
        world.tick()
        assert time.thread_time() - started < 5
        with world.engine.connect() as connection:
            columns = (messages.c.body, messages.c.state, messages.c.error_message)
            rows = connection.execute(select(*columns).order_by(messages.c.id)).all()
        [(body, state, error), good] = rows
        assert (body, state) == (None, "failed")
        assert "a repetition would be 2,000,000,000 long" in error
        assert (good.body, good.state) == ("Hello from good", "scheduled")
