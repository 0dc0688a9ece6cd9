"""YAML text to plain data, remembering where every key and value stands.

Scalars follow the YAML 1.2 core schema rather than PyYAML's 1.1 defaults, so that
``time: 09:00`` stays the string ``"09:00"`` (1.1 reads it as the sexagesimal 540) and
``yes``/``no``/``on`` stay strings (a choice value, not a boolean).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

import yaml

Path = tuple[str | int, ...]

_INT = re.compile(r"[-+]?(0|[1-9][0-9_]*)\Z")
# Leading zeros stay text (a zip code, an id), stricter than YAML 1.2 on purpose.
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|(0|[1-9][0-9_]*)(\.[0-9_]*)?)([eE][-+]?[0-9]+)?\Z")
_NULL = frozenset({"", "~", "null", "Null", "NULL"})
_TRUE = frozenset({"true", "True", "TRUE"})
_FALSE = frozenset({"false", "False", "FALSE"})


@dataclass(frozen=True, slots=True)
class Mark:
    """A 1-based line and column in a source file."""

    line: int
    column: int


@dataclass(slots=True)
class Locator:
    """Where each value (and each mapping key) of a parsed document stands."""

    values: dict[Path, Mark] = field(default_factory=dict)
    keys: dict[Path, Mark] = field(default_factory=dict)

    def find(self, path: Path) -> Mark:
        """The mark of ``path``, or of its nearest ancestor that exists."""
        probe = path
        while probe:
            if probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return self.values.get((), Mark(1, 1))

    def find_key(self, path: Path) -> Mark:
        """The mark of the mapping key naming ``path`` (falls back to :meth:`find`)."""
        return self.keys.get(path) or self.find(path)

    def resolve(self, loc: tuple[int | str, ...]) -> Path:
        """Map a pydantic error location onto the document, skipping union tags."""
        path: Path = ()
        for part in loc:
            candidate = (*path, part)
            if candidate in self.values or candidate in self.keys:
                path = candidate
        return path


class YamlProblem(Exception):
    """The text is not well-formed YAML, or not the shape we read."""

    def __init__(self, message: str, mark: Mark) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark


_MAX_VALUES = 100_000
"""More values than this after expanding aliases is an alias bomb, not a sequence."""

_TOKENS = {
    "'<block end>'": "the end of the block",
    "<block end>": "the end of the block",
    "'<stream end>'": "the end of the file",
    "'<block mapping start>'": "a more indented line",
    "'<block sequence start>'": "a more indented list",
    "'<block entry>'": "a list item ('-')",
    "'?'": "another key",
    "'<scalar>'": "a value",
}


def _mark(node: yaml.Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


class _Position(Protocol):
    """A PyYAML mark, from the pure-Python or the C implementation: 0-based."""

    line: int
    column: int


def _yaml_mark(mark: _Position | None) -> Mark:
    return Mark(mark.line + 1, mark.column + 1) if mark else Mark(1, 1)


class _Loader(yaml.SafeLoader):
    """The safe loader, refusing an alias inside the very value it names (``&x [*x]``)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.open_anchors: set[str] = set()

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        """Compose one node, keeping track of the anchors whose value is still open."""
        if self.check_event(yaml.AliasEvent):
            alias: yaml.AliasEvent = self.current_event  # the event check_event looked at
            if alias.anchor in self.open_anchors:
                raise YamlProblem(
                    f"the alias *{alias.anchor} is inside the value it names "
                    f"(&{alias.anchor}), so it would never end",
                    _yaml_mark(alias.start_mark),
                )
            return super().compose_node(parent, index)
        start: yaml.NodeEvent = self.current_event
        if start.anchor is None:
            return super().compose_node(parent, index)
        self.open_anchors.add(start.anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self.open_anchors.discard(start.anchor)


def _scalar(node: yaml.ScalarNode) -> Any:
    text: str = node.value
    if node.style is not None or node.tag == "tag:yaml.org,2002:str":
        return text
    if text in _NULL:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if _INT.match(text):
        return int(text.replace("_", ""))
    if _FLOAT.match(text) and any(ch.isdigit() for ch in text):
        return float(text.replace("_", ""))
    return text


@dataclass(slots=True)
class _Converter:
    """Composed nodes to plain data, recording marks; counts values to stop alias bombs."""

    locator: Locator
    count: int = 0

    def convert(self, node: yaml.Node, path: Path) -> Any:
        """The plain value of ``node``, which stands at ``path`` in the document."""
        self.count += 1
        if self.count > _MAX_VALUES:
            raise YamlProblem(
                f"the document expands to more than {_MAX_VALUES} values (aliases used "
                "too many times over)",
                _mark(node),
            )
        self.locator.values[path] = _mark(node)
        if isinstance(node, yaml.ScalarNode):
            return _scalar(node)
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, (*path, i)) for i, item in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        raise YamlProblem("unsupported YAML node", _mark(node))  # pragma: no cover

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlProblem("mapping keys must be plain names", _mark(key_node))
            key = str(key_node.value)
            if key == "<<":
                raise YamlProblem("merge keys ('<<') are not supported", _mark(key_node))
            if key in result:
                first = self.locator.keys[(*path, key)].line
                raise YamlProblem(
                    f"duplicate key {key!r} (first given on line {first})", _mark(key_node)
                )
            self.locator.keys[(*path, key)] = _mark(key_node)
            result[key] = self.convert(value_node, (*path, key))
        return result


