"""A CSV import checks the whole file before it writes, and accounts for every row."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from dripsms.engine.enrollment import Enroller
from dripsms.engine.importing import MAX_FIELD, MAX_LINE, BadImportFile, import_csv
from dripsms.engine.library import SequenceLibrary
from dripsms.store.tables import enrollments, events, messages

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)
HEADER = b"phone,timezone,first_name,surgery_date\n"


@pytest.fixture
def enroller(engine: Engine) -> Enroller:
    return Enroller(engine, SequenceLibrary(REPO / "sequences"))


def good(n: int, surgery: str = "2026-03-07") -> bytes:
    return f"+1415555{n:04d},America/New_York,P{n},{surgery}\n".encode()


def enrolled_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(enrollments)).scalar_one())


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "in.csv"
    path.write_bytes(data)
    return path


def test_a_bad_byte_late_in_the_file_is_reported_with_its_line_column_and_offset(
    engine: Engine, enroller: Enroller, tmp_path: Path
) -> None:
    rows = [good(n) for n in range(1, 2600)]
    rows[2498] = b"+14155552499,America/New_York,Jos\xe9,2026-03-07\n"  # line 2500
    path = write(tmp_path, HEADER + b"".join(rows))
    report = import_csv(enroller, "postop", path, now=NOW, batch_size=500)
    offset = len(HEADER + b"".join(rows[:2498])) + len(b"+14155552499,America/New_York,Jos")
    assert report.refused == [
        (2500, "encoding",
         f"byte 0xE9 at line 2500, column 34 (byte offset {offset}) is not UTF-8"),
    ]  # fmt: skip
    assert (report.rows, report.enrolled) == (2599, 2598)
    assert enrolled_count(engine) == 2598


def test_all_or_nothing_writes_nothing_when_one_row_is_bad(
    engine: Engine, enroller: Enroller, tmp_path: Path
) -> None:
    rows = [good(n) for n in range(1, 2600)]
    rows[2498] = b"+14155552499,America/New_York,Jos\xe9,2026-03-07\n"
    rows[2000] = b"+14155552001,Mars/Olympus,Eve,2026-03-07\n"  # refused by enrollment rules
    path = write(tmp_path, HEADER + b"".join(rows))
    report = import_csv(enroller, "postop", path, now=NOW, all_or_nothing=True)
    assert not report.written
    assert report.enrolled == 0
    assert [(line, field) for line, field, _ in report.refused] == [
        (2002, "timezone"), (2500, "encoding"),
    ]  # fmt: skip  # every problem found, though nothing is written
    assert report.valid == 2597
    assert report.accounted == report.rows
    with engine.connect() as connection:
        written = [connection.execute(select(func.count()).select_from(t)).scalar_one()
                   for t in (enrollments, messages, events)]  # fmt: skip
    assert written == [0, 0, 0]


def test_all_or_nothing_writes_everything_when_only_duplicates_are_skipped(
    engine: Engine, enroller: Enroller, tmp_path: Path
) -> None:
    path = write(tmp_path, HEADER + good(1) + good(2) + good(1))
    report = import_csv(enroller, "postop", path, now=NOW, all_or_nothing=True)
    assert report.written
    assert (report.enrolled, report.duplicates) == (2, [(4, "same enrollment as line 2")])


def test_a_huge_field_is_refused_on_its_line_and_the_rest_imported(
    engine: Engine, enroller: Enroller, tmp_path: Path
) -> None:
    huge = b"+14155550002,America/New_York," + b"x" * (MAX_FIELD + 10) + b",2026-03-07\n"
    path = write(tmp_path, HEADER + good(1) + huge + good(3))
    report = import_csv(enroller, "postop", path, now=NOW)
    assert [(line, field) for line, field, _ in report.refused] == [(3, "row")]
    assert "longer than 65,536 characters" in report.refused[0][2]
    assert report.enrolled == 2


def test_a_line_of_megabytes_is_refused_without_being_held(
    engine: Engine, enroller: Enroller, tmp_path: Path
) -> None:
    endless = b"+14155550002,America/New_York," + b"z" * (3 * MAX_LINE) + b",2026-03-07\n"
    path = write(tmp_path, HEADER + good(1) + endless + good(3))
    report = import_csv(enroller, "postop", path, now=NOW)
    assert [(line, field) for line, field, _ in report.refused] == [(3, "row")]
    assert (report.rows, report.enrolled) == (3, 2)


def test_an_unclosed_quote_is_reported_where_its_row_began(
    engine: Engine, enroller: Enroller, tmp_path: Path
) -> None:
    broken = b'+14155550003,America/New_York,"Ada,2026-03-07\n'
    path = write(tmp_path, HEADER + good(1) + good(2) + broken + good(4) + good(5))
    report = import_csv(enroller, "postop", path, now=NOW)
    [(line, field, reason)] = report.refused
    assert (line, field) == (4, "row")
    assert "never closed" in reason and "lines 4 to 6" in reason
    assert (report.rows, report.enrolled) == (3, 2)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (b"phone,first_name,first_name\n", "column(s) first_name appear more than once"),
        (b"phone,,first_name\n", "column 2 has no name"),
        (b"name,timezone\n", "no 'phone' column"),
        (b"phone,age\n", "column(s) age are not attributes of postop"),
        (b"phone,first_\xffname\n", "byte 0xFF at line 1, column 13 (byte offset 12)"),
        (b'phone,"first_name\n', "never closed"),
        (b"phone,first_name\r+1415,Ada\r", "old Mac line endings"),
        (b"\n", "line 1 is blank"),
    ],
)
def test_header_problems_refuse_the_whole_file(
    engine: Engine, enroller: Enroller, tmp_path: Path, header: bytes, message: str
) -> None:
    path = write(tmp_path, header + good(1))
    with pytest.raises(BadImportFile) as caught:
        import_csv(enroller, "postop", path, now=NOW)
    assert message in str(caught.value)
    assert enrolled_count(engine) == 0


def test_wrong_cell_counts_nul_and_blank_lines(
    engine: Engine, enroller: Enroller, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        b"\xef\xbb\xbf" + HEADER  # a BOM is not part of the first column's name
        + good(1)
        + b"+14155550002,America/New_York,Bo\n"  # line 3: a cell short
        + b"\n"  # line 4: blank
        + b",,,\n"  # line 5: only separators: blank too
        + b"+14155550006,America/New_York,Cy,2026-03-07,extra\n"  # line 6: a cell over
        + b"+14155550007,America/New_York,D\x00i,2026-03-07\n"  # line 7: NUL
        + b"+14155550008,America/New_York,\"Eve\nJr\",2026-03-07\r\n"  # lines 8-9: one row
        + good(10),
    )  # fmt: skip
    report = import_csv(enroller, "postop", path, now=NOW)
    assert [(line, field) for line, field, _ in report.refused] == [
        (3, "row"), (6, "row"), (7, "first_name"),
    ]  # fmt: skip
    assert report.refused[0][2] == "3 cells, but the header has 4 columns"
    assert (report.blank, report.enrolled, report.rows) == (2, 3, 8)
    assert report.accounted == report.rows


def test_missed_steps_are_reported_per_row_and_in_total(
    engine: Engine, enroller: Enroller, tmp_path: Path
) -> None:
    late = b"+14155550002,America/New_York,Bo,2026-01-01\n"  # 59 days back: all missed
    path = write(tmp_path, HEADER + good(1) + late)
    report = import_csv(enroller, "postop", path, now=NOW)
    assert report.missed == [(3, ("day1", "day3", "day3_escalated", "day7", "day30"))]
    assert report.missed_total == 5
    again = write(tmp_path, HEADER + b"+14155550003,America/New_York,Cy,2026-01-01\n")
    caught = import_csv(enroller, "postop", again, now=NOW, catch_up=True)
    assert caught.caught_up == [(2, ("day30",))]
    assert caught.missed_total == 4


MESSY_LINES = [
    good(1),
    good(2),
    good(1),
    b"\n",
    b",,,\n",
    b"+1415555,America/New_York,X,2026-03-07\n",
    b"+14155550011,America/New_York,Jos\xe9,2026-03-07\n",
    b"+14155550012,UTC,Y\n",
    b"+14155550013,UTC,Z,2026-03-07,1\n",
    b'+14155550014,UTC,"Q\nR",2026-03-07\n',
    b"+14155550015,Nowhere/Zone,W,2026-03-07\n",
    b"+14155550016,UTC,V,2026-13-40\n",
    b'+14155550017,UTC,"a"b,2026-03-07\n',
    good(18, "2026-01-01"),
    good(19),
    b"+14155550020,UTC," + b"y" * (MAX_FIELD + 1) + b",2026-03-07\n",
    b"\r\n",
]


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(picks=st.lists(st.sampled_from(range(len(MESSY_LINES))), max_size=30), seed=st.integers())
def test_every_data_row_of_a_messy_file_is_accounted_for(
    engine: Engine, enroller: Enroller, tmp_path: Path, picks: list[int], seed: int
) -> None:
    lines = [MESSY_LINES[i] for i in picks]
    random.Random(seed).shuffle(lines)
    path = write(tmp_path, HEADER + b"".join(lines))
    before = enrolled_count(engine)
    report = import_csv(enroller, "postop", path, now=NOW, batch_size=4)
    assert report.accounted == report.rows
    assert report.valid == report.enrolled
    assert enrolled_count(engine) - before == report.enrolled
    # Every physical line after the header belongs to exactly one reported row.
    assert report.rows <= len(lines)
