"""Sandboxed Jinja2 for message bodies and conditions.

Bodies are templates (``Hi {{ first_name }}``); conditions are expressions
(``steps.day1.reply >= 7``). Both run in Jinja2's sandbox with undefined names an
error, and both can be analysed before they run: :func:`references` lists every name
and dotted path a template or expression reads, so a sequence is checked at load time.
"""

from __future__ import annotations

import difflib
import re
import time
import types
from collections.abc import Callable, Iterable, Iterator, Mapping, Sized
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache, wraps
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes, pass_context
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.lexer import describe_token
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter

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


@dataclass(frozen=True, slots=True)
class Limits:
    """How much one render or evaluation may build and spend; going over is a template error."""

    max_output: int = 10_000
    """Characters a rendered text may have (Twilio takes 1,600)."""
    max_size: int = 100_000
    """Length of any string, list or range a template builds on the way."""
    max_int_bits: int = 4_096
    """Bits of any whole number a template computes (``10 ** 1000`` is 3,322)."""
    max_steps: int = 100_000
    """Operations: calls, operators, attribute look-ups, loop turns, outputs."""
    max_seconds: float = 0.1
    """Time budget of one render (compiling excluded), read from ``timer``."""
    timer: Callable[[], float] = time.thread_time
    """A stopwatch (not a clock of the domain): only differences are used. The thread's
    CPU time, so a busy machine that pauses the thread does not fail a render."""


DEFAULT_LIMITS = Limits()


class TemplateLimit(TemplateError):
    """A template went over one of its :class:`Limits` (hostile or runaway)."""


class _Budget:
    """What one render has spent so far."""

    __slots__ = ("deadline", "limits", "output", "steps")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.deadline = limits.timer() + limits.max_seconds
        self.steps = 0
        self.output = 0

    def restart(self) -> None:
        """Start the time budget now: compiling a template does not count."""
        self.deadline = self.limits.timer() + self.limits.max_seconds

    def tick(self) -> None:
        self.steps += 1
        if self.steps > self.limits.max_steps:
            raise TemplateLimit(f"it takes more than {self.limits.max_steps:,} operations")
        if self.limits.timer() > self.deadline:
            raise TemplateLimit(f"it takes longer than {self.limits.max_seconds * 1000:g} ms")


_BUDGET: ContextVar[_Budget | None] = ContextVar("dripsms_template_budget", default=None)


def _limits() -> Limits:
    budget = _BUDGET.get()
    return budget.limits if budget is not None else DEFAULT_LIMITS


def _tick() -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.tick()


def _too_long(length: int, what: str = "a value") -> None:
    limit = _limits().max_size
    if length > limit:
        raise TemplateLimit(f"{what} would be {length:,} long, over the limit of {limit:,}")


def _checked(value: Any) -> Any:
    """``value`` if it is within the size limits."""
    if isinstance(value, str | bytes | list | tuple | dict | set | frozenset | range):
        _too_long(len(value))
    elif isinstance(value, int) and not isinstance(value, bool):
        bits = _limits().max_int_bits
        if value.bit_length() > bits:
            raise TemplateLimit(f"a number over {bits:,} bits")
    return value


_SIZED = (str, bytes, list, tuple)
_PRINTF = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d*))?")
_FORMAT_NUMBER = re.compile(r"\d+")


def _check_printf(pattern: str) -> None:
    """Refuse a ``%`` format whose widths or precisions would build a huge string."""
    for width, precision in _PRINTF.findall(pattern):
        for part in (width, precision):
            if part == "*":
                raise TemplateLimit("a '*' width in a '%' format is not allowed in templates")
            if part:
                _too_long(int(part), "a '%' format width")


def _check_binop(operator: str, left: Any, right: Any) -> None:
    if operator == "*":
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, _SIZED) and isinstance(times, int):
                _too_long(len(seq) * max(times, 0), "a repetition")
        if isinstance(left, int) and isinstance(right, int):
            bits = _limits().max_int_bits
            if left.bit_length() + right.bit_length() > bits + 1:
                raise TemplateLimit(f"a product over {bits:,} bits")
    elif operator == "**":
        if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
            bits = _limits().max_int_bits
            if right * left.bit_length() > bits:
                raise TemplateLimit(f"a power over {bits:,} bits")
    elif operator == "+":
        if isinstance(left, _SIZED) and isinstance(right, _SIZED):
            _too_long(len(left) + len(right), "a concatenation")
    elif operator == "%" and isinstance(left, str):
        _check_printf(left)


