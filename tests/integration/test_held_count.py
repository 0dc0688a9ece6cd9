"""The count of messages Twilio holds is maintained by triggers, and exact: after random
changes of every kind, and after the real paths that move messages (handoffs, status
callbacks, cancels, unenroll, pause and resume, replanning, imports, deletes), on SQLite
and PostgreSQL, it equals ``count(*)``."""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import (
    Connection,
    Engine,
    String,
    and_,
    cast,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)

from dripsms.core.planning import EnrollmentRequest
from dripsms.core.states import MessageState
from dripsms.engine.contact_actions import pause, resume
from dripsms.engine.importing import import_csv
from dripsms.engine.library import SequenceLibrary
from dripsms.engine.operators import Operator, Role
from dripsms.engine.replanning import migrate_sequence
from dripsms.engine.status import StatusUpdate, apply_status
from dripsms.engine.stopping import unenroll
from dripsms.store import held
from dripsms.store.outbox import scheduled_count
from dripsms.store.tables import contacts, enrollments, message_counts, messages, sequence_versions
from dripsms.testing import SandboxWorld, sandbox_world

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
S = MessageState
m = messages.c
STATES = [s.value for s in S]
NURSE = Operator(1, "nurse@clinic.example", Role.NURSE)


def counted(connection: Connection, now: datetime) -> int:
    """What ``scheduled_count`` used to run: ``count(*)`` of the rows Twilio holds."""
    held_rows = or_(
        and_(m.state == S.SCHEDULED.value, m.due_at > now),
        m.state == S.HANDING_OFF.value,
    )
    return int(connection.execute(select(func.count()).where(held_rows)).scalar_one())


def by_state(connection: Connection) -> tuple[int, int]:
    rows = {
        row.state: int(row.n)
        for row in connection.execute(select(m.state, func.count().label("n")).group_by(m.state))
    }
    return rows.get(S.SCHEDULED.value, 0), rows.get(S.HANDING_OFF.value, 0)


def assert_exact(engine: Engine, now: datetime) -> int:
    with engine.connect() as connection:
        assert held.counted(connection) == by_state(connection)
        count = scheduled_count(connection, now)
        assert count == counted(connection, now)
    return count


def seed(connection: Connection) -> int:
    """A sequence version, and one contact with one enrollment; the enrollment's id."""
    connection.execute(
        insert(sequence_versions).values(id=1, key="k", digest="d", text="", loaded_at=NOW)
    )
    connection.execute(
        insert(contacts).values(
            id=1, phone="+14155550100", attributes={}, created_at=NOW, updated_at=NOW
        )
    )
    connection.execute(
        insert(enrollments).values(
            id=1, contact_id=1, sequence_version_id=1, sequence_key="k", state="active",
            timezone="UTC", anchor="2026-03-01", attributes={}, enrolled_at=NOW,
        )
    )  # fmt: skip
    return 1


def test_random_inserts_updates_deletes_and_rollbacks_keep_the_count_exact(
    engine: Engine,
) -> None:
    rng = random.Random(10)
    with engine.begin() as connection:
        seed(connection)
    step = 0

    def new_rows(count: int) -> list[dict[str, object]]:
        nonlocal step
        rows = []
        for _ in range(count):
            step += 1
            due = NOW + timedelta(minutes=rng.randint(-600, 600))
            rows.append(
                {"enrollment_id": 1, "step_id": f"s{step}", "state": rng.choice(STATES),
                 "due_at": due, "updated_at": NOW}
            )  # fmt: skip
        return rows

    for round_ in range(120):
        now = NOW + timedelta(minutes=rng.randint(-300, 300))
        with engine.connect() as connection:
            transaction = connection.begin()
            ids = list(connection.execute(select(m.id)).scalars())
            for _ in range(rng.randint(1, 4)):
                action = rng.random()
                if action < 0.3 or not ids:
                    connection.execute(insert(messages), new_rows(rng.randint(1, 20)))
                elif action < 0.75:  # one statement moving many rows, some to where they are
                    chosen = rng.sample(ids, min(len(ids), rng.randint(1, 15)))
                    connection.execute(
                        update(messages)
                        .where(m.id.in_(chosen))
                        .values(state=rng.choice(STATES), updated_at=now)
                    )
                elif action < 0.85:  # a change that leaves the state alone
                    connection.execute(update(messages).values(updated_at=now))
                else:
                    chosen = rng.sample(ids, min(len(ids), rng.randint(1, 5)))
                    connection.execute(delete(messages).where(m.id.in_(chosen)))
            if rng.random() < 0.2:
                transaction.rollback()
            else:
                transaction.commit()
        if round_ % 25 == 24:
            with engine.begin() as connection:
                held.fold_counts(connection)
        assert_exact(engine, now)
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(message_counts)).scalar_one()
        assert sum(by_state(connection)) > 0


