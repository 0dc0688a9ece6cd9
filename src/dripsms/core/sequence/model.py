"""The sequence language as frozen pydantic models.

A sequence file is parsed into :class:`Sequence`; per-field rules live here, rules that
look across the whole sequence (references, cycles, templates) live in ``checks``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from dripsms.core.attributes import AttributeType, coerce
from dripsms.core.durations import format_clock
from dripsms.core.sequence.fields import (
    E164,
    AttributeName,
    ClockTime,
    Duration,
    EndClockTime,
    Identifier,
    Key,
    ServiceSid,
    ZoneName,
)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class Model(BaseModel):
    """Frozen, and strict about unknown fields: a typo is an error, not a silent default."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Attribute(Model):
    """A declared contact attribute; enrollment data is validated against it."""

    type: AttributeType
    required: bool = False
    values: tuple[str, ...] = Field((), validate_default=True)
    default: Any = None
    description: str = ""

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"type": data} if isinstance(data, str) else data

    @field_validator("values")
    @classmethod
    def _values_for_choice(cls, values: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        kind = info.data.get("type")
        if kind == AttributeType.CHOICE and not values:
            raise ValueError("a choice attribute needs its 'values'")
        if kind not in (None, AttributeType.CHOICE) and values:
            raise ValueError("'values' only applies to attributes of type choice")
        if len(set(values)) != len(values):
            raise ValueError("'values' has duplicates")
        return values

    @field_validator("default")
    @classmethod
    def _default_fits(cls, default: Any, info: ValidationInfo) -> Any:
        if default is None or "type" not in info.data:
            return default
        if info.data.get("required"):
            raise ValueError("an attribute with a default cannot also be required")
        return coerce(info.data["type"], default, info.data.get("values", ()))


def _end_after_start(end: int, info: ValidationInfo) -> int:
    """An opening's ``end`` must come after its ``start`` on the same day."""
    start = info.data.get("start")
    if start is not None and start >= end:
        raise ValueError(
            f"'end' ({format_clock(end)}) must be later than 'start' ({format_clock(start)}); "
            "a window cannot run past midnight"
        )
    return end


class Hours(Model):
    """Local opening hours of one day: sends may go out from ``start`` until ``end``."""

    start: ClockTime
    end: EndClockTime

    _ordered = field_validator("end")(_end_after_start)


class SendWindow(Model):
    """Quiet hours, as the local hours when sends are allowed; optionally per weekday."""

    start: ClockTime = 8 * 60
    end: EndClockTime = 20 * 60
    days: dict[Weekday, Hours | None] = Field(default_factory=dict)

    @field_validator("days", mode="before")
    @classmethod
    def _closed(cls, days: Any) -> Any:
        if isinstance(days, dict):
            return {k: (None if v in ("closed", None) else v) for k, v in days.items()}
        return days

    _ordered = field_validator("end")(_end_after_start)

    @model_validator(mode="after")
    def _start_before_default_end(self) -> SendWindow:
        # A given 'end' is checked against 'start' by _ordered; the default one is not.
        if "end" not in self.model_fields_set and self.start >= self.end:
            raise ValueError(
                f"'start' ({format_clock(self.start)}) must be earlier than 'end', which is "
                f"{format_clock(self.end)} when not given; give an 'end' as well"
            )
        return self

    @field_validator("days")
    @classmethod
    def _open_some_day(cls, days: dict[Weekday, Hours | None]) -> dict[Weekday, Hours | None]:
        if all(day in days and days[day] is None for day in WEEKDAYS):
            raise ValueError("the send window is closed on every day, so nothing could be sent")
        return days

    def hours(self, weekday: int) -> tuple[int, int] | None:
        """Allowed (start, end) minutes of the day for a weekday (Monday is 0), or None."""
        name = WEEKDAYS[weekday]
        if name in self.days:
            day = self.days[name]
            return None if day is None else (day.start, day.end)
        return (self.start, self.end)


class At(Model):
    """A time counted from the anchor: whole local days, then a time of day or an offset."""

    days: int = 0
    hours: int = 0
    minutes: int = 0
    time: ClockTime | None = None

    @field_validator("time")
    @classmethod
    def _time_or_offset(cls, time: int | None, info: ValidationInfo) -> int | None:
        if time is not None and (info.data.get("hours") or info.data.get("minutes")):
            raise ValueError(
                "give either 'time' (a time of day) or 'hours'/'minutes' (an offset), not both"
            )
        return time

    @property
    def offset(self) -> timedelta:
        """The elapsed part of the offset (hours and minutes)."""
        return timedelta(hours=self.hours, minutes=self.minutes)


class After(Model):
    """A time counted from another step: from when it was sent, or from its reply."""

    step: Identifier
    from_: Literal["sent", "reply"] = Field("sent", alias="from")
    days: int = Field(0, ge=0)
    hours: int = Field(0, ge=0)
    minutes: int = Field(0, ge=0)

    @property
    def offset(self) -> timedelta:
        """The elapsed part of the offset (hours and minutes)."""
        return timedelta(hours=self.hours, minutes=self.minutes)


class ReplyExpectation(Model):
    """What every kind of expected reply has: how long to wait and what to say if invalid."""

    window: Duration = timedelta(hours=24)
    reprompt: str | None = None
    accept_late: bool = False
    answers: Literal["once", "many"] = "once"
    """``once``: the first readable answer closes the question, later texts are follow-ups
    that fire no rule. ``many``: every readable answer in the window runs the rules."""

    @field_validator("window")
    @classmethod
    def _positive(cls, window: timedelta) -> timedelta:
        if window <= timedelta(0):
            raise ValueError("a reply window must be longer than zero")
        return window


class IntegerReply(ReplyExpectation):
    """A whole number, optionally bounded (a pain score 0 to 10)."""

    type: Literal["integer"]
    min: int | None = None
    max: int | None = None

    @field_validator("max")
    @classmethod
    def _bounds(cls, high: int | None, info: ValidationInfo) -> int | None:
        low = info.data.get("min")
        if low is not None and high is not None and low > high:
            raise ValueError(f"'max' ({high}) is less than 'min' ({low})")
        return high


class ChoiceReply(ReplyExpectation):
    """One of a few values, each with optional synonyms."""

    type: Literal["choice"]
    values: dict[str, tuple[str, ...]] = Field(min_length=1)

    @field_validator("values", mode="before")
    @classmethod
    def _list_form(cls, values: Any) -> Any:
        if isinstance(values, list):
            return {str(v): () for v in values}
        if isinstance(values, dict):
            return {k: ([] if v is None else v) for k, v in values.items()}
        return values


class YesNoReply(ReplyExpectation):
    """Yes or no, in the forms people type."""

    type: Literal["yes_no"]


class TextReply(ReplyExpectation):
    """Any text."""

    type: Literal["text"]


ExpectReply = Annotated[
    IntegerReply | ChoiceReply | YesNoReply | TextReply, Field(discriminator="type")
]
REPLY_TYPES = ("integer", "choice", "yes_no", "text")

ACTION_KINDS = ("send", "goto", "exit", "notify", "set")


class Action(Model):
    """One thing to do: exactly one of send, goto, exit, notify or set."""

    send: str | None = Field(None, min_length=1)
    goto: Identifier | None = None
    exit: Literal[True] | None = None
    notify: Identifier | None = None
    set_: dict[Identifier, Any] | None = Field(None, alias="set", min_length=1)
    message: str | None = Field(None, min_length=1)
    """With ``notify``: the alert's text, a template that also reads ``alert.*``."""

    @model_validator(mode="before")
    @classmethod
    def _bare_word(cls, data: Any) -> Any:
        if data == "exit":
            return {"exit": True}
        if isinstance(data, str):
            raise ValueError(
                f"{data!r} is not an action; write one of: send: TEXT, goto: STEP, exit, "
                "notify: TARGET, set: {NAME: VALUE}"
            )
        if isinstance(data, dict):
            empty = [k for k in ACTION_KINDS if k in data and data[k] is None]
            if empty:
                raise ValueError(f"{empty[0]!r} is given no value")
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> Action:
        given = [k for k in ACTION_KINDS if self.value_of(k) is not None]
        if not given:
            raise ValueError(f"an action needs one of {', '.join(ACTION_KINDS)}")
        if len(given) > 1:
            raise ValueError(
                f"an action does one thing, but this one has {' and '.join(given)}: "
                "give each its own '-' item"
            )
        if self.message is not None and self.notify is None:
            raise ValueError("'message' is the text of a notify action; it needs 'notify'")
        return self

    def value_of(self, kind: str) -> Any:
        """The argument of the action of this kind, or None."""
        return self.set_ if kind == "set" else getattr(self, kind)

    @property
    def kind(self) -> str:
        """Which action this is: send, goto, exit, notify or set."""
        return next(k for k in ACTION_KINDS if self.value_of(k) is not None)


class ReplyRule(Model):
    """When the reply matches ``if`` (or always, without one), run ``then``."""

    if_: str | None = Field(None, alias="if")
    then: tuple[Action, ...] = Field(min_length=1)


class Step(Model):
    """One message of a sequence."""

    id: Identifier
    at: At | None = None
    after: After | None = None
    body: str = Field(min_length=1)
    when: str | None = None
    expect_reply: ExpectReply | None = None
    on_reply: tuple[ReplyRule, ...] = ()
    on_no_reply: tuple[Action, ...] = ()
    max_segments: int | None = Field(None, ge=1)

    @field_validator("after")
    @classmethod
    def _one_timing(cls, after: After | None, info: ValidationInfo) -> After | None:
        if after is not None and info.data.get("at") is not None:
            raise ValueError("a step has either 'at' or 'after', not both")
        return after

    @property
    def goto_only(self) -> bool:
        """A step with no timing of its own runs only when a ``goto`` reaches it."""
        return self.at is None and self.after is None


class NotifyTarget(Model):
    """Who hears of an escalation: a webhook, staff phones, or both."""

    webhook: AnyHttpUrl | None = None
    phones: tuple[E164, ...] = ()

    @model_validator(mode="after")
    def _someone(self) -> NotifyTarget:
        if self.webhook is None and not self.phones:
            raise ValueError("a notify target needs a 'webhook' or 'phones'")
        return self


class Sequence(Model):
    """A versioned drip sequence: anchor, steps, send window and reply rules."""

    key: Key
    name: str = Field(min_length=1)
    description: str = ""
    anchor: str = "enrolled_at"
    timezone: ZoneName | None = None
    send_window: SendWindow = SendWindow()
    max_delay: Duration = timedelta(hours=2)
    catch_up: bool = Field(False, strict=True)
    """At enrollment, send the most recent step already past its latest send time now."""
    max_segments: int | None = Field(None, ge=1)
    messaging_service_sid: ServiceSid | None = None
    attributes: dict[AttributeName, Attribute] = Field(default_factory=dict)
    notify: dict[Identifier, NotifyTarget] = Field(default_factory=dict)
    steps: tuple[Step, ...] = Field(min_length=1)

    def step(self, step_id: str) -> Step:
        """The step with this id (``KeyError`` if there is none)."""
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)
