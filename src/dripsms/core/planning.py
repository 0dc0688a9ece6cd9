"""From an enrollment request to the rows it will write: validated, typed and planned.

Pure: every check an enrollment needs that does not need the database happens here, so
an import can validate a row completely before writing anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from dripsms.core.attributes import AttributeType, coerce
from dripsms.core.handoff import too_late
from dripsms.core.phones import InvalidPhone, normalize_phone
from dripsms.core.sequence.dependencies import waits_for
from dripsms.core.sequence.model import Sequence, Step
from dripsms.core.states import MessageState
from dripsms.core.timeline import (
    AnchorOutOfRange,
    PlannedStep,
    check_anchor,
    next_allowed,
    plan_timeline,
)
from dripsms.core.zones import time_zone
from dripsms.errors import InvalidInput


class EnrollmentError(InvalidInput):
    """An enrollment request is invalid; ``field`` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


@dataclass(frozen=True, slots=True)
class EnrollmentRequest:
    """What a caller asks for: raw values, as a CLI, CSV row, form or JSON body gives them."""

    sequence: str
    phone: str
    timezone: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    anchor: str | date | datetime | None = None
    external_id: str | None = None
    catch_up: bool | None = None
    """Send the most recent missed step now; None: the sequence's ``catch_up``."""


@dataclass(frozen=True, slots=True)
class PlannedMessage:
    """One message row to create."""

    step_id: str
    state: MessageState
    due_at: datetime | None
    caught_up_from: datetime | None = None
    """For the step sent now by catch-up: the due time it missed."""


@dataclass(frozen=True, slots=True)
class PreparedEnrollment:
    """A request that passed every check, with its timeline."""

    sequence_key: str
    phone: str
    timezone: str
    attributes: dict[str, Any]
    anchor: date | datetime
    external_id: str
    enrolled_at: datetime
    messages: tuple[PlannedMessage, ...]

    @property
    def missed(self) -> tuple[str, ...]:
        """The steps recorded ``missed`` at enrollment, earliest first."""
        return tuple(m.step_id for m in self.messages if m.state is MessageState.MISSED)

    @property
    def caught_up(self) -> tuple[str, ...]:
        """The steps catch-up sends now instead of recording them missed."""
        return tuple(m.step_id for m in self.messages if m.caught_up_from is not None)

    def anchor_text(self) -> str:
        """The anchor as stored: ISO date or ISO date-time."""
        return self.anchor.isoformat()


def _zone(name: str | None, known: str | None, sequence: Sequence) -> ZoneInfo:
    chosen = name or known or sequence.timezone
    if not chosen:
        raise EnrollmentError(
            "timezone", "required: the contact has none and the sequence sets no default"
        )
    try:
        return time_zone(chosen.strip())
    except ValueError:
        raise EnrollmentError(
            "timezone", f"unknown time zone {chosen!r}; use an IANA name like America/New_York"
        ) from None


