"""Helpers for testing code that uses dripsms: sequences from dicts, a frozen clock."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import yaml

from dripsms.clock import Clock, fixed_clock, parse_instant
from dripsms.core.sequence.loader import LoadedSequence, parse_sequence
from dripsms.core.sequence.model import Sequence

ALWAYS_OPEN = {"start": "00:00", "end": "24:00"}
"""A send window with no quiet hours."""


def sequence_data(steps: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    """A minimal sequence as data: key ``test``, the given steps, any other fields."""
    return {"key": "test", "name": "Test", "steps": steps, **fields}


def make_sequence(steps: list[dict[str, Any]], **fields: Any) -> Sequence:
    """A fully checked :class:`Sequence` from data (through the same loader as files)."""
    return load_data(sequence_data(steps, **fields)).sequence


def load_data(data: dict[str, Any]) -> LoadedSequence:
    """Dump ``data`` to YAML and load it, so tests exercise the file path."""
    return parse_sequence(yaml.safe_dump(data, sort_keys=False), "test.yaml")


def frozen_clock(instant: str | datetime) -> Clock:
    """A clock stopped at ``instant`` (an aware datetime or ISO 8601 text)."""
    if isinstance(instant, str):
        instant = parse_instant(instant)
    return fixed_clock(instant)
