"""Sandboxed Jinja2 for message bodies and conditions.

Bodies are templates (``Hi {{ first_name }}``); conditions are expressions
(``steps.day1.reply >= 7``). Both run in Jinja2's sandbox with undefined names an
error, and both can be analysed before they run: :func:`references` lists every name
and dotted path a template or expression reads, so a sequence is checked at load time.

The sandbox and its budgets are ``bounded``; reading a template before it runs is
``syntax``. Import from this package: its names are the public ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from jinja2.exceptions import SecurityError, UndefinedError

from dripsms.core.templates.bounded import (
    BUDGET,
    DEFAULT_LIMITS,
    ENVIRONMENT,
    BoundedEnvironment,
    Budget,
    Limits,
    TemplateLimit,
)
from dripsms.core.templates.syntax import (
    Reference,
    SyntaxProblem,
    parse_expression,
    parse_template,
    references,
    unknown_filters,
)
from dripsms.errors import TemplateError


@lru_cache(maxsize=4096)
def _compiled_template(source: str) -> Any:
    return ENVIRONMENT.from_string(source)


@lru_cache(maxsize=4096)
def _compiled_expression(expression: str) -> Any:
    return ENVIRONMENT.compile_expression(expression, undefined_to_none=False)


def _describe(exc: Exception) -> str:
    """An exception raised while a template ran, in words for the person who wrote it."""
    if isinstance(exc, SecurityError):
        return f"not allowed in the sandbox: {exc}"
    if isinstance(exc, UndefinedError):
        return str(exc)
    if isinstance(exc, RecursionError):
        return "it calls itself too deeply"
    if isinstance(exc, MemoryError):
        return "it needs too much memory"
    if isinstance(exc, NameError):  # Jinja compiles a constant such as 1e400 to 'inf'
        return "a number out of range"
    kind = type(exc).__name__
    return f"{exc} ({kind})" if str(exc) else kind


def _run(what: str, compile_: Callable[[], Any], work: Callable[[Any], Any], limits: Limits) -> Any:
    """Compile, then run under a fresh budget; any exception becomes a :class:`TemplateError`."""
    budget = Budget(limits)
    token = BUDGET.set(budget)
    try:
        compiled = compile_()
        budget.restart()
        return work(compiled)
    except TemplateLimit as exc:
        raise TemplateLimit(f"{what}: {exc}") from None
    except TemplateError:
        raise
    except Exception as exc:  # every failure of a template is the template's error
        raise TemplateError(f"{what}: {_describe(exc)}") from exc
    finally:
        BUDGET.reset(token)


def render(source: str, context: Mapping[str, Any], *, limits: Limits = DEFAULT_LIMITS) -> str:
    """Render a body template in the sandbox, within ``limits``; white space is trimmed."""

    def work(template: Any) -> str:
        text = str(template.render(context)).strip()
        if len(text) > limits.max_output:
            raise TemplateLimit(f"the text would be longer than {limits.max_output:,} characters")
        return text

    result: str = _run("cannot render", lambda: _compiled_template(source), work, limits)
    return result


def evaluate(
    expression: str, context: Mapping[str, Any], *, limits: Limits = DEFAULT_LIMITS
) -> bool:
    """Evaluate a condition in the sandbox, within ``limits``, to a boolean."""
    result: bool = _run(
        f"cannot evaluate {expression[:80]!r}",
        lambda: _compiled_expression(expression),
        lambda compiled: bool(compiled(context)),
        limits,
    )
    return result


__all__ = [
    "DEFAULT_LIMITS",
    "ENVIRONMENT",
    "BoundedEnvironment",
    "Limits",
    "Reference",
    "SyntaxProblem",
    "TemplateLimit",
    "evaluate",
    "parse_expression",
    "parse_template",
    "references",
    "render",
    "unknown_filters",
]