def _attributes(
    sequence: Sequence, given: Mapping[str, Any], known: Mapping[str, Any]
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, raw in given.items():
        declared = sequence.attributes.get(name)
        if declared is None:
            declared_names = ", ".join(sorted(sequence.attributes)) or "none"
            raise EnrollmentError(
                f"attributes.{name}", f"not an attribute of {sequence.key} ({declared_names})"
            )
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            continue  # an empty CSV cell or form field means "not given"
        try:
            values[name] = coerce(declared.type, raw, declared.values)
        except ValueError as exc:
            raise EnrollmentError(f"attributes.{name}", str(exc)) from None
    for name, declared in sequence.attributes.items():
        missing = name not in values and known.get(name) is None
        if declared.required and missing and name != sequence.anchor:
            raise EnrollmentError(f"attributes.{name}", "required")
    return values


def _anchor(
    sequence: Sequence, given: str | date | datetime | None, values: dict[str, Any],
    known: Mapping[str, Any], enrolled_at: datetime,
) -> date | datetime:  # fmt: skip
    if sequence.anchor == "enrolled_at":
        if given is not None:
            raise EnrollmentError("anchor", "this sequence is anchored on the enrollment time")
        return enrolled_at
    declared = sequence.attributes[sequence.anchor]
    raw = given if given is not None else values.get(sequence.anchor, known.get(sequence.anchor))
    if raw is None or raw == "":
        raw = declared.default
    if raw is None:
        raise EnrollmentError(
            "anchor", f"required: give the {sequence.anchor} ({declared.type.value})"
        )
    try:
        value = coerce(declared.type, raw)
    except ValueError as exc:
        raise EnrollmentError("anchor", f"{sequence.anchor}: {exc}") from None
    if declared.type is AttributeType.DATE and isinstance(value, datetime):
        value = value.date()
    try:
        check_anchor(value)
    except AnchorOutOfRange as exc:
        raise EnrollmentError("anchor", f"{sequence.anchor}: {exc}") from None
    values[sequence.anchor] = value
    return value  # type: ignore[no-any-return]


def prepare(
    sequence: Sequence,
    request: EnrollmentRequest,
    *,
    enrolled_at: datetime,
    default_region: str = "US",
    known_timezone: str | None = None,
    known_attributes: Mapping[str, Any] | None = None,
    normalized_phone: str | None = None,
) -> PreparedEnrollment:
    """Validate a request completely and plan its timeline; raise :class:`EnrollmentError`.

    ``normalized_phone``: the request's phone already checked and in E.164 (a batch
    normalises every phone first to look contacts up).
    """
    if normalized_phone is not None:
        phone = normalized_phone
    else:
        try:
            phone = normalize_phone(request.phone, default_region)
        except InvalidPhone as exc:
            raise EnrollmentError("phone", str(exc).removeprefix("phone: ")) from None
    known = dict(known_attributes or {})
    zone = _zone(request.timezone, known_timezone, sequence)
    values = _attributes(sequence, request.attributes, known)
    anchor = _anchor(sequence, request.anchor, values, known, enrolled_at)
    external_id = (request.external_id or "").strip()
    if len(external_id) > 128:
        raise EnrollmentError("external_id", "longer than 128 characters")
    catch_up = sequence.catch_up if request.catch_up is None else request.catch_up
    plan = plan_timeline(sequence, zone=zone, anchor=anchor)
    messages = plan_messages(sequence, plan, enrolled_at=enrolled_at, catch_up=catch_up)
    return PreparedEnrollment(
        sequence_key=sequence.key,
        phone=phone,
        timezone=zone.key,
        attributes=values,
        anchor=anchor,
        external_id=external_id,
        enrolled_at=enrolled_at,
        messages=messages,
    )


def plan_messages(
    sequence: Sequence, plan: list[PlannedStep], *, enrolled_at: datetime, catch_up: bool
) -> tuple[PlannedMessage, ...]:
    """The message rows of a timeline at ``enrolled_at``: planned, blocked or missed.

    A step past its latest send time (:func:`~dripsms.core.handoff.too_late`, the rule the
    dispatcher expires by) is ``missed``. With ``catch_up`` the most recent of those (all
    of them due at that instant) is due now instead (the next allowed time, if now is in
    quiet hours). A step that only a
    missed step could lead to (``after`` its reply, or a ``goto`` in its rules) is missed
    with it, so a fully missed enrollment has nothing left to send.
    """
    missed = {
        p.step_id for p in plan
        if p.due_at is not None and too_late(p.due_at, enrolled_at, sequence.max_delay)
    }  # fmt: skip
    caught: set[str] = set()
    if catch_up and missed:
        latest = max(p.due_at for p in plan if p.step_id in missed and p.due_at is not None)
        # Steps due at the same instant are alternatives (day3 / day3_escalated): their
        # conditions pick the one that goes.
        caught = {p.step_id for p in plan if p.step_id in missed and p.due_at == latest}
        missed -= caught
    if missed:
        timed = {p.step_id for p in plan if p.due_at is not None}
        missed |= _reachable(sequence, timed, timed) - _reachable(sequence, timed, timed - missed)
    messages = []
    for planned in plan:
        step = sequence.step(planned.step_id)
        due_at, caught_up_from = planned.due_at, None
        if planned.step_id in missed:
            messages.append(PlannedMessage(step.id, MessageState.MISSED, due_at))
            continue
        if planned.step_id in caught:
            caught_up_from = due_at
            due_at = next_allowed(enrolled_at, planned.zone, sequence.send_window)
        blocked = due_at is None or bool(waits_for(sequence, step))
        state = MessageState.BLOCKED if blocked else MessageState.PLANNED
        messages.append(PlannedMessage(step.id, state, due_at, caught_up_from))
    return tuple(messages)


def _leads_to(step: Step) -> set[str]:
    actions = [a for rule in step.on_reply for a in rule.then] + list(step.on_no_reply)
    return {a.goto for a in actions if a.goto is not None}


def _reachable(sequence: Sequence, timed: set[str], live_timed: set[str]) -> set[str]:
    """The untimed steps (``goto`` only, ``after`` a reply or ``after`` an untimed step)
    that the ``live_timed`` steps (of the ``timed`` ones) can still lead to."""
    live = set(live_timed)
    untimed: set[str] = set()
    changed = True
    while changed:
        changed = False
        for step in sequence.steps:
            if step.id in live or step.id in timed:
                continue
            if step.after is not None:
                reached = step.after.step in live
            else:
                reached = any(step.id in _leads_to(sequence.step(x)) for x in live)
            if reached:
                live.add(step.id)
                untimed.add(step.id)
                changed = True
    return untimed
