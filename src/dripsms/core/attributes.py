"""Contact attribute types, and turning text (CSV, CLI, forms) or JSON into typed values."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Collection, Sequence
from datetime import date, datetime
from enum import StrEnum
from typing import Any

_TRUE = frozenset({"true", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "no", "n", "0", "off"})
LARGEST_INTEGER = 2**53 - 1
"""The largest whole number an attribute holds: every JSON client reads it exactly."""
LONGEST_TEXT = 1000
"""The most characters a text attribute holds (a message body is at most 1,600)."""
MOST_ATTRIBUTES = 64
"""The most attributes one request may give."""
LONGEST_NAME = 64
"""The most characters of an attribute's name."""


def check_names(names: Collection[str]) -> None:
    """Raise ``ValueError`` for more than :data:`MOST_ATTRIBUTES` names or one too long."""
    if len(names) > MOST_ATTRIBUTES:
        raise ValueError(f"at most {MOST_ATTRIBUTES} attributes, got {len(names)}")
    for name in names:
        if len(name) > LONGEST_NAME:
            raise ValueError(f"an attribute name is at most {LONGEST_NAME} characters")


class AttributeType(StrEnum):
    """The types a contact attribute may have."""

    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    CHOICE = "choice"


def _integer(value: Any) -> int:
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        with contextlib.suppress(ValueError):  # int() refuses past 4,300 digits
            number = int(value.strip())
    if number is None:
        raise ValueError(f"expected a whole number, got {_short(value)}")
    if abs(number) > LARGEST_INTEGER:
        raise ValueError(
            f"expected a whole number between -{LARGEST_INTEGER} and {LARGEST_INTEGER}"
        )
    return number


def _number(value: Any) -> float:
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:  # an int past 1.8e308
            raise ValueError("expected a finite number, got one too large") from None
    elif isinstance(value, str):
        with contextlib.suppress(ValueError):
            number = float(value.strip())
    if number is None:
        raise ValueError(f"expected a number, got {_short(value)}")
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number, got {_short(value)}")
    return number


def _short(value: Any) -> str:
    """``repr`` of a value for an error message, cut to a readable length."""
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**40 else "a huge number"
    return text if len(text) <= 60 else text[:57] + "..."


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"expected true or false, got {_short(value)}")


def _date(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"expected a date as YYYY-MM-DD, got {_short(value)}")


def _datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip().replace("z", "Z"))
        except ValueError:
            pass
    raise ValueError(
        f"expected a date and time as YYYY-MM-DDTHH:MM[:SS][offset], got {_short(value)}"
    )


def _string(value: Any) -> str:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        if isinstance(value, int) and abs(value) > LARGEST_INTEGER:
            raise ValueError("a number this large must be sent as text (in quotes)")
        text = str(value)
        if len(text) > LONGEST_TEXT:
            raise ValueError(f"at most {LONGEST_TEXT} characters, got {len(text)}")
        return text
    raise ValueError(f"expected text, got {_short(value)}")


def coerce(kind: AttributeType | str, value: Any, choices: Sequence[str] = ()) -> Any:
    """Turn ``value`` into the attribute's type, or raise ``ValueError`` saying why not.

    A ``datetime`` without an offset is kept naive: it means the contact's wall time.
    """
    kind = AttributeType(kind)
    if kind is AttributeType.CHOICE:
        text = _string(value).strip()
        for choice in choices:
            if choice.casefold() == text.casefold():
                return choice
        raise ValueError(f"expected one of {', '.join(choices)}; got {_short(value)}")
    converters = {
        AttributeType.STRING: _string,
        AttributeType.INTEGER: _integer,
        AttributeType.NUMBER: _number,
        AttributeType.BOOLEAN: _boolean,
        AttributeType.DATE: _date,
        AttributeType.DATETIME: _datetime,
    }
    return converters[kind](value)


SAMPLES: dict[AttributeType, tuple[Any, Any]] = {
    AttributeType.STRING: ("Alex", "Maria-José"),
    AttributeType.INTEGER: (0, 99),
    AttributeType.NUMBER: (0.0, 99.5),
    AttributeType.BOOLEAN: (False, True),
    AttributeType.DATE: (date(2026, 1, 15), date(2026, 12, 31)),
    AttributeType.DATETIME: (datetime(2026, 1, 15, 9, 30), datetime(2026, 12, 31, 17, 45)),
}
"""Two sample values of each type (low, high), for checking templates before any contact."""


def to_json(value: Any) -> Any:
    """A typed attribute value as JSON can hold it (dates as ISO 8601 text)."""
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def attributes_to_json(values: dict[str, Any]) -> dict[str, Any]:
    """Every value of an attribute mapping through :func:`to_json`."""
    return {name: to_json(value) for name, value in values.items()}