def _plain(problem: str) -> str:
    for token, words in _TOKENS.items():
        problem = problem.replace(token, words)
    return problem


def _marked_problem(exc: yaml.MarkedYAMLError) -> YamlProblem:
    """A PyYAML error in plain words, at the place a person should look."""
    problem, context = exc.problem or "", exc.context or ""
    here, opened = _yaml_mark(exc.problem_mark), _yaml_mark(exc.context_mark or exc.problem_mark)
    if "'\\t'" in problem:
        return YamlProblem("a tab character: indent with spaces, not tabs", here)
    if "another document" in problem:
        return YamlProblem(
            "a second YAML document ('---'): a sequence file holds exactly one", here
        )
    if "found unexpected end of stream" in problem and "quoted scalar" in context:
        return YamlProblem("this quoted text is never closed", opened)
    if "<stream end>" in problem and "flow sequence" in context:
        return YamlProblem("this '[' is never closed with ']'", opened)
    if "<stream end>" in problem and "flow mapping" in context:
        return YamlProblem("this '{' is never closed with '}'", opened)
    if "cannot start any token" in problem:
        char = problem.removeprefix("found character ").split(" ", 1)[0]
        return YamlProblem(f"a plain value cannot start with {char}: put it in quotes", here)
    if problem == "could not find expected ':'":
        return YamlProblem("this key is missing its ':'", opened)
    if problem.startswith("expected <block end>"):
        return YamlProblem(
            "bad indentation: this line does not line up with the lines above it", here
        )
    if problem == "mapping values are not allowed here":
        return YamlProblem(
            "unexpected ':' here: quote a value that contains ': ', or check the indentation",
            here,
        )
    if problem.startswith("found undefined alias"):
        name = problem.rsplit(" ", 1)[-1].strip("'")
        return YamlProblem(f"the alias *{name} names no anchor (&{name}) before it", here)
    return YamlProblem(f"invalid YAML: {_plain(problem or context)}", here)


def _reader_problem(exc: yaml.reader.ReaderError, text: str) -> YamlProblem:
    before = text[: exc.position]
    mark = Mark(before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1)
    if isinstance(exc.character, int):
        return YamlProblem(f"the character U+{exc.character:04X} is not allowed in YAML", mark)
    return YamlProblem(f"invalid YAML: {exc.reason}", mark)  # pragma: no cover - text is str


def _compose(text: str) -> yaml.Node | None:
    loader = _Loader(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def parse_yaml(text: str) -> tuple[Any, Locator]:
    """Parse one YAML document into plain data and a :class:`Locator`."""
    locator = Locator()
    try:
        node = _compose(text)
        if node is None:
            return None, locator
        return _Converter(locator).convert(node, ()), locator
    except yaml.MarkedYAMLError as exc:
        raise _marked_problem(exc) from None
    except yaml.reader.ReaderError as exc:
        raise _reader_problem(exc, text) from None
    except yaml.YAMLError as exc:  # pragma: no cover - every error PyYAML raises is one above
        raise YamlProblem(f"invalid YAML: {exc}", Mark(1, 1)) from None
    except RecursionError:
        raise YamlProblem("the document is nested too deeply", Mark(1, 1)) from None
