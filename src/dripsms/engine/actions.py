"""A rule's actions (send, set, notify, goto, exit), run in the caller's transaction, and
what follows a reply: conditions checked again, waiting steps released, an enrollment
completed when nothing is left."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from dripsms.core.attributes import attributes_to_json, coerce, to_json
from dripsms.core.sequence.dependencies import waits_for
from dripsms.core.sequence.model import Action, Sequence
from dripsms.core.states import EnrollmentState, MessageKind, MessageState
from dripsms.core.templates import evaluate, render
from dripsms.engine.alerts import Alert, alert_payload, alert_text
from dripsms.engine.library import SequenceLibrary
from dripsms.engine.preparation import settled
from dripsms.engine.stopping import end_enrollment
from dripsms.errors import InvariantBroken, TemplateError
from dripsms.store import conversations as store
from dripsms.store import enrollments as stored_enrollments
from dripsms.store import messages as stored_messages
from dripsms.store import outbox
from dripsms.store.alerts import record_alert
from dripsms.store.events import event_row, record
from dripsms.store.notifications import queue_notification
from dripsms.store.replies import Question, finished_enrollments

log = logging.getLogger(__name__)
S = MessageState


@dataclass(frozen=True, slots=True)
class Trigger:
    """What set a rule off: a reply, a window that closed unanswered, or reprompts run out."""

    tag: str
    """Unique per trigger: a reply's SID, or ``noreply``."""
    phone: str
    body: str | None
    now: datetime
    reason: str = "reply"
    """``reply`` (a rule matched), ``no_reply`` (the window closed) or ``gave_up``."""
    rule: str | None = None
    """The ``if`` of the rule that matched, when there was one."""
    tries: int = 0
    """Unreadable answers before giving up."""


@dataclass(frozen=True, slots=True)
class Send:
    """Text the contact (rendered from a template)."""

    template: str


@dataclass(frozen=True, slots=True)
class SetAttributes:
    """Set enrollment attributes (coerced to the sequence's declared types)."""

    values: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Notify:
    """Alert a notify target: its webhook and its staff phones."""

    target: str
    message: str | None


@dataclass(frozen=True, slots=True)
class Goto:
    """Jump to a later step: send it now, skip those in between."""

    step: str


@dataclass(frozen=True, slots=True)
class Exit:
    """End the enrollment (``exited``)."""


RuleAction = Send | SetAttributes | Notify | Goto | Exit
"""One action of a rule, typed."""


def typed(action: Action) -> RuleAction:
    """The sequence model's action as a :data:`RuleAction`."""
    kind = action.kind
    if kind == "send":
        return Send(action.send or "")
    if kind == "set":
        return SetAttributes(action.set_ or {})
    if kind == "notify":
        return Notify(action.notify or "", action.message)
    if kind == "goto":
        return Goto(action.goto or "")
    if kind == "exit":
        return Exit()
    raise InvariantBroken(f"unknown action kind {kind!r}")


