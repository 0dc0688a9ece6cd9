"""What the Sequences pages show, built from the library and ``store.funnel`` rows: plain
functions, one per page, testable without HTTP.

A step's funnel counts its messages by how far they got: *planned* (every message written
for the step), *scheduled* (handed to Twilio: scheduled with a SendAt or sent at once),
*sent* (Twilio sent it: sent, delivered or undelivered), *delivered*, *failed* (failed or
undelivered) and *replied* (enrollments that answered it readably).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from dripsms.core.durations import format_clock, format_duration
from dripsms.core.sequence.loader import LoadedSequence
from dripsms.core.sequence.model import (
    Action,
    ChoiceReply,
    IntegerReply,
    ReplyExpectation,
    Sequence,
    Step,
    YesNoReply,
)
from dripsms.core.states import MessageState
from dripsms.engine.library import LoadProblem
from dripsms.store.funnel import AnswerValue, StepStateCount, VersionCount
from dripsms.web.console.replies_csv import value_cell

S = MessageState
SENT = frozenset({S.SENT, S.DELIVERED, S.UNDELIVERED})
FAILED = frozenset({S.FAILED, S.UNDELIVERED})
MOST_TEXT_VALUES = 10
"""Free-text answers: the most frequent few get a bar, the rest are counted together."""


# -- the list ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SequenceRow:
    """One sequence on the list."""

    key: str
    name: str
    version: str | None
    """The current file's version, or the newest stored one when the file is gone/broken."""
    file: str | None
    active: int
    total: int
    problems: tuple[str, ...] = ()
    """Why the file did not load (the sequence is skipped; its enrollments keep running)."""
    stored_only: bool = False
    """No file for it in the folder: known only from the versions its enrollments pinned."""


