"""YAML text to plain data, remembering where every key and value stands.

Scalars follow the YAML 1.2 core schema rather than PyYAML's 1.1 defaults, so that
``time: 09:00`` stays the string ``"09:00"`` (1.1 reads it as the sexagesimal 540) and
``yes``/``no``/``on`` stay strings (a choice value, not a boolean).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

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


def _mark(node: yaml.Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


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


def _convert(node: yaml.Node, path: Path, locator: Locator) -> Any:
    locator.values[path] = _mark(node)
    if isinstance(node, yaml.ScalarNode):
        return _scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, i), locator) for i, item in enumerate(node.value)]
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlProblem("mapping keys must be plain names", _mark(key_node))
            key = str(key_node.value)
            if key == "<<":
                raise YamlProblem("merge keys ('<<') are not supported", _mark(key_node))
            if key in result:
                raise YamlProblem(f"duplicate key {key!r}", _mark(key_node))
            locator.keys[(*path, key)] = _mark(key_node)
            result[key] = _convert(value_node, (*path, key), locator)
        return result
    raise YamlProblem("unsupported YAML node", _mark(node))  # pragma: no cover - aliases resolve


def parse_yaml(text: str) -> tuple[Any, Locator]:
    """Parse one YAML document into plain data and a :class:`Locator`."""
    locator = Locator()
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Mark(mark.line + 1, mark.column + 1) if mark else Mark(1, 1)
        raise YamlProblem(f"invalid YAML: {exc.problem or exc.context}", where) from None
    except yaml.YAMLError as exc:  # e.g. several documents in one file
        raise YamlProblem(f"invalid YAML: {exc}", Mark(1, 1)) from None
    if node is None:
        return None, locator
    return _convert(node, (), locator), locator