class ActionRunner:
    """Runs a rule's actions in the caller's transaction.

    ``send`` texts are collected as answers when ``answer`` (the caller delivers them:
    TwiML, or the outbox for a recovered reply); otherwise they go to the outbox at once.
    """

    def __init__(
        self,
        library: SequenceLibrary,
        connection: Connection,
        question: Question,
        context: dict[str, Any],
        trigger: Trigger,
        *,
        answer: bool,
        public_url: str,
    ) -> None:
        self.library = library
        self.public_url = public_url
        self.connection = connection
        self.question = question
        self.context = context
        self.trigger = trigger
        self.answer = answer
        self.now = trigger.now
        self.answers: list[str] = []

    def run(self, actions: tuple[Action, ...]) -> list[str]:
        """Every action in order; stops after ``exit``."""
        for action in actions:
            match typed(action):
                case Send(template):
                    self._send(template)
                case SetAttributes(values):
                    self._set(values)
                case Notify(target, message):
                    self._notify(target, message)
                case Goto(step):
                    self._goto(step)
                case Exit():
                    end_enrollment(
                        self.connection, self.question.enrollment_id, self.now,
                        state=EnrollmentState.EXITED, cause="rule_exit",
                    )  # fmt: skip
                    return self.answers
        recheck_conditions(
            self.connection, self.library, self.question.enrollment_id, self.context, self.now,
            sequence=self.question.sequence,
        )  # fmt: skip
        return self.answers

    def _send(self, template: str) -> None:
        try:
            text = render(template, self.context)
        except TemplateError as exc:
            log.warning("send action cannot render: %s", exc, extra={"action": "rule"})
            return
        if not self.answer:
            enqueue_text(
                self.connection, self.question.enrollment_id,
                f"{self.question.step.id}#{self.trigger.tag}#{len(self.answers)}", text,
                self.now,
            )  # fmt: skip
        self.answers.append(text)

    def _set(self, values: dict[str, Any]) -> None:
        sequence = self.question.sequence
        coerced = {
            name: coerce(sequence.attributes[name].type, value, sequence.attributes[name].values)
            for name, value in values.items()
        }
        enrollment_id = self.question.enrollment_id
        current = store.enrollment_attributes(self.connection, enrollment_id)
        store.set_enrollment_attributes(
            self.connection, enrollment_id, {**current, **attributes_to_json(coerced)}
        )
        self.context.update(coerced)

    def _alert(self, target_name: str) -> Alert:
        trigger = self.trigger
        return Alert(
            target=target_name,
            sequence=self.question.sequence,
            step_id=self.question.step.id,
            enrollment_id=self.question.enrollment_id,
            contact_id=self.question.contact_id,
            phone=trigger.phone,
            answer=trigger.body,
            value=self.context.get("reply"),
            reason=trigger.reason,
            rule=trigger.rule,
            tries=trigger.tries,
            window=self.question.window,
            at=self.now,
            tag=trigger.tag,
            public_url=self.public_url,
        )

    def _notify(self, target_name: str, message: str | None) -> None:
        target = self.question.sequence.notify[target_name]
        alert = self._alert(target_name)
        text = alert_text(alert, self.context, message)
        enrollment_id = self.question.enrollment_id
        # Kept whatever the channels: the console's inbox lists it for the care team.
        record_alert(
            self.connection, at=self.now, contact_id=alert.contact_id,
            enrollment_id=enrollment_id, step_id=alert.step_id, target=target_name,
            reason=alert.reason, rule=alert.rule, answer=alert.answer,
            value=to_json(alert.value),
        )  # fmt: skip
        if target.webhook is not None:
            queue_notification(
                self.connection, enrollment_id, target_name, str(target.webhook),
                alert_payload(alert, text), self.now,
            )  # fmt: skip
        for index, phone in enumerate(target.phones):
            store.add_text(
                self.connection, enrollment_id,
                f"{self.question.step.id}#{self.trigger.tag}#staff{index}", text, self.now,
                kind=MessageKind.STAFF, to_phone=phone,
            )  # fmt: skip

    def _goto(self, target: str) -> None:
        enrollment_id = self.question.enrollment_id
        order = [s.id for s in self.question.sequence.steps]
        start, end = order.index(self.question.step.id), order.index(target)
        skipped = order[start + 1 : end] if end > start else []
        events: list[dict[str, Any]] = []
        steps = [*skipped, target]
        for row in stored_messages.all_of_enrollment(
            self.connection, enrollment_id, step_ids=steps
        ):
            if row.step_id != target:
                _stop_one(self.connection, row.id, row.state, self.now, "goto", events)
            elif row.state in (S.BLOCKED, S.PLANNED):
                stored_messages.replan(
                    self.connection, row.id, current=row.state, state=S.PLANNED,
                    due_at=self.now, now=self.now, clear_retry=True,
                )  # fmt: skip
                events.append(event_row(
                    self.now, "message", "goto", message_id=row.id,
                    enrollment_id=enrollment_id, from_state=row.state.value,
                    to_state=S.PLANNED.value,
                ))  # fmt: skip
        record(self.connection, events)


def enqueue_text(
    connection: Connection, enrollment_id: int, tag: str, body: str, now: datetime
) -> None:
    """A text for the dispatcher to send at once to the enrollment's contact."""
    store.add_text(connection, enrollment_id, tag, body, now)


def _stop_one(
    connection: Connection,
    message_id: int,
    state: MessageState,
    now: datetime,
    cause: str,
    events: list[dict[str, Any]],
) -> None:
    """Skip a message not handed off; ask the dispatcher to cancel one Twilio holds."""
    if state in (S.PLANNED, S.BLOCKED):
        store.skip_unsent(connection, message_id, state, now)
        events.append(event_row(now, "message", cause, message_id=message_id,
                                from_state=state.value, to_state=S.SKIPPED.value))  # fmt: skip
    elif state is S.SCHEDULED:
        store.request_cancel(connection, message_id, now)
        events.append(event_row(now, "message", f"{cause}_cancel_requested", message_id=message_id))


