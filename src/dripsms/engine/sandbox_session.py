"""Sandbox mode's controls: one virtual clock for the engine, the web app and the sandbox,
moved forward on demand, and a phone of the sandbox texting dripsms.

``dripsms run`` (no Twilio credentials) builds a :class:`SandboxSession` and hands it to
the web app (the ``/v1/sandbox/*`` routes, the console's sandbox page) and the CLI's
``dripsms clock``/``dripsms sandbox reply`` talk to those routes. With real Twilio there is
no session and no route.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine

from dripsms.clock import VirtualClock, iso_instant
from dripsms.core.phones import normalize_phone
from dripsms.errors import InvalidInput, NotFound
from dripsms.store import virtual_clock as positions

if TYPE_CHECKING:
    from dripsms.sandbox import Sandbox
    from dripsms.sandbox.message import Message

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_STOPS = 10_000
"""Due times a single move stops at, at most (a year of a busy clinic's days)."""


@dataclass(frozen=True, slots=True)
class Start:
    """Where the virtual clock starts, and why."""

    at: datetime
    resumed: bool
    """The saved position of an earlier run was later than the asked-for start."""


def start_position(asked: datetime, saved: datetime | None) -> Start:
    """Start at ``asked`` (``DRIPSMS_NOW`` or the machine's time), never before ``saved``."""
    if saved is not None and saved > asked:
        return Start(saved, resumed=True)
    return Start(asked, resumed=False)


@dataclass(frozen=True, slots=True)
class ClockMove:
    """A move of the virtual clock."""

    before: datetime
    now: datetime
    next_due: datetime | None

    def as_json(self) -> dict[str, Any]:
        """For the API and ``--json``."""
        return {
            "previous": iso_instant(self.before),
            "now": iso_instant(self.now),
            "moved_seconds": round((self.now - self.before).total_seconds(), 3),
            "next_due": iso_instant(self.next_due),
        }


@dataclass(frozen=True, slots=True)
class ReplySent:
    """A phone's text and what dripsms answered."""

    phone: str
    sid: str
    webhook_status: int | None
    error_code: int | None
    answers: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        """For the API and ``--json``."""
        return {
            "phone": self.phone,
            "message_sid": self.sid,
            "webhook_status": self.webhook_status,
            "error_code": self.error_code,
            "answers": list(self.answers),
        }


@dataclass
class SandboxSession:
    """The virtual clock and the sandbox of one ``dripsms run``, and the token its controls
    take (fresh per run, written to the run file)."""

    clock: VirtualClock
    sandbox: Sandbox
    engine: Engine
    token: str
    default_region: str = "US"
    wake: threading.Event = field(default_factory=threading.Event)
    """Set on every move: the dispatcher runs a pass at once."""
    settle_timeout: float = 30.0
    """Seconds a move waits for the dispatcher's pass before going on without it."""
    _passes: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _started: int = 0
    _finished: int = 0
    _dispatching: bool = False

    def __post_init__(self) -> None:
        # The order matters: the sandbox releases what is due (its callbacks go out), then
        # the dispatcher wakes at the new time; the position is saved for a restart.
        self.clock.on_move(self.sandbox.advance_to)
        self.clock.on_move(lambda _: self.wake.set())
        self.clock.on_move(self.save)

    def save(self, position: datetime | None = None) -> None:
        """Save the clock's position (a restart resumes no earlier)."""
        positions.save(self.engine, position or self.clock())

    def next_due(self) -> datetime | None:
        """When the next message still to go out is due."""
        return positions.next_due(self.engine, self.clock())

    def status(self) -> dict[str, Any]:
        """The clock now, and the next due message."""
        return {"now": iso_instant(self.clock()), "next_due": iso_instant(self.next_due())}

    # -- the dispatcher's passes, so that a move is walked as time would pass -------------

    def dispatching(self, tick: Callable[[datetime], T]) -> Callable[[datetime], T]:
        """``tick`` (the dispatcher's pass of this run) counted, so that moves can wait for
        a pass at each instant they stop at."""
        self._dispatching = True

        def counted(now: datetime) -> T:
            with self._passes:
                self._started += 1
            try:
                return tick(now)
            finally:
                with self._passes:
                    self._finished += 1
                    self._passes.notify_all()

        return counted

    def settle(self) -> None:
        """Wake the dispatcher and wait until a pass that started after this call has ended
        (nothing to wait for when no dispatcher runs here, as in ``dripsms demo``)."""
        if not self._dispatching:
            return
        with self._passes:
            target = self._started + 1
        self.wake.set()
        with self._passes:
            if not self._passes.wait_for(lambda: self._finished >= target, self.settle_timeout):
                log.warning("the dispatcher did not finish a pass in time; the clock moves on",
                            extra={"action": "clock_settle_timeout"})  # fmt: skip

    def _walk_to(self, target: datetime) -> None:
        """Move to ``target`` as time would pass: a pass now (what is due goes out now, not
        late), then a stop and a pass at each due time on the way; never one jump over
        texts that would then be handed off past their latest send time."""
        self.settle()
        for _ in range(MAX_STOPS):
            stop = positions.next_due(self.engine, self.clock(), blocked_too=True)
            if stop is None or stop >= target:
                break
            self.clock.advance_to(max(stop, self.clock()))
            self.settle()
        self.clock.advance_to(max(target, self.clock()))
        self.settle()
        self.settle()  # what the last pass wrote (a no-reply alert) goes out too

    def advance(self, step: timedelta) -> ClockMove:
        """Move the clock forward by ``step`` (at most a year), stopping at each due text."""
        if step <= timedelta(0) or step > timedelta(days=366):
            raise InvalidInput("advance: give a duration from 1s to 366d, e.g. 30m, 1h, 1d, 2d12h")
        before = self.clock()
        self._walk_to(before + step)
        return self._moved(before, self.clock())

    def to_next_due(self) -> ClockMove:
        """Move the clock to the next due message."""
        self.settle()  # what is due now is not "next"
        due = self.next_due()
        if due is None:
            raise NotFound("no message is waiting to go out: nothing to move the clock to")
        before = self.clock()
        self._walk_to(max(due, before))
        return self._moved(before, self.clock())

    def reply(self, phone: str, text: str) -> ReplySent:
        """The phone texts ``text``: Twilio's signed inbound webhook reaches dripsms."""
        number = normalize_phone(phone, self.default_region)
        if not text.strip():
            raise InvalidInput("text: a text needs at least one character")
        if len(text) > 1600:
            raise InvalidInput("text: at most 1600 characters")
        message = self.sandbox.receive(number, text)
        delivery = self.sandbox.inbound_delivery(message.sid)
        self.sandbox.process()  # the TwiML answers go out now, not at the next tick
        self.settle()  # and what it caused (an alert, a cancel at Twilio), as time would have
        answers = tuple(m.body for m in delivery.replies)
        if delivery.keyword_reply is not None:
            answers += (delivery.keyword_reply.body,)
        return ReplySent(number, message.sid, delivery.status_code, delivery.error_code, answers)

    def screen(self, phone: str) -> list[Message]:
        """What the phone sent and received, oldest first."""
        return self.sandbox.conversation(normalize_phone(phone, self.default_region))

    def _moved(self, before: datetime, now: datetime) -> ClockMove:
        log.info(
            "virtual clock moved", extra={"action": "clock_moved", "now": iso_instant(now),
                                          "seconds": round((now - before).total_seconds())},
        )  # fmt: skip
        return ClockMove(before, now, self.next_due())
