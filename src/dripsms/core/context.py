"""What a template or condition sees: the names of a contact, a step and its replies."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from dripsms.core.attributes import SAMPLES, AttributeType, coerce
from dripsms.core.sequence.model import (
    ChoiceReply,
    IntegerReply,
    Sequence,
    TextReply,
    YesNoReply,
)

_UNSET: Any = object()


def template_context(
    sequence: Sequence,
    *,
    step_id: str,
    attributes: Mapping[str, Any],
    phone: str = "",
    zone: ZoneInfo | None = None,
    replies: Mapping[str, Any] | None = None,
    external_id: str | None = None,
    enrolled_at: datetime | None = None,
    reply: Any = _UNSET,
) -> dict[str, Any]:
    """The names a template of ``step_id`` reads; instants are shown in ``zone``.

    Declared attributes that are not set read as None (and their default when declared).
    """
    replies = replies or {}
    context: dict[str, Any] = {}
    for name, declared in sequence.attributes.items():
        value = attributes.get(name, declared.default)
        if isinstance(value, datetime) and value.tzinfo is not None and zone is not None:
            value = value.astimezone(zone)
        context[name] = value
    context["contact"] = {"phone": phone, "timezone": zone.key if zone else None}
    context["step"] = {"id": step_id}
    context["sequence"] = {"key": sequence.key, "name": sequence.name}
    local_enrolled = enrolled_at.astimezone(zone) if enrolled_at and zone else enrolled_at
    context["enrollment"] = {"external_id": external_id, "enrolled_at": local_enrolled}
    context["steps"] = {
        s.id: {"reply": replies.get(s.id)} for s in sequence.steps if s.expect_reply is not None
    }
    if reply is not _UNSET:
        context["reply"] = reply
    return context


def sample_reply(step_expect: Any, high: bool) -> Any:
    """A plausible parsed reply of each kind, for checking templates before any contact."""
    if isinstance(step_expect, IntegerReply):
        low_value = step_expect.min if step_expect.min is not None else 0
        high_value = step_expect.max if step_expect.max is not None else 10
        return high_value if high else low_value
    if isinstance(step_expect, ChoiceReply):
        values = list(step_expect.values)
        return values[-1] if high else values[0]
    if isinstance(step_expect, YesNoReply):
        return high
    if isinstance(step_expect, TextReply):
        return "It still hurts when I walk, and I am worried." if high else "ok"
    return None


def sample_attributes(sequence: Sequence, *, high: bool) -> dict[str, Any]:
    """Sample values for every declared attribute (its default where it has one)."""
    values: dict[str, Any] = {}
    for name, declared in sequence.attributes.items():
        if declared.default is not None:
            values[name] = declared.default
        elif declared.type is AttributeType.CHOICE:
            values[name] = declared.values[-1] if high else declared.values[0]
        else:
            values[name] = SAMPLES[declared.type][1 if high else 0]
    return values


def sample_replies(sequence: Sequence, *, high: bool) -> dict[str, Any]:
    """A sample reply for every step that expects one."""
    return {
        s.id: sample_reply(s.expect_reply, high)
        for s in sequence.steps
        if s.expect_reply is not None
    }


def typed_attributes(sequence: Sequence, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Stored (JSON) attribute values typed by the sequence's declarations; unknown names are
    dropped and a value that no longer fits its type is kept as it is."""
    typed: dict[str, Any] = {}
    for name, declared in sequence.attributes.items():
        if raw.get(name) is not None:
            try:
                typed[name] = coerce(declared.type, raw[name], declared.values)
            except ValueError:
                typed[name] = raw[name]
    return typed