def _pinned_of(connection: Connection, library: SequenceLibrary, enrollment_id: int) -> Any:
    digest, text, key = store.pinned_version_of(connection, enrollment_id)
    return library.pinned(digest, text, key).sequence


def recheck_conditions(
    connection: Connection,
    library: SequenceLibrary,
    enrollment_id: int,
    context: dict[str, Any],
    now: datetime,
    *,
    sequence: Sequence | None = None,
) -> None:
    """A reply may turn a later step's condition false: skip it, or cancel it at Twilio.

    ``sequence``: the enrollment's pinned sequence, when the caller has it (else read)."""
    if sequence is None:
        sequence = _pinned_of(connection, library, enrollment_id)
    if not any(step.when is not None for step in sequence.steps):
        return  # no condition to recheck: nothing to read
    events: list[dict[str, Any]] = []
    for row in store.pending_steps(connection, enrollment_id):
        step = sequence.step(row.step_id)
        if step.when is None:
            continue
        try:
            still = evaluate(step.when, {**context, "step": {"id": step.id}})
        except TemplateError:
            continue  # undecidable now: it is decided again at handoff
        if not still:
            _stop_one(connection, row.id, row.state, now, "condition_false", events)
    record(connection, events)


def release_waiting(
    connection: Connection, library: SequenceLibrary, enrollment_id: int, now: datetime
) -> int:
    """Plan the enrollment's blocked messages whose awaited replies are settled; how many.

    The dispatcher does the same on its next pass; this is for a question closed early
    (reprompts ran out), so the steps waiting on it go at once.
    """
    blocked = [
        (row.id, row.step_id)
        for row in stored_messages.steps_of_enrollment(
            connection, enrollment_id, states=[S.BLOCKED]
        )
        if row.due_at is not None  # reachable by time, not only by a goto
    ]
    if not blocked:
        return 0
    sequence = _pinned_of(connection, library, enrollment_id)
    rows = outbox.steps_of(connection, [enrollment_id])[enrollment_id]
    known = outbox.replies_of(connection, [enrollment_id])[enrollment_id]
    released = 0
    for message_id, step_id in blocked:
        awaited = waits_for(sequence, sequence.step(step_id))
        if all(settled(sequence, x, rows.get(x), x in known, now) for x in awaited):
            released += outbox.move(
                connection, message_id, fence=None, source=S.BLOCKED, target=S.PLANNED,
                now=now, cause="replies_settled",
            )  # fmt: skip
    return released


def complete_finished(connection: Connection, enrollment_ids: list[int], now: datetime) -> int:
    """End as ``completed`` those of these enrollments with nothing left to do; how many.

    Steps only a ``goto`` could reach (blocked, no due time) are skipped: nothing can
    reach them any more. Nothing else is touched (no cancel request: nothing is held).
    A fixed number of statements, however many enrollments end (a batch of answers may
    complete hundreds).
    """
    finished = finished_enrollments(connection, enrollment_ids, at=now)
    ended = stored_enrollments.end_many(
        connection, finished, state=EnrollmentState.COMPLETED, reason="finished", now=now
    )
    if not ended:
        return 0
    skipped: dict[int, list[int]] = {enrollment_id: [] for enrollment_id in ended}
    for row in stored_messages.stop_unsent(
        connection, list(ended), S.SKIPPED, now, states=[S.BLOCKED]
    ):
        skipped[row.enrollment_id].append(row.id)
    rows: list[dict[str, Any]] = []
    for enrollment_id in sorted(ended):
        rows.append(
            event_row(
                now, "enrollment", "finished", enrollment_id=enrollment_id,
                contact_id=ended[enrollment_id], from_state=EnrollmentState.ACTIVE.value,
                to_state=EnrollmentState.COMPLETED.value,
            )
        )  # fmt: skip
        rows.extend(
            event_row(
                now, "message", "finished", message_id=message_id,
                enrollment_id=enrollment_id, from_state=S.BLOCKED.value,
                to_state=S.SKIPPED.value,
            )
            for message_id in sorted(skipped[enrollment_id])
        )  # fmt: skip
        log.info(
            "enrollment completed",
            extra={"action": "enrollment_completed", "enrollment_id": enrollment_id},
        )
    record(connection, rows)
    return len(ended)
