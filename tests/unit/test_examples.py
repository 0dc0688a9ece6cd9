"""The sequences in examples/ load cleanly (what ``dripsms validate`` checks), and a
preview with replies takes the branch each example promises."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dripsms.catalog import load_all, load_file
from dripsms.core.preview import preview
from dripsms.errors import DripError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "sequences"


def test_every_example_sequence_validates_without_warnings() -> None:
    report = load_all([EXAMPLES])
    assert report.files == 2
    assert report.errors == [] and report.warnings == []
    assert set(report.sequences) == {"satisfaction", "portal_intro"}


def _branch(name: str, replies: dict[str, str], **kwargs: object) -> dict[str, str]:
    loaded = load_file(EXAMPLES / name)
    rows = preview(
        loaded.sequence,
        zone=ZoneInfo(loaded.sequence.timezone or "UTC"),
        enrolled_at=datetime(2026, 3, 2, 10, 0, tzinfo=UTC),
        attributes={"first_name": "Ada"},
        replies=replies,
        **kwargs,  # type: ignore[arg-type]
    )
    return {row.step: row.status for row in rows}


SURVEY_STEPS = ("review_link", "make_it_a_ten", "detractor_check")


@pytest.mark.parametrize(
    ("answer", "sent"),
    [
        ("0", "detractor_check"),
        ("6/10", "detractor_check"),
        ("seven", "make_it_a_ten"),
        ("8", "make_it_a_ten"),
        ("9", "review_link"),
        ("10!", "review_link"),
    ],
)
def test_the_survey_follows_up_by_score(answer: str, sent: str) -> None:
    steps = _branch("satisfaction.yaml", {"score": answer}, anchor=date(2026, 3, 2))
    assert steps["score"] == "planned"
    assert {s for s in SURVEY_STEPS if steps[s] == "planned"} == {sent}


def test_the_survey_without_an_answer_sends_no_follow_up() -> None:
    steps = _branch("satisfaction.yaml", {}, anchor=date(2026, 3, 2))
    assert {s for s in SURVEY_STEPS if steps[s] == "planned"} == set()


def test_a_detractor_alerts_the_team() -> None:
    step = next(s for s in load_file(EXAMPLES / "satisfaction.yaml").sequence.steps
                if s.id == "score")  # fmt: skip
    [detractor, *_] = step.on_reply
    assert any(action.notify == "experience_team" for action in detractor.then)


BRANCHES = ("appointments", "prescriptions", "results", "tour")


@pytest.mark.parametrize(
    ("answer", "branch"),
    [
        ("1", "appointments"),
        ("Book", "appointments"),
        ("2", "prescriptions"),
        ("refills please", "prescriptions"),
        ("3", "results"),
        ("test results", "results"),
    ],
)
def test_the_portal_introduction_branches_on_the_choice(answer: str, branch: str) -> None:
    steps = _branch("product-intro.yaml", {"choose": answer})
    assert {s for s in BRANCHES if steps[s] == "planned"} == {branch}
    assert steps["tip"] == "planned"  # the last stage is for everyone


def test_no_choice_gets_the_general_tour() -> None:
    steps = _branch("product-intro.yaml", {})
    assert {s for s in BRANCHES if steps[s] == "planned"} == {"tour"}


def test_an_unreadable_choice_is_a_clear_error() -> None:
    with pytest.raises(DripError, match="reply to choose"):
        _branch("product-intro.yaml", {"choose": "7"})
