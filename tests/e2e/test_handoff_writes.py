"""How many times the dispatcher writes each message it hands off: three row versions
(claimed, intent, answer) and no more. A step that asks nothing has its reply window closed
in its answer's row version, not by a fourth write from the reply timers' next pass, and
its enrollment still ends ``completed`` as it is recorded."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, func, select
from tests.e2e.conftest import ONE_STEP_SEQUENCE, T0, due_now

from dripsms.store.tables import enrollments, messages

QUESTION_SEQUENCE = """key: ask
name: Ask
timezone: UTC
send_window: {start: "00:00", end: "24:00"}
steps:
  - id: confirm
    at: {minutes: 1}
    body: "Coming, {{ name }}? Reply YES or NO"
    expect_reply: {type: yes_no, window: 1h}
attributes:
  name: string
"""
LATER_SEQUENCE = ONE_STEP_SEQUENCE.replace("key: now", "key: later").replace(
    "at: {minutes: 1}", "at: {hours: 2}"
)
"""A step that asks nothing, due in two hours: scheduled at Twilio with a SendAt."""
CONTACTS = 12


@contextmanager
def updates_of_messages(engine: Engine) -> Iterator[Counter[str]]:
    """Rows of ``messages`` each UPDATE changed, by the columns it sets."""
    counts: Counter[str] = Counter()

    def count(_c: Any, cursor: Any, statement: str, *_args: Any) -> None:
        text = " ".join(statement.split())
        if text.upper().startswith("UPDATE MESSAGES SET"):
            columns = text[len("UPDATE messages SET ") :].split(" WHERE ")[0]
            counts[columns.split("=")[0]] += max(cursor.rowcount, 0)

    event.listen(engine, "after_cursor_execute", count)
    try:
        yield counts
    finally:
        event.remove(engine, "after_cursor_execute", count)


def written(engine: Engine, updates: Counter[str]) -> int | None:
    """Rows of ``messages`` updated; None on SQLite, whose driver does not know how many rows
    an ``UPDATE ... RETURNING`` changed until they are read."""
    return sum(updates.values()) if engine.dialect.name == "postgresql" else None


def column(engine: Engine, query: Any) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(query).scalars())


def test_a_step_that_asks_nothing_is_written_three_times_and_completes(
    engine: Engine, tmp_path: Path
) -> None:
    with due_now(
        engine, tmp_path, CONTACTS, concurrency=4, key="now", sequence=ONE_STEP_SEQUENCE
    ) as world:
        with updates_of_messages(world.engine) as updates:
            first = world.tick()
            world.at(world.now + timedelta(minutes=1))
            world.tick()  # the reply timers' next pass: nothing left to close
        assert first.sent_now == CONTACTS
        assert written(world.engine, updates) in (None, 3 * CONTACTS), updates
        assert first.completed == CONTACTS  # as the answers were recorded
        closed = column(world.engine, select(messages.c.no_reply_handled_at))
        assert closed == [T0 + timedelta(minutes=1)] * CONTACTS
        states = column(world.engine, select(func.distinct(enrollments.c.state)))
        assert states == ["completed"]


def test_a_question_keeps_its_window_open_after_the_handoff(engine: Engine, tmp_path: Path) -> None:
    with due_now(
        engine, tmp_path, CONTACTS, concurrency=4, key="ask", sequence=QUESTION_SEQUENCE
    ) as world:
        with updates_of_messages(world.engine) as updates:
            report = world.tick()
        assert report.sent_now == CONTACTS
        assert report.completed == 0
        assert written(world.engine, updates) in (None, 3 * CONTACTS), updates
        assert column(world.engine, select(messages.c.no_reply_handled_at)) == [None] * CONTACTS
        states = column(world.engine, select(func.distinct(enrollments.c.state)))
        assert states == ["active"]


@contextmanager
def statements(engine: Engine) -> Iterator[Counter[str]]:
    """Statements run, by their first three words (``UPDATE enrollments SET``)."""
    counts: Counter[str] = Counter()

    def count(_c: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        counts[" ".join(statement.split()[:3])] += 1

    event.listen(engine, "after_cursor_execute", count)
    try:
        yield counts
    finally:
        event.remove(engine, "after_cursor_execute", count)


def test_enrollments_completed_together_cost_one_update_each_table(
    engine: Engine, tmp_path: Path
) -> None:
    """The reply timers close twelve windows run out in one pass: the twelve enrollments end
    in one UPDATE of ``enrollments`` (and one of ``messages`` for their skipped steps), not
    one each."""
    with due_now(
        engine, tmp_path, CONTACTS, concurrency=4, key="ask", sequence=QUESTION_SEQUENCE
    ) as world:
        assert world.tick().sent_now == CONTACTS
        world.at(world.now + timedelta(hours=2))
        with statements(world.engine) as counts:
            report = world.tick()
        assert report.completed == CONTACTS
        assert counts["UPDATE enrollments SET"] == 1, counts
        states = column(world.engine, select(func.distinct(enrollments.c.state)))
        assert states == ["completed"]


def test_a_scheduled_step_keeps_its_window_until_its_send_at(
    engine: Engine, tmp_path: Path
) -> None:
    """Held by Twilio until its SendAt, it has not gone out: its enrollment is not done."""
    with due_now(
        engine, tmp_path, CONTACTS, concurrency=4, key="later", sequence=LATER_SEQUENCE
    ) as world:
        report = world.tick()
        assert (report.scheduled, report.completed) == (CONTACTS, 0)
        assert column(world.engine, select(messages.c.no_reply_handled_at)) == [None] * CONTACTS
        states = column(world.engine, select(func.distinct(enrollments.c.state)))
        assert states == ["active"]
