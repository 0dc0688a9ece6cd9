"""An idle dispatcher pass reads only what is due: every statement it runs is an index
search (no scan of a big table), and the work SQLite does for it does not grow with the
messages planned far ahead, held at Twilio, or done long ago.

The statements are captured with SQLAlchemy's cursor events while a real pass runs (wired
as ``dripsms run`` wires it, against the sandbox over HTTP), so a query added to a pass
later is checked too. The work is SQLite's own count of virtual-machine instructions (its
progress handler): no clock, no timing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, insert, text

from dripsms.engine.library import SequenceLibrary
from dripsms.store.database import connect, upgrade
from dripsms.store.repository import ensure_version
from dripsms.store.tables import (
    contacts,
    enrollments,
    events,
    messages,
    notifications,
    replies,
)
from dripsms.testing import SandboxWorld, sandbox_world

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
BIG_TABLES = ("messages", "enrollments", "contacts", "replies", "events", "notifications")
SCAN = re.compile(r"\bSCAN (" + "|".join(BIG_TABLES) + r")\b")
SEQ_SCAN = re.compile(r"Seq Scan on (" + "|".join(BIG_TABLES) + r")\b")
STEPS = ("day1", "day3", "day3_escalated", "day7", "day30")


def populate(engine: Engine, scale: int) -> None:
    """``scale`` enrollments of each kind: planned a year ahead; held at Twilio (due within
    the week, after the next hour); done (completed, their messages delivered and their
    windows closed, a matched reply, a text, a canceled step, a delivered notification)."""
    library = SequenceLibrary(REPO / "sequences")
    far = NOW + timedelta(days=365)
    with engine.begin() as connection:
        version = ensure_version(connection, library.current("postop"), NOW)
        people, enrolled, sent, answers, posted, log = [], [], [], [], [], []
        for n in range(3 * scale):
            kind = ("far", "held", "done")[n % 3]
            eid = n + 1
            people.append(
                {"id": eid, "phone": f"+1415{n:07d}", "attributes": {}, "created_at": NOW,
                 "updated_at": NOW}
            )  # fmt: skip
            enrolled.append(
                {"id": eid, "contact_id": eid, "sequence_version_id": version,
                 "sequence_key": "postop", "external_id": "",
                 "state": "completed" if kind == "done" else "active",
                 "timezone": "America/New_York", "anchor": "2026-11-30",
                 "attributes": {"first_name": "Ann", "surgery_date": "2026-11-30"},
                 "enrolled_at": NOW - timedelta(days=60)}
            )  # fmt: skip
            for i, step in enumerate(STEPS):
                row: dict[str, Any] = {
                    "enrollment_id": eid, "step_id": step, "state": "planned", "kind": "step",
                    "due_at": far + timedelta(minutes=n + i), "updated_at": NOW, "sid": None,
                    "send_at": None, "no_reply_handled_at": None, "to_phone": None,
                }  # fmt: skip
                if kind == "held":
                    at = NOW + timedelta(hours=2, minutes=n + i)
                    row.update(state="scheduled", due_at=at, send_at=at, sid=f"SMh{eid}_{i}")
                elif kind == "done":
                    at = NOW - timedelta(days=30, minutes=n + i)
                    state = "canceled" if i == 4 else "delivered"
                    closed = None if state == "canceled" else at + timedelta(days=1)
                    row.update(state=state, due_at=at, sid=f"SMd{eid}_{i}", send_at=at,
                               no_reply_handled_at=closed)  # fmt: skip
                sent.append(row)
            if kind == "done":
                at = NOW - timedelta(days=30)
                sent.append(
                    {"enrollment_id": eid, "step_id": "reply:1", "state": "delivered",
                     "kind": "text", "due_at": at, "updated_at": NOW, "sid": f"SMt{eid}",
                     "send_at": None, "no_reply_handled_at": None, "to_phone": None}
                )  # fmt: skip
                answers.append(
                    {"message_sid": f"SMr{eid}", "contact_id": eid, "enrollment_id": eid,
                     "step_id": "day1", "kind": "matched", "body": "3", "value": 3,
                     "received_at": at, "from_phone": f"+1415{n:07d}"}
                )  # fmt: skip
                posted.append(
                    {"enrollment_id": eid, "target": "care_team", "url": "https://x.example",
                     "payload": {}, "state": "delivered", "attempts": 1, "next_attempt_at": at,
                     "created_at": at, "delivered_at": at}
                )  # fmt: skip
            log.append({"at": NOW, "kind": "enrollment", "enrollment_id": eid, "cause": "enrolled"})
        connection.execute(insert(contacts), people)
        connection.execute(insert(enrollments), enrolled)
        connection.execute(insert(messages), sent)
        connection.execute(insert(replies), answers)
        connection.execute(insert(notifications), posted)
        connection.execute(insert(events), log)


@dataclass
class Captured:
    statements: list[tuple[str, Any]] = field(default_factory=list)
    steps: int = 0


@contextmanager
def captured(engine: Engine) -> Iterator[Captured]:
    """The statements ``engine`` runs while inside, and SQLite's instructions for them."""
    seen = Captured()

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.statements.append((statement, parameters))

    def count() -> int:
        seen.steps += 1
        return 0

    def checkout(dbapi_connection: Any, *_: Any) -> None:
        if hasattr(dbapi_connection, "set_progress_handler"):  # SQLite
            dbapi_connection.set_progress_handler(count, 1)

    def checkin(dbapi_connection: Any, *_: Any) -> None:
        if hasattr(dbapi_connection, "set_progress_handler"):
            dbapi_connection.set_progress_handler(None, 1)

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "checkout", checkout)
    event.listen(engine, "checkin", checkin)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "checkout", checkout)
        event.remove(engine, "checkin", checkin)