def sequences_context(
    current: Iterable[LoadedSequence],
    load_problems: Iterable[LoadProblem],
    versions: Iterable[VersionCount],
    stored_names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The Sequences page: every sequence of the folder, every broken file, and every
    sequence known only from the database, with its enrollments (active of total)."""
    names = dict(stored_names or {})
    counts: dict[str, list[int]] = {}
    newest: dict[str, str] = {}
    for version in versions:  # newest first within a key
        active_total = counts.setdefault(version.key, [0, 0])
        active_total[0] += version.active
        active_total[1] += version.total
        newest.setdefault(version.key, version.digest[:12])
    rows: dict[str, SequenceRow] = {}
    for loaded in current:
        key = loaded.sequence.key
        active, total = counts.get(key, (0, 0))
        rows[key] = SequenceRow(
            key, loaded.sequence.name, loaded.version, loaded.file, active, total
        )
    for broken in load_problems:
        key = broken.key or ""
        problems = tuple(str(p) for p in broken.problems)
        if not key or key in rows:  # unreadable, or a second file with a key already loaded
            rows[broken.file] = SequenceRow(key, broken.file, None, broken.file, 0, 0, problems)
            continue
        active, total = counts.get(key, (0, 0))
        rows[key] = SequenceRow(
            key, names.get(key, key), newest.get(key), broken.file, active, total, problems
        )
    for key, (active, total) in counts.items():
        if key not in rows:
            rows[key] = SequenceRow(
                key, names.get(key, key), newest[key], None, active, total, stored_only=True
            )
    return {
        "sequences": sorted(rows.values(), key=lambda row: (row.key == "", row.key, row.file or ""))
    }


# -- one sequence: its steps --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleView:
    """An ``on_reply`` rule: when (``None``: any reply) and its actions in words."""

    condition: str | None
    actions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar of a small chart: a label, a count, and its length in chart units (0 to 100)."""

    label: str
    count: int
    length: float


@dataclass(frozen=True, slots=True)
class Funnel:
    """How far a step's messages got (see the module's docstring), with every state."""

    planned: int = 0
    scheduled: int = 0
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    replied: int = 0
    states: tuple[tuple[str, int], ...] = ()

    def bars(self) -> list[Bar]:
        """The funnel's stages as bars, each against ``planned``."""
        stages = (
            ("planned", self.planned), ("scheduled", self.scheduled), ("sent", self.sent),
            ("delivered", self.delivered), ("failed", self.failed), ("replied", self.replied),
        )  # fmt: skip
        return [Bar(label, count, _length(count, self.planned)) for label, count in stages]


@dataclass(frozen=True, slots=True)
class StepView:
    """One step as the sequence page draws and describes it."""

    id: str
    timing: str
    """``day 1 at 09:00``, ``2h after day1's reply``, ``only by goto``."""
    position: float | None
    """Days from the anchor where the timeline draws it (``None``: not on the axis)."""
    reply_window: timedelta | None
    expects: str | None
    """``a whole number 0 to 10``, ``yes or no``, ``one of knee, hip``, ``any text``."""
    window: str | None
    reprompt: str | None
    condition: str | None
    rules: tuple[RuleView, ...]
    no_reply: tuple[str, ...]
    funnel: Funnel
    values: tuple[Bar, ...]
    in_version: bool = True
    """False for a step that only earlier versions had (its messages are still counted)."""


@dataclass(frozen=True, slots=True)
class Mark:
    """A step on the drawn timeline (SVG user units: the axis is ``AXIS`` wide)."""

    step: str
    row: int
    x: float
    window_end: float | None
    label: str
    approximate: bool = False
    """Placed by a guess (it counts from another step's reply): drawn dashed."""


@dataclass
class Drawing:
    """The inline SVG timeline's geometry."""

    marks: list[Mark] = field(default_factory=list)
    ticks: list[tuple[float, str]] = field(default_factory=list)
    width: int = 0
    height: int = 0


LABEL_WIDTH = 130
AXIS = 600
ROW = 30


def action_text(action: Action) -> str:
    """An action in words: ``goto day3_escalated``, ``notify care_team``, ``send "…"``."""
    kind = action.kind
    if kind == "send":
        return f"send “{action.send}”"
    if kind == "exit":
        return "exit the sequence"
    if kind == "set":
        assignments = ", ".join(f"{k} = {json.dumps(v)}" for k, v in (action.set_ or {}).items())
        return f"set {assignments}"
    return f"{kind} {action.value_of(kind)}"


def expectation_text(expect: ReplyExpectation) -> str:
    """What a step asks for, in words."""
    if isinstance(expect, IntegerReply):
        low, high = expect.min, expect.max
        if low is not None and high is not None:
            return f"a whole number from {low} to {high}"
        if low is not None or high is not None:
            return (
                f"a whole number of at least {low}"
                if low is not None
                else (f"a whole number of at most {high}")
            )
        return "a whole number"
    if isinstance(expect, YesNoReply):
        return "yes or no"
    if isinstance(expect, ChoiceReply):
        return "one of " + ", ".join(expect.values)
    return "any text"


def _days(delta: timedelta) -> float:
    return delta.total_seconds() / 86400


def timing_text(step: Step) -> str:
    """When a step goes out, in words (local time: the contact's wall clock)."""
    if step.at is not None:
        at = step.at
        text = f"day {at.days}"
        if at.time is not None:
            return f"{text} at {format_clock(at.time)} local"
        if at.offset:
            return f"{text} + {format_duration(at.offset)} after the anchor"
        return f"{text}, at the anchor's time"
    if step.after is not None:
        after = step.after
        wait = timedelta(days=after.days) + after.offset
        since = "reply to" if after.from_ == "reply" else "sending of"
        return f"{format_duration(wait)} after the {since} {after.step}"
    return "only when a goto reaches it"


def _positions(sequence: Sequence) -> dict[str, tuple[float, bool]]:
    """Days from the anchor of each timed step (and whether it is approximate)."""
    placed: dict[str, tuple[float, bool]] = {}
    for step in sequence.steps:  # `after` may only name an earlier step
        if step.at is not None:
            minute = step.at.time if step.at.time is not None else 0
            placed[step.id] = (step.at.days + minute / 1440 + _days(step.at.offset), False)
        elif step.after is not None and step.after.step in placed:
            base, approximate = placed[step.after.step]
            after = step.after
            approximate = approximate or after.from_ == "reply"
            placed[step.id] = (base + after.days + _days(after.offset), approximate)
    return placed


def drawing(steps: list[StepView]) -> Drawing:
    """The timeline's SVG: one row per timed step, its send time and its reply window."""
    timed = [s for s in steps if s.position is not None]
    if not timed:
        return Drawing()
    span = max((s.position or 0) + (_days(s.reply_window) if s.reply_window else 0) for s in timed)
    span = max(span, 1.0)
    scale = AXIS / span
    marks = []
    for row, step in enumerate(timed):
        x = LABEL_WIDTH + (step.position or 0) * scale
        end = x + _days(step.reply_window) * scale if step.reply_window else None
        marks.append(Mark(step.id, row, round(x, 1), end and round(end, 1), step.timing,
                          approximate="reply to" in step.timing))  # fmt: skip
    every = max(1, round(span / 8))
    ticks = [(round(LABEL_WIDTH + day * scale, 1), f"day {day}")
             for day in range(0, int(span) + 1, every)]  # fmt: skip
    return Drawing(marks, ticks, LABEL_WIDTH + AXIS + 40, (len(timed) + 1) * ROW + 10)


def _length(count: int, most: int) -> float:
    return round(100 * count / most, 1) if most else 0.0


def funnel_of(counts: Iterable[StepStateCount], replied: int) -> Funnel:
    """A step's funnel from its messages counted by state."""
    planned = scheduled = sent = delivered = failed = 0
    states: dict[str, int] = {}
    for row in counts:
        planned += row.count
        scheduled += row.count if row.handed_off else 0
        sent += row.count if row.state in SENT else 0
        delivered += row.count if row.state == S.DELIVERED else 0
        failed += row.count if row.state in FAILED else 0
        states[row.state] = states.get(row.state, 0) + row.count
    return Funnel(
        planned, scheduled, sent, delivered, failed, replied, tuple(sorted(states.items()))
    )


def value_bars(step: Step | None, answers: Iterable[AnswerValue]) -> tuple[Bar, ...]:
    """The distribution of a step's reply values: every possible value of a bounded
    integer, choice or yes/no question (zero counts included), in their natural order; the
    most frequent free-text answers, then the rest together."""
    counted = {(type(a.value).__name__, a.value): a.count for a in answers}
    expect = step.expect_reply if step else None
    order: list[Any]
    if isinstance(expect, IntegerReply) and expect.min is not None and expect.max is not None \
            and expect.max - expect.min <= 20:  # fmt: skip
        order = list(range(expect.min, expect.max + 1))
    elif isinstance(expect, ChoiceReply):
        order = list(expect.values)
    elif isinstance(expect, YesNoReply):
        order = [True, False]
    else:
        order = []
    pairs = [(value, counted.pop((type(value).__name__, value), 0)) for value in order]
    rest = sorted(counted.items(), key=lambda item: (-item[1], str(item[0][1])))
    if isinstance(expect, IntegerReply):
        rest.sort(key=lambda item: (str(item[0][0]), item[0][1]))
    extra = [(value, count) for (_, value), count in rest]
    if len(extra) > MOST_TEXT_VALUES:
        others = sum(count for _, count in extra[MOST_TEXT_VALUES:])
        extra = [*extra[:MOST_TEXT_VALUES], ("(other answers)", others)]
    pairs += extra
    most = max((count for _, count in pairs), default=0)
    return tuple(Bar(value_cell(value), count, _length(count, most)) for value, count in pairs)


def step_view(
    step: Step,
    position: tuple[float, bool] | None,
    counts: list[StepStateCount],
    replied: int,
    values: list[AnswerValue],
) -> StepView:
    """One step of the sequence page."""
    expect = step.expect_reply
    return StepView(
        id=step.id,
        timing=timing_text(step),
        position=None if position is None else position[0],
        reply_window=expect.window if expect else None,
        expects=expectation_text(expect) if expect else None,
        window=format_duration(expect.window) if expect else None,
        reprompt=expect.reprompt if expect else None,
        condition=step.when,
        rules=tuple(
            RuleView(rule.if_, tuple(action_text(a) for a in rule.then)) for rule in step.on_reply
        ),
        no_reply=tuple(action_text(a) for a in step.on_no_reply),
        funnel=funnel_of(counts, replied),
        values=value_bars(step, values),
    )


def sequence_context(
    loaded: LoadedSequence,
    *,
    current: bool,
    problems: LoadProblem | None,
    versions: list[VersionCount],
    states: list[StepStateCount],
    answered: Mapping[str, int],
    values: list[AnswerValue],
) -> dict[str, Any]:
    """One sequence's page: its steps drawn and described, each with its funnel and the
    distribution of its reply values; its versions and their enrollments."""
    sequence = loaded.sequence
    by_step: dict[str, list[StepStateCount]] = {}
    for row in states:
        by_step.setdefault(row.step, []).append(row)
    values_of: dict[str, list[AnswerValue]] = {}
    for value in values:
        values_of.setdefault(value.step, []).append(value)
    positions = _positions(sequence)
    steps = [
        step_view(step, positions.get(step.id), by_step.pop(step.id, []),
                  answered.get(step.id, 0), values_of.pop(step.id, []))
        for step in sequence.steps
    ]  # fmt: skip
    for gone in sorted(set(by_step) | set(values_of)):  # steps of earlier versions
        funnel = funnel_of(by_step.get(gone, []), answered.get(gone, 0))
        steps.append(StepView(
            gone, "not in this version", None, None, None, None, None, None, (), (), funnel,
            value_bars(None, values_of.get(gone, [])), in_version=False,
        ))  # fmt: skip
    return {
        "sequence": sequence,
        "sequence_version": loaded.version,  # `version` is dripsms's, in the layout
        "file": loaded.file if current else None,
        "current": current,
        "problems": [str(p) for p in problems.problems] if problems else [],
        "anchor": sequence.anchor,
        "steps": steps,
        "drawing": drawing(steps),
        "versions": [
            {
                "digest": v.digest,
                "version": v.digest[:12],
                "loaded_at": v.loaded_at,
                "active": v.active,
                "total": v.total,
                "shown": v.digest == loaded.digest,
            }
            for v in versions
        ],
        "send_window": f"{format_clock(sequence.send_window.start)} to "
        f"{format_clock(sequence.send_window.end)}",
    }