def test_a_long_log_is_folded_by_a_writing_read_and_not_by_a_read_only_one(
    engine: Engine,
) -> None:
    with engine.begin() as connection:
        seed(connection)
        rows = [
            {"enrollment_id": 1, "step_id": f"s{i}", "state": "planned", "updated_at": NOW}
            for i in range(held.FOLD_AT + 10)
        ]
        connection.execute(insert(messages), rows)
    for i in range(held.FOLD_AT + 10):  # one change, one statement, one row of the log each
        with engine.begin() as connection:
            connection.execute(
                update(messages).where(m.step_id == f"s{i}").values(state="handing_off")
            )

    def log_rows() -> int:
        with engine.connect() as connection:
            return int(
                connection.execute(select(func.count()).select_from(message_counts)).scalar_one()
            )

    assert log_rows() > held.FOLD_AT
    with engine.connect() as connection:
        reading = connection.execution_options(dripsms_read_only=True)
        assert held.held(reading, NOW) == held.FOLD_AT + 10
    assert log_rows() > held.FOLD_AT
    with engine.begin() as connection:
        assert scheduled_count(connection, NOW) == held.FOLD_AT + 10
    assert log_rows() == 1
    assert_exact(engine, NOW)


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_writers_on_postgresql_do_not_wait_on_one_another_for_the_count(
    engine: Engine,
) -> None:
    """Two transactions each move a message into ``scheduled``: neither waits for the other
    (a counter row updated in place would hold the second until the first commits), and a
    fold while one is open loses nothing."""
    with engine.begin() as connection:
        seed(connection)
        connection.execute(
            insert(messages),
            [
                {"enrollment_id": 1, "step_id": f"s{i}", "state": "handing_off",
                 "due_at": NOW + timedelta(hours=1), "updated_at": NOW}
                for i in range(3)
            ],
        )  # fmt: skip
    first = engine.connect()
    try:
        open_transaction = first.begin()
        first.execute(update(messages).where(m.step_id == "s0").values(state="scheduled"))
        with engine.begin() as second:
            second.execute(text("SET LOCAL lock_timeout = '2s'"))
            second.execute(update(messages).where(m.step_id == "s1").values(state="scheduled"))
            held.fold_counts(second)  # folds what it sees; the open change is not lost
            assert held.held(second, NOW) == 3
        open_transaction.commit()
    finally:
        first.close()
    assert assert_exact(engine, NOW) == 3


# -- the real paths -------------------------------------------------------------------------

SEQUENCE = """key: checkin
name: Check-in
timezone: UTC
send_window: {start: "00:00", end: "24:00"}
max_delay: 1h
steps:
  - id: soon
    at: {minutes: 5}
    body: "Soon: how are you?"
  - id: later
    at: {hours: 3}
    body: "Later: any pain?"
  - id: tomorrow
    at: {days: 1}
    body: "Tomorrow: still well?"
"""


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> Iterator[SandboxWorld]:
    folder = tmp_path / "sequences"
    folder.mkdir()
    (folder / "checkin.yaml").write_text(SEQUENCE)
    shutil.copy(REPO / "sequences" / "postop.yaml", folder / "postop.yaml")
    url = engine.url.render_as_string(hide_password=False)
    with sandbox_world(
        url, folder, NOW, public_url="http://127.0.0.1:9", rate_limit=10_000
    ) as world:
        yield world


def phone(n: int) -> str:
    return f"+1415555{n:04d}"


