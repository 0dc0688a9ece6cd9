"""Hostile bodies and conditions: bounded at render, refused at validation with file:line:col.

Each render is timed (the CPU time of the test's thread, so a busy machine does not
count) and must fail well under a second: the guards refuse a huge value before building
it, and count every operation of a runaway loop.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator

import pytest

from dripsms.core.sequence.loader import parse_sequence
from dripsms.core.templates import Limits, TemplateLimit, evaluate, render
from dripsms.errors import Problem, SequenceError, TemplateError

HOSTILE_BODIES = {
    "repeat a string": "{{ 'x' * 10**9 }}",
    "repeat a list": "{{ [1] * 10**9 }}",
    "repeat backwards": "{{ 10**9 * 'x' }}",
    "a huge power": "{{ 9**999999 }}",
    "a huge product": "{{ (2**4000) * (2**4000) }}",
    "a huge range": "{{ range(10**9) | list }}",
    "a range past any int": "{{ range(10**30) | list }}",
    "nested loops": "{% for i in range(10**5) %}{% for j in range(10**5) %}{% endfor %}"
    "{% endfor %}",
    "growing concatenation": "{% set s = 'x' * 60000 %}{{ s + s }}",
    "format width": "{{ '{:>999999999}'.format(1) }}",
    "format_map width": "{{ '{a:>999999999}'.format_map({'a': 1}) }}",
    "format missing argument": "{{ '{}'.format() }}",
    "format missing key": "{{ '{a}'.format_map({}) }}",
    "format reaching a dunder": "{{ '{0.__class__}'.format(1) }}",
    "printf width": "{{ '%999999999d' % 1 }}",
    "printf star width": "{{ '%*d' % (999999999, 1) }}",
    "format filter width": "{{ '%999999999d' | format(1) }}",
    "center filter": "{{ 'x' | center(999999999) }}",
    "str.center": "{{ 'x'.center(999999999) }}",
    "str.ljust": "{{ 'x'.ljust(10**9) }}",
    "str.zfill": "{{ '1'.zfill(10**9) }}",
    "expandtabs": "{{ ('\t' * 100).expandtabs(10**8) }}",
    "replace growth": "{{ ('x' * 1000) | replace('x', 'y' * 1000) }}",
    "str.replace growth": "{{ ('x' * 1000).replace('', 'y' * 1000) }}",
    "join growth": "{{ ('x' * 1000) | list | join('y' * 100000) }}",
    "indent filter": "{{ 'x' | indent(10**9) }}",
    "batch filter": "{{ [1] | batch(10**9, 0) | list }}",
    "slice filter": "{{ [1] | slice(10**9) | list }}",
    "long output": "{% for i in range(100000) %}Hello there, {{ i }}{% endfor %}",
    "long literal output": "{% for i in range(100000) %}xxxxxxxxxxxxxxxxxxxxxxxxxxxx{% endfor %}",
    "recursion": "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    "fork bomb": "{% macro f(n) %}{{ f(n) }}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    "division by zero": "{{ 1 / 0 }}",
    "float overflow": "{{ 10.0 ** 400 }}",
    "infinite constant": "{{ 1e400 }}",
    "type error": "{{ 'a' - 1 }}",
    "lipsum is gone": "{{ lipsum(10**6) }}",
    "include": "{% include 'x' %}",
    "extends": "{% extends 'x' %}",
    "unsafe attribute": "{{ ''.__class__.__mro__ }}",
    "mutation": "{{ [].append(1) }}",
    "undefined": "{{ nobody }}",
}

HOSTILE_CONDITIONS = {
    "repeat": "'x' * 10**9 == ''",
    "huge power": "9**999999 > 1",
    "huge range": "range(10**9) | list | length > 0",
    "format width": "'{:>999999999}'.format(1) == ''",
    "format error": "'{}'.format() == ''",
    "division by zero": "1 / 0 > 1",
    "undefined": "nobody > 1",
}


def timed(action: Callable[[], object]) -> float:
    """The CPU ``action`` takes to fail with a :class:`TemplateError`: its own, not that of
    a garbage collection of the whole suite's heap that happened to fall inside it (one
    took 0.9 s of a run where the template itself takes about 5 ms)."""
    gc.collect()
    gc.disable()
    try:
        started = time.thread_time()
        with pytest.raises(TemplateError):
            action()
        return time.thread_time() - started
    finally:
        gc.enable()


@pytest.mark.parametrize("source", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
def test_a_hostile_body_fails_fast_as_a_template_error(source: str) -> None:
    assert timed(lambda: render(source, {})) < 0.5


@pytest.mark.parametrize("expression", HOSTILE_CONDITIONS.values(), ids=HOSTILE_CONDITIONS.keys())
def test_a_hostile_condition_fails_fast_as_a_template_error(expression: str) -> None:
    assert timed(lambda: evaluate(expression, {})) < 0.5


def test_a_huge_value_is_refused_before_it_is_built() -> None:
    with pytest.raises(TemplateLimit, match="a format width would be 999,999,999 long"):
        render("{{ '{:>999999999}'.format(1) }}", {})
    with pytest.raises(TemplateLimit, match="a repetition would be 1,000,000,000 long"):
        render("{{ 'x' * 10**9 }}", {})


def test_str_format_errors_name_what_went_wrong() -> None:
    with pytest.raises(
        TemplateError, match=r"cannot render: tuple index out of range \(IndexError"
    ):
        render("{{ '{}'.format() }}", {})
    with pytest.raises(TemplateError, match="not allowed in the sandbox"):
        render("{{ '{0.__class__}'.format(x) }}", {"x": 1})


def test_every_loop_turn_counts_against_the_operation_budget() -> None:
    source = "{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}"
    frozen = Limits(timer=lambda: 0.0)  # a stopwatch that never moves: only the count stops it
    with pytest.raises(TemplateLimit, match="more than 100,000 operations"):
        render(source, {}, limits=frozen)


def stopwatch(step: float) -> Iterator[float]:
    now = 0.0
    while True:
        yield now
        now += step


def test_a_render_over_its_time_budget_stops() -> None:
    """Each reading of the stopwatch moves it 10 ms: the 100 ms budget runs out mid-loop."""
    ticks = stopwatch(0.01)
    limits = Limits(timer=lambda: next(ticks))
    with pytest.raises(TemplateLimit, match="longer than 100 ms"):
        render("{% for i in range(50) %}{{ i }}{% endfor %}", {}, limits=limits)


def test_the_output_limit_is_a_setting_of_the_render() -> None:
    assert render("{{ 'x' * 20 }}", {}, limits=Limits(max_output=20)) == "x" * 20
    with pytest.raises(TemplateLimit, match="longer than 19 characters"):
        render("{{ 'x' * 20 }}", {}, limits=Limits(max_output=19))


def test_ordinary_templates_stay_well_within_the_limits() -> None:
    source = (
        "Hi {{ first_name | title }}, {% for d in days %}{{ d }}{{ ', ' if not loop.last }}"
        "{% endfor %}: {{ '{:>3}'.format(score) }} {{ '%02d' % score }} {{ (name ~ '!') * 2 }}"
    )
    context = {"first_name": "ada", "days": [1, 3, 7], "score": 8, "name": "Ada"}
    assert render(source, context) == "Hi Ada, 1, 3, 7:   8 08 Ada!Ada!"
    assert evaluate("score * 2 >= 16 and '{}'.format(score) == '8'", context)


def sequence_with(body: str, when: str | None = None, extra: str = "") -> str:
    lines = [
        "key: hostile",
        "name: Hostile",
        "anchor: enrolled_at",
        extra or "max_delay: 2h",
        "steps:",
        "  - id: a",
        "    at: {days: 1}",
        f"    body: {body!r}",
    ]
    if when is not None:
        lines.append(f"    when: {when!r}")
    return "\n".join(lines) + "\n"


def problems(text: str) -> list[Problem]:
    with pytest.raises(SequenceError) as caught:
        parse_sequence(text, "hostile.yaml")
    return caught.value.problems


VALIDATED = {
    "repeat": ("{{ 'x' * 10**9 }}", "a repetition would be 1,000,000,000 long"),
    "format width": ("{{ '{:>999999999}'.format(1) }}", "a format width"),
    "format error": ("Hi {{ '{}'.format() }}", "tuple index out of range"),
    "loops": (
        "{% for i in 'x' * 1000 %}{% for j in 'x' * 1000 %}{% endfor %}{% endfor %}",
        "cannot render: it takes",  # more than 100,000 operations, or longer than 100 ms
    ),
    "sandbox": ("{{ ''.__class__ }}", "not allowed in the sandbox"),
    "division": ("{{ 1 / 0 }}", "division by zero"),
    "too deep": ("{{ 'x'" + " | upper" * 300 + " }}", "nested too deeply"),
}


@pytest.mark.parametrize(("body", "message"), VALIDATED.values(), ids=VALIDATED.keys())
def test_validation_refuses_a_hostile_body_at_its_line(body: str, message: str) -> None:
    started = time.thread_time()
    [problem] = problems(sequence_with(body))
    assert time.thread_time() - started < 1
    assert (problem.file, problem.line, problem.column, problem.field) == (
        "hostile.yaml", 8, 11, "steps[0].body",
    )  # fmt: skip
    assert message in problem.message


def test_validation_refuses_a_hostile_condition_at_its_line() -> None:
    [problem] = problems(sequence_with("Hello", when="'{:>999999999}'.format(1) == ''"))
    assert (problem.line, problem.column, problem.field) == (9, 11, "steps[0].when")
    assert "a format width" in problem.message


def test_a_hostile_body_using_a_value_is_refused_with_sample_values() -> None:
    text = sequence_with("{{ name * 10**9 }}", extra="attributes: {name: string}")
    [problem] = problems(text)
    assert (problem.line, problem.field) == (8, "steps[0].body")
    assert "a repetition" in problem.message


def test_a_failure_only_with_sample_values_is_a_warning() -> None:
    text = sequence_with("Score {{ 10 // score }}", extra="attributes: {score: integer}")
    loaded = parse_sequence(text, "hostile.yaml")
    [warning] = loaded.warnings
    assert (warning.line, warning.field) == (8, "steps[0].body")
    assert warning.message.startswith("with sample values: cannot render:")


def test_one_pass_reports_field_errors_and_template_errors_together() -> None:
    text = sequence_with("{{ 'x' * 10**9 }}", when="1 +", extra="max_delay: 2x")
    shown = [(p.line, p.field) for p in problems(text)]
    assert shown == [(4, "max_delay"), (8, "steps[0].body"), (9, "steps[0].when")]


def test_one_pass_reports_every_bad_template_of_a_valid_file() -> None:
    text = (
        "key: many\nname: Many\nanchor: enrolled_at\nsteps:\n"
        "  - id: a\n    at: {days: 1}\n    body: \"{{ 'x' * 10**9 }}\"\n"
        "  - id: b\n    at: {days: 2}\n    body: \"{{ '{}'.format() }}\"\n"
        '  - id: c\n    at: {days: 3}\n    body: "{{ nobody }}"\n'
        '  - id: d\n    at: {days: 4}\n    body: "{{ x | nosuch }}"\n'
    )
    assert [(p.line, p.field) for p in problems(text)] == [
        (7, "steps[0].body"),
        (10, "steps[1].body"),
        (13, "steps[2].body"),
        (16, "steps[3].body"),
        (16, "steps[3].body"),
    ]


def test_a_render_error_at_run_time_can_be_located_in_the_file() -> None:
    text = sequence_with(
        "{{ 10 // score }}", when="score > 1", extra="attributes: {score: integer}"
    )
    loaded = parse_sequence(text, "hostile.yaml")
    with pytest.raises(TemplateError, match="by zero"):
        render(loaded.sequence.step("a").body, {"score": 0})
    assert loaded.locate_step("a") == "hostile.yaml:8:11"
    assert loaded.locate_step("a", "when") == "hostile.yaml:9:11"


def test_a_template_source_longer_than_twice_the_output_limit_is_refused_unparsed() -> None:
    [problem] = problems(sequence_with("x" * 20_001))
    assert (problem.line, problem.field) == (8, "steps[0].body")
    assert problem.message == "the template is 20,001 characters; at most 20,000"
