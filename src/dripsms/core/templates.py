"""Sandboxed Jinja2 for message bodies and conditions.

Bodies are templates (``Hi {{ first_name }}``); conditions are expressions
(``steps.day1.reply >= 7``). Both run in Jinja2's sandbox with undefined names an
error, and both can be analysed before they run: :func:`references` lists every name
and dotted path a template or expression reads, so a sequence is checked at load time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError
from jinja2.exceptions import TemplateError as JinjaTemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from dripsms.errors import TemplateError

Reference = tuple[str, ...]


def _date_filter(value: Any, fmt: str = "%Y-%m-%d") -> str:
    if value is None:
        return ""
    if not isinstance(value, date):
        raise TemplateError(f"the date filter needs a date or datetime, not {value!r}")
    return value.strftime(fmt)


def _time_filter(value: Any, fmt: str = "%H:%M") -> str:
    if value is None:
        return ""
    if not isinstance(value, datetime):
        raise TemplateError(f"the time filter needs a datetime, not {value!r}")
    return value.strftime(fmt)


def _blank_none(value: Any) -> Any:
    return "" if value is None else value


def _make_environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        finalize=_blank_none,  # an unanswered reply or unset attribute prints as nothing
    )
    env.filters["date"] = _date_filter
    env.filters["time"] = _time_filter
    return env


ENVIRONMENT = _make_environment()


@dataclass(frozen=True, slots=True)
class SyntaxProblem:
    """A template or expression that does not parse: message and 1-based line within it."""

    message: str
    line: int


def _expression_source(expression: str) -> str:
    return "{{ (" + expression + ") }}"


def parse_template(source: str) -> nodes.Template | SyntaxProblem:
    """Parse a body template, or say why it does not parse."""
    try:
        return ENVIRONMENT.parse(source)
    except TemplateSyntaxError as exc:
        return SyntaxProblem(exc.message or "syntax error", exc.lineno)


def parse_expression(expression: str) -> nodes.Template | SyntaxProblem:
    """Parse a condition expression, or say why it does not parse."""
    if not expression.strip():
        return SyntaxProblem("a condition cannot be empty", 1)
    if "{{" in expression or "{%" in expression:
        return SyntaxProblem("write a condition without {{ }} or {% %}", 1)
    try:
        tree = ENVIRONMENT.parse(_expression_source(expression))
    except TemplateSyntaxError as exc:
        return SyntaxProblem(exc.message or "syntax error", exc.lineno)
    return tree


def _chain(node: nodes.Node) -> Reference | None:
    parts: list[str] = []
    while True:
        if isinstance(node, nodes.Getattr):
            parts.append(node.attr)
            node = node.node
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            parts.append(str(node.arg.value))
            node = node.node
        elif isinstance(node, nodes.Name):
            parts.append(node.name)
            return tuple(reversed(parts))
        else:
            return None


def _bound_names(target: nodes.Node) -> frozenset[str]:
    """Names a ``for`` or ``set`` target binds (the target may itself be a Name)."""
    found = [target] if isinstance(target, nodes.Name) else list(target.find_all(nodes.Name))
    return frozenset(n.name for n in found if isinstance(n, nodes.Name))


def _walk(node: nodes.Node, bound: frozenset[str]) -> Iterator[Reference]:
    if isinstance(node, nodes.Getattr | nodes.Getitem | nodes.Name):
        chain = _chain(node)
        if chain is not None:
            if chain[0] not in bound and (not isinstance(node, nodes.Name) or node.ctx == "load"):
                yield chain
            return
    if isinstance(node, nodes.For):
        targets = _bound_names(node.target)
        yield from _walk(node.iter, bound)
        for child in (*node.body, *node.else_):
            yield from _walk(child, bound | targets | {"loop"})
        if node.test is not None:
            yield from _walk(node.test, bound | targets)
        return
    for child in node.iter_child_nodes():
        if isinstance(child, nodes.Assign):
            yield from _walk(child.node, bound)
            bound = bound | _bound_names(child.target)
            continue
        yield from _walk(child, bound)


def references(tree: nodes.Template) -> list[Reference]:
    """Every name a parsed template reads, as dotted paths (``('steps', 'day1', 'reply')``)."""
    seen: dict[Reference, None] = {}
    for ref in _walk(tree, frozenset()):
        seen.setdefault(ref, None)
    return list(seen)


@lru_cache(maxsize=4096)
def _compiled_template(source: str) -> Any:
    return ENVIRONMENT.from_string(source)


@lru_cache(maxsize=4096)
def _compiled_expression(expression: str) -> Any:
    return ENVIRONMENT.compile_expression(expression, undefined_to_none=False)


def render(source: str, context: Mapping[str, Any]) -> str:
    """Render a body template in the sandbox; surrounding white space is trimmed."""
    try:
        return str(_compiled_template(source).render(context)).strip()
    except (JinjaTemplateError, SecurityError, TypeError, ValueError, ArithmeticError) as exc:
        raise TemplateError(f"cannot render: {exc}") from exc


def evaluate(expression: str, context: Mapping[str, Any]) -> bool:
    """Evaluate a condition in the sandbox to a boolean."""
    try:
        return bool(_compiled_expression(expression)(context))
    except (JinjaTemplateError, SecurityError, TypeError, ValueError, ArithmeticError) as exc:
        raise TemplateError(f"cannot evaluate {expression!r}: {exc}") from exc


__all__ = [
    "ENVIRONMENT",
    "Reference",
    "SyntaxProblem",
    "evaluate",
    "parse_expression",
    "parse_template",
    "references",
    "render",
]
