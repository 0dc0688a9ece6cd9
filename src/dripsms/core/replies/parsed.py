"""An answer read against a step's ``expect_reply``: accepted, or rejected with a reason."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ParsedReply:
    """An answer read against a step's ``expect_reply``."""

    valid: bool
    value: int | str | bool | None
    """The answer: an int, a choice's value, a bool (yes/no) or the trimmed text; None
    when the answer cannot be read."""
    reason: str = ""
    """Why the answer cannot be read, in plain words; empty when it is valid."""


def accepted(value: int | str | bool) -> ParsedReply:
    return ParsedReply(True, value)


def rejected(reason: str) -> ParsedReply:
    return ParsedReply(False, None, reason)


def listing(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


EMPTY = "empty reply"
