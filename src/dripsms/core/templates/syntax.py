"""Templates and conditions read before they run: syntax problems in plain words, unknown
filters, and every name and dotted path they read (so a sequence is checked at load time)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from jinja2 import TemplateSyntaxError, nodes
from jinja2.lexer import describe_token
from jinja2.parser import Parser

from dripsms.core.templates.bounded import ENVIRONMENT

Reference = tuple[str, ...]


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
