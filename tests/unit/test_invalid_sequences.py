"""A catalogue of invalid sequence files, each with the exact problems it must report.

Every file in ``tests/fixtures/invalid`` starts with one ``# expect: LINE:COL: FIELD: MESSAGE``
comment per problem, in the order the loader reports them; the comments are lines of the
file, so the line numbers are those of the file as it stands.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dripsms.core.sequence.loader import parse_sequence
from dripsms.errors import Problem, SequenceError

FOLDER = Path(__file__).resolve().parents[1] / "fixtures" / "invalid"
FILES = sorted(FOLDER.glob("*.yaml"))
EXPECT = "# expect: "


def expected(text: str) -> list[str]:
    """The ``# expect:`` lines at the top of a catalogue file, without their prefix."""
    found = []
    for line in text.splitlines():
        if not line.startswith(EXPECT):
            break
        found.append(line.removeprefix(EXPECT))
    return found


def shown(problem: Problem) -> str:
    """A problem as the ``# expect:`` comments write it: ``LINE:COL: FIELD: MESSAGE``."""
    field = f"{problem.field}: " if problem.field else ""
    return f"{problem.line}:{problem.column}: {field}{problem.message}"


def problems_of(path: Path) -> list[Problem]:
    """The problems the loader reports for a file; any exception but SequenceError fails."""
    with pytest.raises(SequenceError) as caught:
        parse_sequence(path.read_text(encoding="utf-8"), file=path.name)
    return caught.value.problems


def test_the_catalogue_is_large() -> None:
    assert len(FILES) >= 40


@pytest.mark.parametrize("path", FILES, ids=[f.name for f in FILES])
def test_invalid_file_reports_exactly_its_problems(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert expected(text), f"{path.name} has no '# expect:' line at the top"
    assert [shown(p) for p in problems_of(path)] == expected(text)


@pytest.mark.parametrize("path", FILES, ids=[f.name for f in FILES])
def test_every_problem_points_inside_the_file(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    for problem in problems_of(path):
        assert problem.file == path.name
        assert 1 <= problem.line <= len(lines), shown(problem)
        assert 1 <= problem.column <= len(lines[problem.line - 1]) + 1, shown(problem)


def test_a_long_chain_of_steps_is_checked_without_recursion() -> None:
    steps = ["  - id: s0\n    at: {days: 1}\n    body: hi\n"]
    steps += [
        f"  - id: s{i}\n    after: {{step: s{i - 1}}}\n    body: hi\n" for i in range(1, 1500)
    ]
    loaded = parse_sequence("key: chain\nname: Chain\nsteps:\n" + "".join(steps))
    assert len(loaded.sequence.steps) == 1500


def test_deeply_nested_yaml_is_a_problem_not_a_crash() -> None:
    with pytest.raises(SequenceError, match="nested too deeply"):
        parse_sequence("a: " + "[" * 5000 + "]" * 5000 + "\n")