def _replace_size(text: str, old: Any, new: Any) -> int:
    if not (isinstance(old, str) and isinstance(new, str)):
        return len(text)
    count = len(text) + 1 if old == "" else text.count(old)
    return len(text) + count * len(new)


def _check_str_method(name: str, text: str, args: tuple[Any, ...]) -> None:
    """Refuse a ``str`` method call that would build a huge string, before it runs."""
    first = args[0] if args else None
    if name in ("center", "ljust", "rjust", "zfill") and isinstance(first, int):
        _too_long(first, f"str.{name}")
    elif name == "expandtabs":
        tab = first if isinstance(first, int) else 8
        _too_long(len(text) + text.count("\t") * tab, "str.expandtabs")
    elif name == "replace" and len(args) >= 2:
        _too_long(_replace_size(text, args[0], args[1]), "str.replace")
    elif name == "join" and isinstance(first, list | tuple):
        _too_long(len(text) * len(first), "str.join")


class _BoundedFormatter(SandboxedFormatter):
    """``str.format`` in the sandbox, with widths and precisions bounded."""

    def format_field(self, value: Any, format_spec: str) -> Any:
        _tick()
        for number in _FORMAT_NUMBER.findall(format_spec):
            _too_long(int(number), "a format width")
        return _checked(super().format_field(value, format_spec))


def _bounded_range(*args: Any) -> range:
    try:
        numbers = range(*args)
        length = len(numbers)
    except OverflowError:
        raise TemplateLimit("a range far too long") from None
    _too_long(length, "a range")
    return numbers


_FILTER_CHECKS: dict[str, Callable[..., None]] = {}