def test_every_path_that_moves_messages_keeps_the_count_exact(
    world: SandboxWorld, tmp_path: Path
) -> None:
    engine = world.engine
    enroller = world.runtime.enroller
    ids = [
        enroller.enroll(
            EnrollmentRequest("checkin", phone(n), "UTC", {}, None), now=NOW
        ).enrollment_id
        for n in range(8)
    ]
    assert assert_exact(engine, NOW) == 0
    world.tick()  # `soon` goes now, `later` and `tomorrow` are scheduled at Twilio
    assert assert_exact(engine, world.now) == 16
    # Status callbacks: some of the scheduled ones go, one fails, one is canceled at Twilio.
    with engine.connect() as connection:
        sids = list(
            connection.execute(select(m.sid).where(m.state == "scheduled").order_by(m.id)).scalars()
        )
    for sid, status in zip(sids, ["sent", "delivered", "failed", "canceled"], strict=False):
        apply_status(engine, StatusUpdate(sid, status), now=world.now)
    assert assert_exact(engine, world.now) == 12
    # Unenroll: cancel requests, then the dispatcher cancels at Twilio.
    unenroll(engine, now=world.now, enrollment_id=ids[5])
    assert_exact(engine, world.now)
    world.at(world.now + timedelta(minutes=1))
    world.tick()
    assert_exact(engine, world.now)
    # Pause (cancels at Twilio) and resume (planned again, handed off anew).
    pause(engine, phone(6), ids[6], NURSE, now=world.now, audited_at=world.now)
    world.tick()
    assert_exact(engine, world.now)
    resume(engine, phone(6), ids[6], NURSE, now=world.now, audited_at=world.now)
    assert_exact(engine, world.now)
    world.tick()
    assert_exact(engine, world.now)
    # An import, then a new version of the sequence re-planning its enrollments.
    csv = tmp_path / "in.csv"
    csv.write_text(
        "phone,timezone,first_name,surgery_date\n"
        + "".join(f"{phone(100 + n)},America/New_York,P{n},2026-03-07\n" for n in range(20))
    )
    report = import_csv(enroller, "postop", csv, now=world.now)
    assert report.enrolled == 20
    with engine.begin() as connection:  # pretend some of them are held by Twilio already
        connection.execute(
            update(messages)
            .where(m.step_id == "day1")
            .values(state="scheduled", sid=m.step_id.concat(cast(m.id, String)))
        )
    assert_exact(engine, world.now)
    postop = world.runtime.settings.sequences_dir / "postop.yaml"
    postop.write_text(postop.read_text().replace('time: "10:00"', 'time: "16:00"'))
    replanned = migrate_sequence(engine, SequenceLibrary(postop.parent), "postop", now=world.now)
    assert replanned.replanned > 0
    assert_exact(engine, world.now)
    # Time passes: released messages stop counting though their callbacks are not in.
    for hours in (2, 4, 30):
        at = NOW + timedelta(hours=hours)
        assert_exact(engine, at)
    # Deletes (a retention job, an operator's cleanup) are counted too.
    with engine.begin() as connection:
        connection.execute(delete(messages).where(m.state.in_(["scheduled", "sent"])))
    assert_exact(engine, world.now)


def test_an_idle_pass_folds_what_status_callbacks_appended_meanwhile(world: SandboxWorld) -> None:
    engine = world.engine
    for n in range(3):
        request = EnrollmentRequest("checkin", phone(n), "UTC", {}, None)
        world.runtime.enroller.enroll(request, now=NOW)
    world.tick()
    with engine.begin() as connection:  # callbacks and changes while nothing is claimed
        for _ in range(held.FOLD_AT // 2 + 1):
            connection.execute(update(messages).values(state="sent"))
            connection.execute(update(messages).values(state="scheduled"))
    with engine.connect() as connection:
        rows = connection.execute(select(func.count()).select_from(message_counts)).scalar_one()
    assert rows > held.FOLD_AT
    world.at(world.now + timedelta(seconds=5))
    assert not any(world.tick().as_json().values())  # idle
    with engine.connect() as connection:
        rows = connection.execute(select(func.count()).select_from(message_counts)).scalar_one()
    assert rows == 1
    assert_exact(engine, world.now)
