"""The Sequences pages' context builders and the export's cells, without HTTP: the list
(broken files, sequences known only from the database), the steps in words, the funnel,
the reply values, the drawn timeline, and formula injection neutralised."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dripsms.core.sequence.loader import parse_sequence
from dripsms.core.spreadsheet import neutralise
from dripsms.engine.library import LoadProblem
from dripsms.errors import Problem
from dripsms.store.funnel import AnswerValue, ExportedReply, StepStateCount, VersionCount
from dripsms.web.console.replies_csv import HEADER, ROWS_PER_CHUNK, cells, csv_lines
from dripsms.web.console.sequence_pages import (
    funnel_of,
    sequence_context,
    sequences_context,
    timing_text,
    value_bars,
)

REPO = Path(__file__).resolve().parents[2]
POSTOP = parse_sequence((REPO / "sequences" / "postop.yaml").read_text(), "postop.yaml")
AT = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
CHAINED = """key: chained
name: Chained
steps:
  - id: ask
    at: {days: 0, hours: 1}
    body: "Are you well?"
    expect_reply: {type: yes_no}
    on_reply: [{if: not reply, then: [goto: rescue]}]
  - {id: then, after: {step: ask, from: reply, hours: 2}, body: "Noted."}
  - {id: nudge, after: {step: ask, days: 1}, body: "Still there?"}
  - {id: rescue, body: "We will call you."}
