"""A sequence's timeline for one would-be contact, rendered: what ``dripsms preview`` shows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from dripsms.core.attributes import coerce
from dripsms.core.context import sample_attributes, template_context
from dripsms.core.replies import parse_reply
from dripsms.core.segments import count_segments
from dripsms.core.sequence.model import Sequence, Step
from dripsms.core.templates import evaluate, render
from dripsms.core.timeline import PlannedStep, plan_timeline
from dripsms.errors import DripError, TemplateError

PLANNED, SKIPPED, WAITING = "planned", "skipped", "waiting"


@dataclass(frozen=True, slots=True)
class PreviewRow:
    """One step as a contact would get it."""

    step: str
    due_utc: datetime | None
    due_local: datetime | None
    body: str
    encoding: str
    segments: int
    status: str
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        """The row as ``dripsms preview --json`` prints it."""
        return {
            "step": self.step,
            "due_utc": None if self.due_utc is None else format_utc(self.due_utc),
            "due_local": None if self.due_local is None else self.due_local.isoformat(),
            "body": self.body,
            "encoding": self.encoding,
            "segments": self.segments,
            "status": self.status,
            "note": self.note,
        }


def format_utc(instant: datetime) -> str:
    """An instant as Twilio's ``SendAt`` wants it: ``YYYY-MM-DDTHH:MM:SSZ``."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def typed_attributes(sequence: Sequence, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Coerce raw values (text from a CLI or CSV) to their declared types, naming any bad one."""
    values: dict[str, Any] = {}
    for name, value in raw.items():
        declared = sequence.attributes.get(name)
        if declared is None:
            known = ", ".join(sorted(sequence.attributes)) or "none"
            raise DripError(f"{name}: not an attribute of {sequence.key} (declared: {known})")
        try:
            values[name] = coerce(declared.type, value, declared.values)
        except ValueError as exc:
            raise DripError(f"{name}: {exc}") from None
    return values


def typed_reply(step: Step, raw: str) -> Any:
    """A simulated reply to ``step`` as its parsed value (``8``, ``True``, ``"hip"``).

    Read as a patient's text is read (:func:`dripsms.core.replies.parse_reply`): "8/10",
    "eight", a choice's synonyms ("1" for ``appointments``), "yes please".
    """
    expect = step.expect_reply
    if expect is None:
        raise DripError(f"step {step.id!r} expects no reply")
    parsed = parse_reply(expect, raw)
    if not parsed.valid:
        raise DripError(f"reply to {step.id}: {parsed.reason} (got {raw!r})")
    return parsed.value


def _apply_rules(
    sequence: Sequence, step: Step, context: dict[str, Any], attrs: dict[str, Any]
) -> None:
    """Run the ``set`` actions of the first matching ``on_reply`` rule."""
    for rule in step.on_reply:
        if rule.if_ is None or evaluate(rule.if_, context):
            for action in rule.then:
                for name, value in (action.set_ or {}).items():
                    declared = sequence.attributes[name]
                    attrs[name] = coerce(declared.type, value, declared.values)
            return


def preview(
    sequence: Sequence,
    *,
    zone: ZoneInfo,
    enrolled_at: datetime,
    anchor: date | datetime | None = None,
    attributes: Mapping[str, Any] | None = None,
    replies: Mapping[str, str] | None = None,
    phone: str = "+15555550100",
) -> list[PreviewRow]:
    """The timeline of one contact with each body rendered.

    Attributes not given take their default, or a sample value. ``replies`` simulates
    answers (``{"day1": "8"}``): their ``on_reply`` rules' ``set`` actions apply, so
    later conditions see them.
    """
    attrs = sample_attributes(sequence, high=False) | typed_attributes(sequence, attributes or {})
    if anchor is None:
        anchor = enrolled_at if sequence.anchor == "enrolled_at" else attrs.get(sequence.anchor)
    if sequence.anchor != "enrolled_at":
        attrs[sequence.anchor] = anchor
    plan = plan_timeline(sequence, zone=zone, anchor=anchor or enrolled_at)
    parsed = {k: typed_reply(sequence.step(k), v) for k, v in (replies or {}).items()}
    known: dict[str, Any] = {}
    rows = []
    for planned in plan:
        step = sequence.step(planned.step_id)
        context = template_context(
            sequence, step_id=step.id, attributes=attrs, phone=phone, zone=zone,
            replies=known, enrolled_at=enrolled_at,
        )  # fmt: skip
        rows.append(_row(step, planned, context))
        if step.id in parsed:
            known[step.id] = parsed[step.id]
            own = dict(context, reply=parsed[step.id])
            own["steps"] = dict(context["steps"], **{step.id: {"reply": parsed[step.id]}})
            _apply_rules(sequence, step, own, attrs)
    return rows


def _row(step: Step, planned: PlannedStep, context: dict[str, Any]) -> PreviewRow:
    status, note = PLANNED, ", ".join(planned.adjustments)
    if planned.waits_for == "goto":
        status, note = WAITING, "sent only when a goto reaches it"
    elif planned.waits_for:
        status, note = WAITING, f"after the {planned.waits_for.split(':', 1)[1]} reply"
    if step.when is not None:
        try:
            if not evaluate(step.when, context):
                status, note = SKIPPED, f"when: {step.when}"
        except TemplateError:
            status, note = WAITING, f"decided at send time (when: {step.when})"
    try:
        body = render(step.body, context)
    except TemplateError as exc:
        body = f"<{exc}>"
    counted = count_segments(body)
    return PreviewRow(
        step.id, planned.due_at, planned.due_local, body, counted.encoding, counted.segments,
        status, note,
    )  # fmt: skip
