"""Sequence text to a validated :class:`Sequence`, or every problem as ``file:line:col``."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from dripsms.core.sequence.checks import KEY, check_sequence
from dripsms.core.sequence.messages import describe, meant_field
from dripsms.core.sequence.model import Sequence
from dripsms.core.sequence.template_checks import check_raw_templates
from dripsms.core.yaml_source import Locator, Mark, Path, YamlProblem, parse_yaml
from dripsms.errors import Problem, SequenceError

EMPTY = "the file is empty: a sequence needs at least 'key', 'name' and 'steps'"


@dataclass(frozen=True, slots=True)
class LoadedSequence:
    """A sequence with where it came from: its file, its text's digest and its warnings."""

    sequence: Sequence
    file: str
    digest: str
    """SHA-256 of the file's text: the sequence's version."""
    text: str
    warnings: tuple[Problem, ...] = ()

    @property
    def version(self) -> str:
        """A short version id: the first 12 hex digits of the digest."""
        return self.digest[:12]

    def locate(self, path: Path) -> str:
        """``file:line:col`` of a value, e.g. ``('steps', 2, 'body')``, to name a render error."""
        try:
            mark = parse_yaml(self.text)[1].find(path)
        except YamlProblem:  # the text parsed once; it cannot fail now, but never raise here
            return self.file
        return f"{self.file}:{mark.line}:{mark.column}"

    def locate_step(self, step_id: str, field: str = "body") -> str:
        """``file:line:col`` of a field of a step (``body``, ``when``) by the step's id."""
        for index, step in enumerate(self.sequence.steps):
            if step.id == step_id:
                return self.locate(("steps", index, field))
        return self.file


def display_path(path: tuple[Any, ...]) -> str:
    """``('steps', 2, 'at', 'days')`` as ``steps[2].at.days``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _locate(error: ErrorDetails, locator: Locator) -> tuple[Mark, str]:
    loc = tuple(error["loc"])
    if error["type"] == "union_tag_invalid":
        loc = (*loc, "type")
    path = locator.resolve(loc)
    if error["type"] in ("extra_forbidden",) or (loc and loc[-1] == "[key]"):
        return locator.find_key(path), display_path(path)
    if error["type"] == "missing":
        return locator.find(path), display_path((*path, loc[-1]))
    return locator.find(path), display_path(path)


def _problem(file: str, mark: Mark, field: str, message: str) -> Problem:
    return Problem(file=file, line=mark.line, column=mark.column, message=message, field=field)


def _finding_problem(file: str, locator: Locator, path: Path, message: str) -> Problem:
    """A cross-check's finding at its value, or at its key when the path ends in KEY."""
    if path and path[-1] == KEY:
        return _problem(file, locator.find_key(path[:-1]), display_path(path[:-1]), message)
    return _problem(file, locator.find(path), display_path(path), message)


def parse_sequence(
    text: str, file: str = "<string>", *, max_segments: int = 3, checked: bool = True
) -> LoadedSequence:
    """Parse and check a sequence; raise :class:`SequenceError` listing every problem.

    ``checked=False`` validates the fields only, without the cross-checks and sample
    renders: for a version that was checked when it was stored.
    """
    try:
        data, locator = parse_yaml(text)
    except YamlProblem as exc:
        raise SequenceError([_problem(file, exc.mark, "", exc.message)]) from None
    if data is None:
        raise SequenceError([_problem(file, Mark(1, 1), "", EMPTY)])
    try:
        sequence = _validate(data, locator, file)
    except SequenceError as exc:
        raw = [_finding_problem(file, locator, p, m) for p, m in check_raw_templates(data)]
        raise SequenceError(_unique([*exc.problems, *raw])) from None
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if not checked:
        return LoadedSequence(sequence, file, digest, text)
    findings = check_sequence(sequence, max_segments=max_segments)
    if findings.errors:
        raise SequenceError(
            _unique([_finding_problem(file, locator, p, m) for p, m in findings.errors])
        )
    warnings = tuple(_finding_problem(file, locator, p, m) for p, m in findings.warnings)
    return LoadedSequence(sequence, file, digest, text, warnings)


def _validate(data: Any, locator: Locator, file: str) -> Sequence:
    """The sequence model of parsed data, or :class:`SequenceError` with every problem."""
    try:
        return Sequence.model_validate(data)
    except ValidationError as exc:
        problems = []
        errors = exc.errors(include_url=False)
        for error in errors:
            if error["type"] == "too_short" and _has_inner(error, errors):
                continue  # "needs at least one" is noise when its items have errors
            if error["type"] == "missing" and _misspelt(error, errors):
                continue  # "did you mean 'step'?" on the typo says it already
            mark, field = _locate(error, locator)
            problems.append(_problem(file, mark, field, describe(error)))
        raise SequenceError(_unique(problems)) from None


def _has_inner(error: ErrorDetails, errors: list[ErrorDetails]) -> bool:
    loc = tuple(error["loc"])
    return any(len(e["loc"]) > len(loc) and tuple(e["loc"][: len(loc)]) == loc for e in errors)


def _misspelt(missing: ErrorDetails, errors: list[ErrorDetails]) -> bool:
    """Whether a missing field is there, misspelt: an unknown sibling field is a typo of it."""
    loc = tuple(missing["loc"])
    return any(
        e["type"] == "extra_forbidden"
        and tuple(e["loc"])[:-1] == loc[:-1]
        and meant_field(tuple(e["loc"])) == loc[-1]
        for e in errors
    )


def _unique(problems: list[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))
