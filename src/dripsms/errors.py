"""One exception tree for everything dripsms raises on purpose."""

from __future__ import annotations

from dataclasses import dataclass


class DripError(Exception):
    """Something dripsms refuses to do, with a message meant for a person."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem found in a sequence file, located to its line and column (1-based)."""

    file: str
    line: int
    column: int
    message: str
    field: str = ""

    def __str__(self) -> str:
        where = f"{self.field}: " if self.field else ""
        return f"{self.file}:{self.line}:{self.column}: {where}{self.message}"


class SequenceError(DripError):
    """A sequence file is invalid; carries every problem found, each with file:line:col."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.column))
        super().__init__("\n".join(str(p) for p in self.problems))


class TimelineError(DripError):
    """A timeline cannot be computed (a missing anchor, an unknown zone, ...)."""


class TemplateError(DripError):
    """A body or condition cannot be rendered or evaluated."""
