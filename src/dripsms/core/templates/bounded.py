"""The sandbox templates run in: Jinja2's immutable sandbox with budgets (steps, time,
output, sizes of values) that a hostile template cannot get round, and the filters dripsms adds."""

from __future__ import annotations

import re
import time
import types
from collections.abc import Callable, Iterator, Sized
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from functools import wraps
from typing import Any

from jinja2 import StrictUndefined, nodes, pass_context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter

from dripsms.errors import TemplateError


def _strftime_filter(name: str, kind: type[date], needs: str, default: str) -> Callable[..., str]:
    """A filter writing a ``kind`` with ``strftime`` (``default`` unless given); None: ``""``."""

    def write(value: Any, fmt: str = default) -> str:
        if value is None:
            return ""
        if not isinstance(value, kind):
            raise TemplateError(f"the {name} filter needs {needs}, not {value!r}")
        return value.strftime(fmt)

    return write


_date_filter = _strftime_filter("date", date, "a date or datetime", "%Y-%m-%d")
_time_filter = _strftime_filter("time", datetime, "a datetime", "%H:%M")


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


class Budget:
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


BUDGET: ContextVar[Budget | None] = ContextVar("dripsms_template_budget", default=None)


def _limits() -> Limits:
    budget = BUDGET.get()
    return budget.limits if budget is not None else DEFAULT_LIMITS


def _tick() -> None:
    budget = BUDGET.get()
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


def _sized_by_argument(name: str) -> Callable[..., None]:
    """The check of a filter whose first argument is the size of what it makes (a width, a
    number of lines or of slices)."""

    def check(value: Any, size: Any = 1, *_: Any, **__: Any) -> None:
        if isinstance(size, int):
            _too_long(size, f"the {name} filter")

    return check


for _name in ("center", "batch", "slice"):
    _FILTER_CHECKS[_name] = _sized_by_argument(_name)


@_filter_check("indent")
def _indent_check(value: Any, width: Any = 4, *_: Any, **__: Any) -> None:
    text = str(value)
    pad = width if isinstance(width, int) else len(str(width))
    _too_long(len(text) + (text.count("\n") + 1) * pad, "the indent filter")


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
    budget = BUDGET.get()
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