"""


def _version(key: str, digest: str, active: int, total: int) -> VersionCount:
    return VersionCount(key, digest, AT, active, total)


def test_the_list_has_files_broken_files_and_sequences_only_in_the_database() -> None:
    broken = LoadProblem("sequences/survey.yaml", "survey", (Problem("survey.yaml", 3, 1, "bad"),))
    versions = [
        _version("postop", "b" * 64, 2, 3), _version("postop", "a" * 64, 1, 4),
        _version("old", "c" * 64, 1, 1), _version("survey", "d" * 64, 0, 2),
    ]  # fmt: skip
    rows = sequences_context([POSTOP], [broken], versions, {"old": "Old drip"})["sequences"]
    by_key = {row.key: row for row in rows}
    assert [row.key for row in rows] == ["old", "postop", "survey"]
    assert (by_key["postop"].active, by_key["postop"].total) == (3, 7)  # summed over versions
    assert by_key["postop"].version == POSTOP.version and not by_key["postop"].problems
    assert by_key["old"].stored_only and by_key["old"].name == "Old drip"
    assert by_key["old"].version == "c" * 12
    assert by_key["survey"].problems == ("survey.yaml:3:1: bad",)
    assert (by_key["survey"].active, by_key["survey"].total) == (0, 2)


def test_a_broken_file_whose_key_cannot_be_read_is_listed_by_its_file() -> None:
    broken = LoadProblem("sequences/mess.yaml", None, (Problem("mess.yaml", 1, 1, "not YAML"),))
    (row,) = sequences_context([], [broken], [])["sequences"]
    assert (row.key, row.name, row.file) == ("", "sequences/mess.yaml", "sequences/mess.yaml")


def test_a_second_file_with_a_loaded_key_does_not_hide_the_loaded_one() -> None:
    twin = LoadProblem("sequences/copy.yaml", "postop", (Problem("copy.yaml", 1, 1, "dup"),))
    versions = [_version("postop", "b" * 64, 2, 3)]
    first, second = sequences_context([POSTOP], [twin], versions)["sequences"]
    assert (first.file, first.total, first.problems) == (POSTOP.file, 3, ())
    assert (second.file, second.total, second.problems) == (
        "sequences/copy.yaml",
        0,
        ("copy.yaml:1:1: dup",),
    )


def test_steps_are_described_in_words() -> None:
    chained = parse_sequence(CHAINED, "chained.yaml").sequence
    assert timing_text(POSTOP.sequence.step("day1")) == "day 1 at 09:00 local"
    assert timing_text(chained.step("ask")) == "day 0 + 1h after the anchor"
    assert timing_text(chained.step("then")) == "2h after the reply to ask"
    assert timing_text(chained.step("nudge")) == "1d after the sending of ask"
    assert timing_text(chained.step("rescue")) == "only when a goto reaches it"


def test_a_step_shows_its_condition_window_reprompt_and_branches() -> None:
    context = sequence_context(
        POSTOP, current=True, problems=None, versions=[], states=[], answered={}, values=[]
    )
    steps = {step.id: step for step in context["steps"]}
    day1 = steps["day1"]
    assert (day1.expects, day1.window) == ("a whole number from 0 to 10", "1d")
    assert day1.reprompt and day1.reprompt.startswith("Please answer")
    first, otherwise = day1.rules
    assert first.condition == "reply >= 7"
    assert first.actions[:2] == ("set escalated = true", "notify care_team")
    assert otherwise.condition is None and otherwise.actions[0].startswith("send “Thanks")
    assert day1.no_reply == ("notify care_team",)
    assert steps["day3_escalated"].condition == "escalated"
    assert steps["day7"].expects == "yes or no"


def test_the_timeline_places_each_timed_step_and_its_reply_window() -> None:
    context = sequence_context(
        parse_sequence(CHAINED, "chained.yaml"), current=True, problems=None, versions=[],
        states=[], answered={}, values=[],
    )  # fmt: skip
    marks = {mark.step: mark for mark in context["drawing"].marks}
    assert set(marks) == {"ask", "then", "nudge"}  # a goto-only step is not on the axis
    assert marks["ask"].x < marks["then"].x < marks["nudge"].x
    assert marks["ask"].window_end is not None and marks["ask"].window_end > marks["ask"].x
    assert marks["then"].approximate and not marks["nudge"].approximate


def test_the_funnel_counts_how_far_the_messages_got() -> None:
    counts = [
        StepStateCount("day1", state, handed, n)
        for state, handed, n in [
            ("delivered", True, 5),
            ("undelivered", True, 1),
            ("sent", True, 2),
            ("scheduled", True, 3),
            ("failed", False, 1),
            ("canceled", True, 1),
            ("canceled", False, 2),
            ("planned", False, 4),
        ]
    ]
    funnel = funnel_of(counts, replied=6)
    assert (funnel.planned, funnel.scheduled, funnel.sent) == (19, 12, 8)
    assert (funnel.delivered, funnel.failed, funnel.replied) == (5, 2, 6)
    assert dict(funnel.states)["canceled"] == 3
    bars = {bar.label: bar for bar in funnel.bars()}
    assert bars["planned"].length == 100.0 and bars["delivered"].length == round(500 / 19, 1)


def test_reply_values_of_a_bounded_integer_show_every_value_in_order() -> None:
    day1 = POSTOP.sequence.step("day1")
    values = [AnswerValue("day1", 8, 4), AnswerValue("day1", 2, 1)]
    bars = value_bars(day1, values)
    assert [bar.label for bar in bars] == [str(n) for n in range(11)]
    assert [bar.count for bar in bars][8] == 4 and bars[8].length == 100.0
    assert bars[2].length == 25.0 and bars[0].count == 0


def test_yes_no_values_read_yes_and_no_and_text_values_are_capped() -> None:
    day7 = POSTOP.sequence.step("day7")
    bars = value_bars(day7, [AnswerValue("day7", False, 2)])
    assert [(bar.label, bar.count) for bar in bars] == [("yes", 0), ("no", 2)]
    many = [AnswerValue("x", f"word{n}", n + 1) for n in range(15)]
    capped = value_bars(None, many)
    assert len(capped) == 11 and capped[0].label == "word14"
    assert capped[-1].label == "(other answers)" and capped[-1].count == sum(range(1, 6))


def test_messages_of_a_step_only_an_earlier_version_had_are_still_counted() -> None:
    states = [StepStateCount("day2_old", "delivered", True, 3)]
    context = sequence_context(
        POSTOP, current=True, problems=None, versions=[], states=states, answered={},
        values=[],
    )  # fmt: skip
    gone = context["steps"][-1]
    assert (gone.id, gone.in_version, gone.funnel.delivered) == ("day2_old", False, 3)


@pytest.mark.parametrize(
    "cell", ['=HYPERLINK("http://x")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "\rx",
             "\0x", "+", "-", "+1 415 555 0100"],
)  # fmt: skip
def test_a_cell_a_spreadsheet_would_run_is_written_as_text(cell: str) -> None:
    assert neutralise(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["+14155550100", "-3", "7.5", "8", "fine, thanks", "", "'=x"])
def test_phone_numbers_plain_numbers_and_text_stay_as_they_are(cell: str) -> None:
    assert neutralise(cell) == cell


def _reply(n: int, body: str = "8", value: object = 8) -> ExportedReply:
    return ExportedReply(
        n, AT + timedelta(minutes=n), "America/New_York", "+14155550100", 7, "day1",
        "matched", value, body,
    )  # fmt: skip


def test_a_reply_becomes_a_row_with_utc_and_local_times() -> None:
    row = cells(_reply(0, '=HYPERLINK("http://x")', True))
    assert dict(zip(HEADER, row, strict=True)) == {
        "received_at_utc": "2026-03-02T14:00:00Z",
        "received_at_local": "2026-03-02T09:00:00-05:00",
        "timezone": "America/New_York", "phone": "+14155550100", "enrollment_id": "7",
        "step": "day1", "kind": "matched", "value": "yes", "body": "'=HYPERLINK(\"http://x\")",
    }  # fmt: skip


def test_the_csv_comes_in_chunks_and_parses_back_row_for_row() -> None:
    count = ROWS_PER_CHUNK * 2 + 7
    replies = (_reply(n, f'line one, "quoted"\nline two {n}') for n in range(count))
    chunks = list(csv_lines(replies))
    assert len(chunks) == 3  # written as read, never all at once
    rows = list(csv.reader(io.StringIO("".join(chunks))))
    assert rows[0] == list(HEADER) and len(rows) == count + 1
    assert rows[-1][-1] == f'line one, "quoted"\nline two {count - 1}'
