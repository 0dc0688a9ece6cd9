"""When each step of a sequence is due: pure wall-clock arithmetic in the contact's zone.

The rules, in the order they apply:

1. ``at: {days: N, time: "HH:MM"}`` is HH:MM on the wall clock, N local days after the
   anchor's local date. Without ``time``, N local days after the anchor's wall time,
   then ``hours``/``minutes`` of elapsed time. A date anchor means that local day
   (its midnight); ``enrolled_at`` is the enrollment instant.
2. A wall time that does not exist (a spring-forward gap) moves forward by the gap
   (02:30 on a 02:00→03:00 night becomes 03:30); an ambiguous one (fall back) takes the
   first occurrence. This is PEP 495's ``fold=0``.
3. Quiet hours: a time outside the send window moves to the next allowed local minute
   (the window's start that day or on the next open day).
4. Order: steps timed from the anchor keep the order of their requested wall times. If a
   DST gap would put a later step before an earlier one, it is held to the earlier
   step's instant.
5. ``after: {step: X, days, hours, minutes}`` counts from X's due time (``from: sent``)
   with the same day/elapsed split; ``from: reply`` waits for X's reply, so its time is
   not known in advance. A step with no ``at``/``after`` is reached only by ``goto``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dripsms.core.durations import clock_time
from dripsms.core.sequence.model import SendWindow, Sequence, Step
from dripsms.errors import TimelineError

GAP = "dst_gap"
QUIET_HOURS = "quiet_hours"
ORDER = "order"

EARLIEST_ANCHOR = date(1900, 1, 1)
LATEST_ANCHOR = date(2199, 12, 31)
"""The anchors a timeline is planned from: far wider than any follow-up needs, and far
enough inside ``datetime``'s years 1 to 9999 that no offset or zone runs off either end."""


class AnchorOutOfRange(TimelineError):
    """An anchor outside :data:`EARLIEST_ANCHOR`..:data:`LATEST_ANCHOR`, or a timeline
    whose arithmetic runs past the years ``datetime`` can hold."""


def check_anchor(anchor: date | datetime) -> None:
    """Raise :class:`AnchorOutOfRange` unless the anchor's date lies in the supported range."""
    day = anchor.date() if isinstance(anchor, datetime) else anchor
    if not EARLIEST_ANCHOR <= day <= LATEST_ANCHOR:
        raise AnchorOutOfRange(
            f"{day.isoformat()} is outside the supported range "
            f"{EARLIEST_ANCHOR.isoformat()} to {LATEST_ANCHOR.isoformat()}"
        )


@dataclass(frozen=True, slots=True)
class PlannedStep:
    """One step's place in a contact's timeline."""

    step_id: str
    due_at: datetime | None
    """The UTC instant the message is due, or None while it waits (see ``waits_for``)."""
    requested: datetime | None
    """The naive local wall time the sequence asked for, before any adjustment."""
    zone: ZoneInfo
    adjustments: tuple[str, ...] = ()
    """Why ``due_at`` differs from ``requested``: dst_gap, quiet_hours, order."""
    waits_for: str | None = None
    """``"reply:ID"`` (after a reply), ``"goto"`` (reached only by goto), or None."""

    @property
    def due_local(self) -> datetime | None:
        """The due instant on the contact's wall clock."""
        return None if self.due_at is None else self.due_at.astimezone(self.zone)


