"""Contact attribute types, and turning text (CSV, CLI, forms) or JSON into typed values."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from enum import StrEnum
from typing import Any

_TRUE = frozenset({"true", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "no", "n", "0", "off"})


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
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise ValueError(f"expected a whole number, got {value!r}")


def _number(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise ValueError(f"expected a number, got {value!r}")


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"expected true or false, got {value!r}")


def _date(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"expected a date as YYYY-MM-DD, got {value!r}")


def _datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip().replace("z", "Z"))
        except ValueError:
            pass
    raise ValueError(f"expected a date and time as YYYY-MM-DDTHH:MM[:SS][offset], got {value!r}")


def _string(value: Any) -> str:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"expected text, got {value!r}")


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
        raise ValueError(f"expected one of {', '.join(choices)}; got {value!r}")
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