def _filter_check(name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    def register(check: Callable[..., None]) -> Callable[..., None]:
        _FILTER_CHECKS[name] = check
        return check

    return register


@_filter_check("center")
def _center_check(value: Any, width: Any = 80, *_: Any, **__: Any) -> None:
    if isinstance(width, int):
        _too_long(width, "the center filter")


@_filter_check("indent")
def _indent_check(value: Any, width: Any = 4, *_: Any, **__: Any) -> None:
    text = str(value)
    pad = width if isinstance(width, int) else len(str(width))
    _too_long(len(text) + (text.count("\n") + 1) * pad, "the indent filter")


@_filter_check("batch")
def _batch_check(value: Any, linecount: Any = 1, *_: Any, **__: Any) -> None:
    if isinstance(linecount, int):
        _too_long(linecount, "the batch filter")


@_filter_check("slice")
def _slice_check(value: Any, slices: Any = 1, *_: Any, **__: Any) -> None:
    if isinstance(slices, int):
        _too_long(slices, "the slice filter")


@_filter_check("format")
def _format_check(value: Any, *_: Any, **__: Any) -> None:
    _check_printf(str(value))


@_filter_check("replace")
def _replace_check(value: Any, old: Any = "", new: Any = "", *_: Any, **__: Any) -> None:
    _too_long(_replace_size(str(value), old, new), "the replace filter")


@_filter_check("join")
def _join_check(value: Any, d: Any = "", *_: Any, **__: Any) -> None:
    if isinstance(value, Sized) and isinstance(d, str):
        _too_long(len(value) * len(d), "the join filter")


@_filter_check("wordwrap")
def _wordwrap_check(value: Any, *args: Any, **kwargs: Any) -> None:
    wrap = kwargs.get("wrapstring", args[2] if len(args) > 2 else "\n")
    if isinstance(wrap, str):
        _too_long(len(str(value)) * (len(wrap) + 1), "the wordwrap filter")


def _bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that counts as an operation, is checked before it runs and sized after."""
    check = _FILTER_CHECKS.get(name)
    passes = getattr(function, "jinja_pass_arg", None) is not None

    @wraps(function)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _tick()
        if check is not None:
            check(*(args[1:] if passes else args), **kwargs)
        return _checked(function(*args, **kwargs))

    return bounded


def _bounded_loop(items: Any) -> Iterator[Any]:
    """A ``for`` loop's items, each turn counted as an operation."""
    for item in items:
        _tick()
        yield item


@pass_context
def _finalize(context: Any, value: Any) -> Any:
    """Every piece of output: ``None`` as nothing, counted against the output limit."""
    text = "" if value is None else str(value)
    budget = _BUDGET.get()
    if budget is not None:
        budget.tick()
        budget.output += len(text)
        if budget.output > budget.limits.max_output:
            raise TemplateLimit(
                f"the text would be longer than {budget.limits.max_output:,} characters"
            )
    return text


_LOOP = "dripsms_loop"


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox where every operation is counted and every size bounded.

    Operators, calls, look-ups, filters, loop turns and outputs each tick the render's
    budget (operations and a time budget); repetition, concatenation, ranges, padding and
    formatting are refused before they would build a value over the limits.
    """

    intercepted_binops = frozenset({"*", "**", "+", "-", "/", "//", "%"})
    intercepted_unops = frozenset({"-", "+"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _tick()
        _check_binop(operator, left, right)
        return _checked(super().call_binop(context, operator, left, right))

    def call_unop(self, context: Any, operator: str, arg: Any) -> Any:
        _tick()
        return super().call_unop(context, operator, arg)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _tick()
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            _check_str_method(getattr(__obj, "__name__", ""), owner, args)
        return _checked(super().call(__context, __obj, *args, **kwargs))

    def getattr(self, obj: Any, attribute: str) -> Any:
        _tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _tick()
        return super().getitem(obj, argument)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """``str.format``/``format_map`` through a formatter that bounds widths."""
        if not isinstance(value, types.MethodType | types.BuiltinMethodType) or (
            value.__name__ not in ("format", "format_map")
        ):
            return None
        text = value.__self__
        if not isinstance(text, str):
            return None
        formatter = _BoundedFormatter(self)
        is_map = value.__name__ == "format_map"

        def bounded_format(*args: Any, **kwargs: Any) -> str:
            if is_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                return str(_checked(formatter.vformat(text, (), args[0])))
            return str(_checked(formatter.vformat(text, args, kwargs)))

        return bounded_format

    def _generate(self, source: nodes.Template, *args: Any, **kwargs: Any) -> Any:
        # Loop turns and literal text are counted at run time: wrap each loop's items,
        # and turn literal text into constants so it goes through finalize.
        for loop in source.find_all(nodes.For):
            assert isinstance(loop, nodes.For)  # for the type checker
            loop.iter = nodes.Filter(loop.iter, _LOOP, [], [], None, None, lineno=loop.lineno)
        for output in source.find_all(nodes.Output):
            assert isinstance(output, nodes.Output)
            output.nodes = [
                nodes.Const(n.data, lineno=n.lineno) if isinstance(n, nodes.TemplateData) else n
                for n in output.nodes
            ]
        return super()._generate(source, *args, **kwargs)


def _make_environment() -> BoundedEnvironment:
    env = BoundedEnvironment(
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        finalize=_finalize,  # an unanswered reply or unset attribute prints as nothing
    )
    env.filters["date"] = _date_filter
    env.filters["time"] = _time_filter
    env.filters = {name: _bounded_filter(name, f) for name, f in env.filters.items()}
    env.globals = {"range": _bounded_range}  # no lipsum, cycler, joiner, namespace
    env.filters[_LOOP] = _bounded_loop
    return env


ENVIRONMENT = _make_environment()


@dataclass(frozen=True, slots=True)
class SyntaxProblem:
    """A template or expression that does not parse: message and 1-based line within it."""

    message: str
    line: int


_JINJA_WORDS = {
    "'end of print statement'": "'}}'",
    "'end of statement block'": "'%}'",
    "'end of template'": "the end",
    "expected token ": "expected ",
}
_UNCLOSED_BLOCK = re.compile(r"The innermost block that needs to be closed is '(\w+)'")
_ENDS_EARLY = re.compile(r"unexpected end of template, expected (.+?)\.?\Z")
_END_TAG = re.compile(r"Encountered unknown tag 'end(\w+)'")
_PLAIN = {
    "'end of print statement'": "'{{' is never closed with '}}'",
    "'end of statement block'": "'{%' is never closed with '%}'",
    "Expected an expression, got 'end of print statement'": (
        "'{{ }}' is empty: put a name or an expression inside"
    ),
    "unexpected '}'": "a single '}': close '{{' with '}}'",
    "Missing end of comment tag": "'{#' is never closed with '#}'",
}


def _plain_syntax(message: str) -> str:
    """A Jinja syntax message in the words of a person writing a body or a condition."""
    if block := _UNCLOSED_BLOCK.search(message):
        return f"'{{% {block[1]} %}}' is never closed with '{{% end{block[1]} %}}'"
    if tag := _END_TAG.match(message):
        return f"'{{% end{tag[1]} %}}' has no '{{% {tag[1]} %}}' before it"
    if early := _ENDS_EARLY.match(message):
        return _PLAIN.get(early[1], f"it ends where {early[1]} was expected")
    if message in _PLAIN:
        return _PLAIN[message]
    for jargon, words in _JINJA_WORDS.items():
        message = message.replace(jargon, words)
    message = message.removeprefix("Encountered ").rstrip(".")
    return message[:1].lower() + message[1:]


MAX_DEPTH = 100
"""How deeply a template's expressions may nest (``a|f|f|f…``, ``((…))``, ``1+1+1…``)."""
TOO_DEEP = f"it is nested too deeply (more than {MAX_DEPTH} levels of filters or operators)"


def _shallow(tree: nodes.Template) -> nodes.Template | SyntaxProblem:
    """The tree, or a problem when it nests deeper than the analysis and the compiler go."""
    pending: list[tuple[nodes.Node, int]] = [(tree, 0)]
    while pending:
        node, depth = pending.pop()
        if depth > MAX_DEPTH:
            return SyntaxProblem(TOO_DEEP, getattr(node, "lineno", 1) or 1)
        pending.extend((child, depth + 1) for child in node.iter_child_nodes())
    return tree


def parse_template(source: str) -> nodes.Template | SyntaxProblem:
    """Parse a body template, or say why it does not parse."""
    try:
        tree = ENVIRONMENT.parse(source)
    except TemplateSyntaxError as exc:
        return SyntaxProblem(_plain_syntax(exc.message or "syntax error"), exc.lineno)
    except (RecursionError, MemoryError):
        return SyntaxProblem(TOO_DEEP, 1)
    return _shallow(tree)


def _trailing_problem(parser: Parser) -> SyntaxProblem:
    token = parser.stream.current
    if token.type == "assign":
        return SyntaxProblem("unexpected '='; compare with '=='", token.lineno)
    return SyntaxProblem(
        f"unexpected {describe_token(token)!r} after a complete condition (a missing 'and'/'or'?)",
        token.lineno,
    )


def parse_expression(expression: str) -> nodes.Template | SyntaxProblem:
    """Parse a condition expression, or say why it does not parse."""
    if not expression.strip():
        return SyntaxProblem("a condition cannot be empty", 1)
    if "{{" in expression or "{%" in expression:
        return SyntaxProblem(
            "a condition is already an expression: write it without {{ }} or {% %}", 1
        )
    parser = Parser(ENVIRONMENT, expression, state="variable")
    try:
        tree = parser.parse_expression()
    except (RecursionError, MemoryError):
        return SyntaxProblem(TOO_DEEP, 1)
    except TemplateSyntaxError as exc:
        message = exc.message or "syntax error"
        if message == "unexpected 'end of template'":
            return SyntaxProblem(
                f"{expression.strip()!r} is incomplete: it ends where more was expected",
                exc.lineno,
            )
        return SyntaxProblem(_plain_syntax(message), exc.lineno)
    if not parser.stream.eos:
        return _trailing_problem(parser)
    return _shallow(nodes.Template([nodes.Output([tree], lineno=1)], lineno=1))


def _close_to(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def unknown_filters(tree: nodes.Template) -> list[str]:
    """Why the filters (``x | upper``) and tests (``x is even``) of a template do not exist."""
    problems: list[str] = []
    for node in tree.find_all((nodes.Filter, nodes.Test)):
        assert isinstance(node, nodes.Filter | nodes.Test)  # for the type checker
        known = ENVIRONMENT.filters if isinstance(node, nodes.Filter) else ENVIRONMENT.tests
        if node.name not in known:
            kind = "filter" if isinstance(node, nodes.Filter) else "test"
            problems.append(f"unknown {kind} {node.name!r}{_close_to(node.name, known)}")
    return list(dict.fromkeys(problems))


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
    budget = _Budget(limits)
    token = _BUDGET.set(budget)
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
        _BUDGET.reset(token)


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