def resolve_wall_time(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a naive wall time: gaps move forward, ambiguity takes the first."""
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def in_gap(wall: datetime, zone: ZoneInfo) -> bool:
    """Whether a naive wall time does not exist in ``zone`` (it falls in a DST gap)."""
    back = resolve_wall_time(wall, zone).astimezone(zone).replace(tzinfo=None)
    return back != wall


def _minute_of_day(local: datetime) -> float:
    return local.hour * 60 + local.minute + (local.second + local.microsecond / 1e6) / 60


def next_allowed(instant: datetime, zone: ZoneInfo, window: SendWindow) -> datetime:
    """The first instant at or after ``instant`` inside the send window, in ``zone``."""
    current = instant
    for _ in range(32):  # a closed week plus gap corrections ends well before this
        local = current.astimezone(zone)
        hours = window.hours(local.weekday())
        minute = _minute_of_day(local)
        if hours is not None and hours[0] <= minute < hours[1]:
            return current
        day = local.date()
        if hours is None or minute >= hours[1]:
            day, hours = _next_open_day(day, window)
        assert hours is not None
        start = datetime.combine(day, clock_time(hours[0]))
        current = resolve_wall_time(start, zone)
    raise TimelineError(f"no allowed send time found after {instant.isoformat()} in {zone.key}")


def _next_open_day(day: date, window: SendWindow) -> tuple[date, tuple[int, int]]:
    for ahead in range(1, 8):
        candidate = day + timedelta(days=ahead)
        hours = window.hours(candidate.weekday())
        if hours is not None:
            return candidate, hours
    raise TimelineError("the send window is closed on every day")  # the model forbids it


def _anchor_wall(anchor: date | datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """(naive local wall time, UTC instant) of an anchor value."""
    if isinstance(anchor, datetime):
        if anchor.tzinfo is None:
            return anchor, resolve_wall_time(anchor, zone)
        return anchor.astimezone(zone).replace(tzinfo=None), anchor.astimezone(UTC)
    wall = datetime.combine(anchor, time(0, 0))
    return wall, resolve_wall_time(wall, zone)


def _shift(wall: datetime, instant: datetime, days: int, zone: ZoneInfo) -> datetime:
    """``days`` local days after a wall time, keeping the exact instant when days is 0."""
    if days == 0:
        return instant
    return resolve_wall_time(wall + timedelta(days=days), zone)


@dataclass(slots=True)
class _Draft:
    step: Step
    index: int
    due: datetime | None
    requested: datetime | None
    adjustments: list[str]
    waits_for: str | None = None


def _draft_at(step: Step, index: int, wall: datetime, instant: datetime, zone: ZoneInfo) -> _Draft:
    assert step.at is not None
    at = step.at
    if at.time is not None:
        requested = datetime.combine(wall.date() + timedelta(days=at.days), clock_time(at.time))
        due = resolve_wall_time(requested, zone)
    else:
        requested = wall + timedelta(days=at.days) + at.offset
        due = _shift(wall, instant, at.days, zone) + at.offset
    adjustments = [GAP] if in_gap(requested, zone) else []
    return _Draft(step, index, due, requested, adjustments)


def _apply_window(draft: _Draft, zone: ZoneInfo, window: SendWindow) -> None:
    if draft.due is None:
        return
    allowed = next_allowed(draft.due, zone, window)
    if allowed != draft.due:
        draft.due = allowed
        draft.adjustments.append(QUIET_HOURS)


def _keep_order(drafts: list[_Draft]) -> None:
    timed = sorted(
        (d for d in drafts if d.due is not None and d.requested is not None),
        key=lambda d: (d.requested, d.index),
    )
    latest: datetime | None = None
    for draft in timed:
        assert draft.due is not None
        if latest is not None and draft.due < latest:
            draft.due = latest
            draft.adjustments.append(ORDER)
        latest = draft.due


def _draft_after(
    step: Step, index: int, drafts: dict[str, _Draft], zone: ZoneInfo, window: SendWindow
) -> _Draft:
    assert step.after is not None
    after = step.after
    base = drafts[after.step]
    if after.from_ == "reply":
        return _Draft(step, index, None, None, [], waits_for=f"reply:{after.step}")
    if base.due is None:
        return _Draft(step, index, None, None, [], waits_for=base.waits_for)
    base_wall = base.due.astimezone(zone).replace(tzinfo=None)
    requested = base_wall + timedelta(days=after.days) + after.offset
    due = _shift(base_wall, base.due, after.days, zone) + after.offset
    draft = _Draft(step, index, due, requested, [GAP] if in_gap(requested, zone) else [])
    _apply_window(draft, zone, window)
    return draft


def plan_timeline(
    sequence: Sequence,
    *,
    zone: ZoneInfo,
    anchor: date | datetime,
    window: SendWindow | None = None,
) -> list[PlannedStep]:
    """Every step's due time, earliest first (waiting steps last, in file order).

    ``anchor`` is the anchor attribute's value, or the enrollment instant when the
    sequence is anchored on ``enrolled_at``. ``window`` overrides the sequence's.
    Raises :class:`AnchorOutOfRange` for an anchor outside the supported range.
    """
    check_anchor(anchor)
    try:
        return _plan(sequence, zone, anchor, window or sequence.send_window)
    except OverflowError:  # offsets so large that a date passes the year 9999
        raise AnchorOutOfRange(
            f"the timeline from {anchor.isoformat()} runs past the last date a calendar holds"
        ) from None


def _plan(
    sequence: Sequence, zone: ZoneInfo, anchor: date | datetime, window: SendWindow
) -> list[PlannedStep]:
    wall, instant = _anchor_wall(anchor, zone)
    drafts: dict[str, _Draft] = {}
    for index, step in enumerate(sequence.steps):
        if step.at is not None:
            drafts[step.id] = _draft_at(step, index, wall, instant, zone)
            _apply_window(drafts[step.id], zone, window)
        elif step.goto_only:
            drafts[step.id] = _Draft(step, index, None, None, [], waits_for="goto")
    _keep_order(list(drafts.values()))
    pending = [(i, s) for i, s in enumerate(sequence.steps) if s.after is not None]
    while pending:  # the loader rejects cycles, so each pass places at least one step
        waiting = [(i, s) for i, s in pending if s.after and s.after.step not in drafts]
        if len(waiting) == len(pending):
            raise TimelineError("steps timed 'after' each other form a cycle")
        for index, step in pending:
            if (index, step) not in waiting:
                drafts[step.id] = _draft_after(step, index, drafts, zone, window)
        pending = waiting
    ordered = sorted(
        drafts.values(),
        key=lambda d: (d.due is None, d.due or datetime.min.replace(tzinfo=UTC), d.index),
    )
    return [
        PlannedStep(d.step.id, d.due, d.requested, zone, tuple(d.adjustments), d.waits_for)
        for d in ordered
    ]


def anchor_value(
    sequence: Sequence, attributes: dict[str, object], enrolled_at: datetime
) -> date | datetime:
    """The anchor of one enrollment: its anchor attribute, or the enrollment instant."""
    if sequence.anchor == "enrolled_at":
        return enrolled_at
    value = attributes.get(sequence.anchor)
    if value is None:
        value = sequence.attributes[sequence.anchor].default
    if not isinstance(value, date):
        raise TimelineError(f"the anchor attribute {sequence.anchor!r} is not set")
    return value
