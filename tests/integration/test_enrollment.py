"""Enrollment against a real database (SQLite and PostgreSQL): what is written, and what not."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from dripsms.core.planning import EnrollmentError, EnrollmentRequest
from dripsms.core.states import EnrollmentState, MessageState
from dripsms.engine.enrollment import DuplicateEnrollment, Enroller, lines
from dripsms.engine.library import SequenceLibrary
from dripsms.engine.stopping import end_enrollment, opt_out_contact, unenroll
from dripsms.store.tables import contacts, enrollments, events, messages, sequence_versions

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)


@pytest.fixture
def enroller(engine: Engine) -> Enroller:
    return Enroller(engine, SequenceLibrary(REPO / "sequences"))


def request(phone: str = "+14155550100", **changes: object) -> EnrollmentRequest:
    fields: dict[str, object] = {
        "sequence": "postop",
        "phone": phone,
        "timezone": "America/New_York",
        "attributes": {"first_name": "Ada"},
        "anchor": "2026-03-07",
    }
    fields.update(changes)
    return EnrollmentRequest(**fields)  # type: ignore[arg-type]


def count(engine: Engine, table: object) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_enroll_plans_every_step_and_pins_the_version(engine: Engine, enroller: Enroller) -> None:
    enrolled = enroller.enroll(request(phone="(415) 555-0100"), now=NOW)
    with engine.connect() as connection:
        rows = connection.execute(
            select(messages.c.step_id, messages.c.state, messages.c.due_at).order_by(
                messages.c.due_at, messages.c.id
            )
        ).all()
        contact = connection.execute(select(contacts)).one()
        version = connection.execute(select(sequence_versions)).one()
    assert contact.phone == "+14155550100"
    assert contact.timezone == "America/New_York"
    assert version.key == "postop"
    assert version.digest.startswith(enrolled.version)
    # Day 3's two versions depend on `escalated`, which day 1's reply may set: blocked.
    assert [(r.step_id, r.state) for r in rows] == [
        ("day1", "planned"),
        ("day3", "blocked"),
        ("day3_escalated", "blocked"),
        ("day7", "planned"),
        ("day30", "planned"),
    ]
    # Day 1 is Sunday 2026-03-08 (the sequence's Sunday hours open at 10:00, EDT).
    assert rows[0].due_at == datetime(2026, 3, 8, 14, 0, tzinfo=UTC)
    assert count(engine, events) == 1


def test_an_active_duplicate_is_refused_unless_the_external_id_differs(
    engine: Engine, enroller: Enroller
) -> None:
    first = enroller.enroll(request(), now=NOW)
    with pytest.raises(DuplicateEnrollment, match="already enrolled in postop"):
        enroller.enroll(request(), now=NOW)
    second = enroller.enroll(request(external_id="knee-2", anchor="2026-09-01"), now=NOW)
    assert second.enrollment_id != first.enrollment_id
    assert count(engine, enrollments) == 2
    assert count(engine, contacts) == 1
    with engine.begin() as connection:
        end_enrollment(
            connection, first.enrollment_id, NOW, state=EnrollmentState.CANCELED, cause="test"
        )
    enroller.enroll(request(), now=NOW)  # allowed again once the first one ended
    assert count(engine, enrollments) == 3


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"phone": "12345"}, "phone", "not a possible number"),
        ({"phone": "+15555550100"}, "phone", "not a valid number"),
        ({"timezone": "Mars/Olympus"}, "timezone", "unknown time zone 'Mars/Olympus'"),
        ({"attributes": {}}, "attributes.first_name", "required"),
        ({"attributes": {"first_name": "A", "age": "3"}}, "attributes.age", "not an attribute"),
        (
            {"attributes": {"first_name": "A", "escalated": "maybe"}},
            "attributes.escalated",
            "expected true or false",
        ),
        ({"anchor": None}, "anchor", "required: give the surgery_date"),
        ({"anchor": "03/07/2026"}, "anchor", "expected a date"),
        ({"sequence": "nope"}, "sequence", "unknown sequence 'nope'"),
        ({"external_id": "x" * 129}, "external_id", "longer than 128"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(
    engine: Engine, enroller: Enroller, changes: dict[str, object], field: str, reason: str
) -> None:
    with pytest.raises(EnrollmentError) as caught:
        enroller.enroll(request(**changes), now=NOW)
    assert caught.value.field == field
    assert reason in caught.value.reason
    for table in (contacts, enrollments, messages, events, sequence_versions):
        assert count(engine, table) == 0


def test_a_batch_writes_good_items_and_reports_bad_ones(engine: Engine, enroller: Enroller) -> None:
    items = lines(
        [
            request("+14155550101"),
            request("not a phone"),
            request("+14155550102", attributes={"first_name": "B", "procedure": "elbow"}),
            request("+14155550103"),
            request("+14155550101"),  # the same enrollment as line 1
        ]
    )
    report = enroller.enroll_batch(items, now=NOW, cause="import")
    assert [line for line, _ in report.enrolled] == [1, 4]
    refused = {line: (error.field, error.reason) for line, error in report.refused}
    assert refused[2][0] == "phone"
    assert refused[3] == (
        "attributes.procedure",
        "expected one of knee, hip, shoulder, other; got 'elbow'",
    )
    assert refused[5] == ("phone", "same enrollment as line 1")
    assert count(engine, enrollments) == 2
    assert count(engine, messages) == 10


def test_unenroll_cancels_what_was_not_handed_off_and_asks_to_cancel_the_rest(
    engine: Engine, enroller: Enroller
) -> None:
    enrolled = enroller.enroll(request(), now=NOW)
    with engine.begin() as connection:
        connection.execute(
            messages.update()
            .where(messages.c.step_id == "day1")
            .values(state="scheduled", sid="SM" + "0" * 32)
        )
        assert end_enrollment(
            connection,
            enrolled.enrollment_id,
            NOW,
            state=EnrollmentState.CANCELED,
            cause="unenroll",
        )
        assert not end_enrollment(
            connection, enrolled.enrollment_id, NOW, state=EnrollmentState.CANCELED, cause="again"
        )
    with engine.connect() as connection:
        rows = {r.step_id: r for r in connection.execute(select(messages))}
    assert rows["day1"].state == "scheduled"
    assert rows["day1"].cancel_requested_at == NOW
    assert {rows[s].state for s in ("day3", "day3_escalated", "day7", "day30")} == {
        MessageState.CANCELED.value
    }


def test_what_goes_with_an_unenrollment_commits_with_it_or_neither_does(
    engine: Engine, enroller: Enroller
) -> None:
    """The console's audit row rides in the unenrollment's transaction: if it cannot be
    written, the enrollment stays active (never an unenrollment nobody is answerable for)."""
    enrolled = enroller.enroll(request(), now=NOW)

    def failing(_: object) -> None:
        raise RuntimeError("the audit row could not be written")

    with pytest.raises(RuntimeError):
        unenroll(engine, now=NOW, enrollment_id=enrolled.enrollment_id, also=failing)
    with engine.connect() as connection:
        state = connection.execute(select(enrollments.c.state)).scalar_one()
        planned = connection.execute(
            select(func.count()).select_from(messages).where(messages.c.state == "planned")
        ).scalar_one()
    assert state == EnrollmentState.ACTIVE.value
    assert planned == 3  # day1, day7, day30 (day3 and its escalated branch wait on day1)

    seen: list[object] = []
    unenroll(engine, now=NOW, enrollment_id=enrolled.enrollment_id, also=seen.append)
    assert len(seen) == 1
    with engine.connect() as connection:
        assert connection.execute(select(enrollments.c.state)).scalar_one() == "canceled"


def test_opting_out_exits_every_enrollment_and_suppresses_messages(
    engine: Engine, enroller: Enroller
) -> None:
    first = enroller.enroll(request(), now=NOW)
    enroller.enroll(request(external_id="second"), now=NOW)
    with engine.begin() as connection:
        opt_out_contact(connection, first.contact_id, NOW, cause="stop")
    with engine.connect() as connection:
        states = set(connection.execute(select(enrollments.c.state)).scalars())
        message_states = set(connection.execute(select(messages.c.state)).scalars())
        opted = connection.execute(select(contacts.c.opted_out_at)).scalar_one()
    assert states == {"exited"}
    assert message_states == {"suppressed"}
    assert opted == NOW


def test_anchored_on_enrollment_time(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "welcome.yaml").write_text(
        "key: welcome\nname: Welcome\ntimezone: Europe/Paris\n"
        "steps:\n  - id: hello\n    at: {hours: 1}\n    body: Welcome!\n"
    )
    enroller = Enroller(engine, SequenceLibrary(tmp_path))
    enrolled = enroller.enroll(EnrollmentRequest("welcome", "+33612345678"), now=NOW)
    assert enrolled.prepared.timezone == "Europe/Paris"
    assert enrolled.prepared.anchor == NOW
    assert enrolled.prepared.messages[0].due_at == datetime(2026, 3, 1, 16, 0, tzinfo=UTC)
    with pytest.raises(EnrollmentError, match="anchored on the enrollment time"):
        enroller.enroll(
            EnrollmentRequest("welcome", "+33612345679", anchor=date(2026, 1, 1)), now=NOW
        )
