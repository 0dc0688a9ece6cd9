"""Bodies and conditions: rendering, filters, the sandbox, and name analysis."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from dripsms.core.context import template_context
from dripsms.core.templates import (
    SyntaxProblem,
    evaluate,
    parse_expression,
    parse_template,
    references,
    render,
)
from dripsms.errors import TemplateError
from dripsms.testing import make_sequence


def refs(source: str) -> list[tuple[str, ...]]:
    tree = parse_template(source)
    assert not isinstance(tree, SyntaxProblem)
    return references(tree)


def test_render_personalises_and_trims() -> None:
    assert render("  Hi {{ first_name }}!\n", {"first_name": "Ada"}) == "Hi Ada!"


def test_unset_values_render_as_nothing_not_none() -> None:
    assert render("Score: {{ score }}.", {"score": None}) == "Score: ."


def test_undefined_names_are_errors_at_render_time() -> None:
    with pytest.raises(TemplateError, match="first_nam"):
        render("Hi {{ first_nam }}", {"first_name": "Ada"})


def test_date_filter_formats_dates() -> None:
    assert render('{{ d | date("%b %-d, %Y") }}', {"d": date(2026, 3, 7)}) == "Mar 7, 2026"


def test_time_filter_and_local_datetimes_from_the_context() -> None:
    seq = make_sequence(
        [{"id": "a", "at": {"days": 1}, "body": "x"}],
        attributes={"appointment": {"type": "datetime"}},
    )
    context = template_context(
        seq,
        step_id="a",
        attributes={"appointment": datetime(2026, 7, 1, 13, 30, tzinfo=UTC)},
        zone=ZoneInfo("America/Denver"),
    )
    rendered = render('{{ appointment | date("%a %b %-d") }} at {{ appointment | time }}', context)
    assert rendered == "Wed Jul 1 at 07:30"


def test_date_filter_rejects_non_dates() -> None:
    with pytest.raises(TemplateError, match="date filter needs a date"):
        render("{{ name | date }}", {"name": "Ada"})


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ [].append(1) }}",
        "{{ x.update({'a': 1}) }}",
    ],
)
def test_the_sandbox_refuses_unsafe_access(source: str) -> None:
    with pytest.raises(TemplateError):
        render(source, {"x": {}})


def test_conditions_evaluate_to_booleans() -> None:
    assert evaluate("steps.day1.reply >= 7", {"steps": {"day1": {"reply": 8}}}) is True
    assert evaluate("steps.day1.reply >= 7", {"steps": {"day1": {"reply": 3}}}) is False
    assert evaluate("reply in ['hip', 'knee']", {"reply": "hip"}) is True


def test_a_condition_over_a_missing_reply_is_an_error_not_false() -> None:
    with pytest.raises(TemplateError, match="cannot evaluate"):
        evaluate("steps.day1.reply >= 7", {"steps": {"day1": {"reply": None}}})


def test_references_list_dotted_paths_and_skip_local_names() -> None:
    source = (
        "{% set greeting = 'Hi' %}{{ greeting }} {{ first_name }} {{ contact.phone }}"
        "{% for x in items %}{{ x }}{{ loop.index }}{% endfor %}{{ steps['day1'].reply }}"
    )
    assert refs(source) == [
        ("first_name",),
        ("contact", "phone"),
        ("items",),
        ("steps", "day1", "reply"),
    ]


def test_parse_expression_rejects_template_syntax_and_empty() -> None:
    assert isinstance(parse_expression("{{ x }}"), SyntaxProblem)
    assert isinstance(parse_expression("   "), SyntaxProblem)
    assert isinstance(parse_expression("reply >="), SyntaxProblem)
    assert not isinstance(parse_expression("reply >= 7 and not escalated"), SyntaxProblem)
