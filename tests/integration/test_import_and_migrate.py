"""CSV import (bad rows reported, nothing half-written) and sequence-version migration."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from dripsms.core.planning import EnrollmentError, EnrollmentRequest
from dripsms.engine.enrollment import Enroller
from dripsms.engine.importing import import_csv
from dripsms.engine.library import SequenceLibrary
from dripsms.engine.replanning import migrate_sequence
from dripsms.store.tables import contacts, enrollments, events, messages

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)
HEADER = "phone,timezone,first_name,surgery_date,external_id\n"


def counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as connection:
        return tuple(  # type: ignore[return-value]
            connection.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (contacts, enrollments, messages)
        )


@pytest.fixture
def enroller(engine: Engine) -> Enroller:
    return Enroller(engine, SequenceLibrary(REPO / "sequences"))


def test_import_reports_every_bad_row_with_its_line_and_writes_only_good_rows(
    engine: Engine, enroller: Enroller, tmp_path: Path
) -> None:
    csv = tmp_path / "patients.csv"
    csv.write_text(
        HEADER
        + "+14155550100,America/New_York,Ada,2026-03-07,\n"  # line 2: good
        + "12345,America/New_York,Bob,2026-03-07,\n"  # line 3: bad phone
        + "+14155550102,Mars/Olympus,Cy,2026-03-07,\n"  # line 4: unknown zone
        + "+14155550103,America/New_York,,2026-03-07,\n"  # line 5: first_name missing
        + "+14155550104,America/New_York,Di,07/03/2026,\n"  # line 6: bad date
        + '"(650) 555-0105",America/Chicago,"Eve, Jr.",2026-03-08,\n'  # line 7: good
        + "+14155550100,America/New_York,Ada,2026-03-07,\n"  # line 8: same as line 2
        + "+14155550106,America/New_York,Flo,2026-03-07,x,extra\n"  # line 9: extra cell
    )
    report = import_csv(enroller, "postop", csv, now=NOW, batch_size=3)
    assert (report.rows, report.enrolled) == (8, 2)
    assert [(line, field) for line, field, _ in report.refused] == [
        (3, "phone"),
        (4, "timezone"),
        (5, "attributes.first_name"),
        (6, "attributes.surgery_date"),
        (9, "row"),
    ]
    assert report.duplicates == [(8, "same enrollment as line 2")]
    assert report.accounted == report.rows
    assert counts(engine) == (2, 2, 10)
    with engine.connect() as connection:
        phones = set(connection.execute(select(contacts.c.phone)).scalars())
    assert phones == {"+14155550100", "+16505550105"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("name,timezone\nAda,UTC\n", "no 'phone' column"),
        ("phone,age\n+14155550100,3\n", "column(s) age are not attributes of postop"),
    ],
)
def test_a_file_that_cannot_be_imported_writes_nothing(
    engine: Engine, enroller: Enroller, tmp_path: Path, text: str, message: str
) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text(text)
    with pytest.raises(EnrollmentError, match=message.replace("(", r"\(").replace(")", r"\)")):
        import_csv(enroller, "postop", csv, now=NOW)
    assert counts(engine) == (0, 0, 0)


def test_migrate_replans_only_what_was_not_handed_off(engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "sequences"
    folder.mkdir()
    shutil.copy(REPO / "sequences" / "postop.yaml", folder / "postop.yaml")
    enroller = Enroller(engine, SequenceLibrary(folder))
    request = EnrollmentRequest(
        "postop", "+14155550100", "America/New_York", {"first_name": "Ada"}, "2026-03-07"
    )
    enrolled = enroller.enroll(request, now=NOW)
    with engine.begin() as connection:  # pretend day 1 is already held by Twilio
        connection.execute(
            messages.update()
            .where(messages.c.step_id == "day1")
            .values(state="scheduled", sid="SM" + "1" * 32)
        )
    text = (folder / "postop.yaml").read_text()
    text = text.replace('at: {days: 1, time: "09:00"}', 'at: {days: 1, time: "11:00"}')
    text = text.replace('at: {days: 7, time: "10:00"}', 'at: {days: 7, time: "16:00"}')
    day14 = (
        '  - id: day14\n    at: {days: 14, time: "10:00"}\n'
        "    body: Two weeks, {{ first_name }}!\n\n"
    )
    text = text.replace("  - id: day30\n", day14 + "  - id: day30\n")
    (folder / "postop.yaml").write_text(text)
    library = SequenceLibrary(folder)
    report = migrate_sequence(engine, library, "postop", now=NOW)
    assert (report.enrollments, report.added, report.removed) == (1, 1, 0)
    assert report.replanned == 4  # day3, day3_escalated, day7, day30; not day1
    with engine.connect() as connection:
        rows = {r.step_id: r for r in connection.execute(select(messages))}
        causes = list(connection.execute(select(events.c.cause)).scalars())
    assert rows["day1"].due_at == datetime(2026, 3, 8, 14, 0, tzinfo=UTC)  # unchanged
    assert rows["day7"].due_at == datetime(2026, 3, 14, 20, 0, tzinfo=UTC)  # 16:00 EDT
    assert rows["day14"].state == "planned"
    assert "sequence_migrated" in causes
    again = migrate_sequence(engine, library, "postop", now=NOW)
    assert again.enrollments == 0  # already on the current version
    assert enrolled.enrollment_id == 1