@contextmanager
def world_of(tmp_path: Path, scale: int, url: str | None = None) -> Iterator[SandboxWorld]:
    url = url or f"sqlite:///{tmp_path / f'scale{scale}.db'}"
    engine = connect(url)
    upgrade(engine)
    populate(engine, scale)
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:  # as autovacuum would have, on tables this size
            connection.execute(text("ANALYZE"))
            connection.commit()
    engine.dispose()
    with sandbox_world(
        url, REPO / "sequences", NOW, public_url="http://127.0.0.1:9", rate_limit=10_000
    ) as world:
        yield world


def idle_tick(world: SandboxWorld) -> tuple[Captured, Captured]:
    """A first pass (it also runs the once-a-minute completion scan, a bounded slice of
    500 active enrollments, and missed-reply recovery), then the pass of every 5 s after
    it: both must do nothing."""
    with captured(world.engine) as first:
        assert not any(world.tick().as_json().values())
    world.at(NOW + timedelta(seconds=5))
    with captured(world.engine) as seen:
        report = world.tick()
    assert not any(report.as_json().values()), report.as_json()
    return first, seen


def plans(world: SandboxWorld, statements: list[tuple[str, Any]]) -> dict[str, str]:
    """Each query's plan: ``EXPLAIN QUERY PLAN`` (SQLite), ``EXPLAIN`` (PostgreSQL)."""
    found = {}
    sqlite = world.engine.dialect.name == "sqlite"
    with world.engine.connect() as connection:
        for statement, parameters in statements:
            if not statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "WITH")):
                continue
            explain = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
            rows = connection.exec_driver_sql(explain + statement, parameters)
            found[statement] = "; ".join(row[3] if sqlite else row[0].strip() for row in rows)
            connection.rollback()
    return found


def scans(checked: dict[str, str], pattern: re.Pattern[str]) -> str:
    return "\n\n".join(f"{s}\n  -> {p}" for s, p in checked.items() if pattern.search(p))


def test_an_idle_pass_searches_indexes_only_and_its_work_does_not_grow_with_the_tables(
    tmp_path: Path,
) -> None:
    with world_of(tmp_path, 2) as small:
        _, few = idle_tick(small)
    with world_of(tmp_path, 600) as big:
        first, many = idle_tick(big)
        checked = plans(big, first.statements + many.statements)
    assert checked, "the pass ran no query"
    assert not scans(checked, SCAN), "an idle pass scans a big table:\n" + scans(checked, SCAN)
    # 1,800 enrollments and 9,600 messages against 6 and 32: an index search costs a level
    # more of the b-tree, a read of the rows would cost thousands of instructions.
    assert len(many.statements) == len(few.statements)
    assert many.steps <= few.steps * 1.2 + 200, (few.steps, many.steps)


def test_on_postgresql_no_query_of_an_idle_pass_is_planned_as_a_scan_of_a_big_table(
    tmp_path: Path, postgres_url: str
) -> None:
    with world_of(tmp_path, 600, postgres_url) as big:
        # The pass of every 5 s. (The first also runs the completion scan, whose slice of
        # 500 enrollments is a large part of 1,800: a sequential read is then PostgreSQL's
        # right choice, and bounded by the slice.)
        _, many = idle_tick(big)
        checked = plans(big, many.statements)
    assert checked, "the pass ran no query"
    found = scans(checked, SEQ_SCAN)
    assert not found, "an idle pass scans a big table:\n" + found
