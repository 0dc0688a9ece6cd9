"""One exception tree for everything dripsms raises on purpose."""

from __future__ import annotations

from dataclasses import dataclass


class DripError(Exception):
    """Something dripsms refuses to do, with a message meant for a person.

    Every error dripsms raises on purpose belongs to one category below; the web layer maps
    a category to an HTTP status and the CLI to an exit code, each in one place.
    """


class InvalidInput(DripError):
    """The input cannot be used: a field, a line, a row or a file (HTTP 422)."""


class NotFound(DripError):
    """What was asked for does not exist (HTTP 404)."""


class Conflict(DripError):
    """The request clashes with what is stored (HTTP 409)."""


class Unavailable(DripError):
    """Something dripsms needs is not there now: the database, Twilio (HTTP 503)."""


class Misconfigured(DripError):
    """A setting or a combination of settings cannot work; a person must change it."""


class InvariantBroken(DripError):
    """dripsms caught itself about to break one of its own rules: a bug (HTTP 500)."""


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


class SequenceError(InvalidInput):
    """A sequence file is invalid; carries every problem found, each with file:line:col."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.column))
        super().__init__("\n".join(str(p) for p in self.problems))


class TimelineError(InvalidInput):
    """A timeline cannot be computed (a missing anchor, an unknown zone, ...)."""


class TemplateError(InvalidInput):
    """A body or condition cannot be rendered or evaluated."""
