"""A rule's actions (send, set, notify, goto, exit), run in the caller's transaction, and
what follows a reply: conditions checked again, waiting steps released, an enrollment
completed when nothing is left."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from dripsms.core.attributes import attributes_to_json, coerce
from dripsms.core.sequence.dependencies import waits_for
from dripsms.core.sequence.model import Action
from dripsms.core.states import MessageState
from dripsms.core.templates import evaluate, render
from dripsms.engine.alerts import Alert, alert_payload, alert_text
from dripsms.engine.library import SequenceLibrary
from dripsms.engine.preparation import settled
from dripsms.engine.stopping import end_enrollment
from dripsms.errors import TemplateError
from dripsms.store import outbox
from dripsms.store.events import event_row, record
from dripsms.store.replies import Question, finished_enrollments
from dripsms.store.tables import enrollments, messages, notifications, sequence_versions

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
    ) -> None:
        self.library = library
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
            kind = action.kind
            if kind == "send":
                self._send(action.send or "")
            elif kind == "set":
                self._set(action.set_ or {})
            elif kind == "notify":
                self._notify(action.notify or "", action.message)
            elif kind == "goto":
                self._goto(action.goto or "")
            elif kind == "exit":
                end_enrollment(
                    self.connection, self.question.enrollment_id, self.now,
                    state="exited", cause="rule_exit",
                )  # fmt: skip
                return self.answers
        recheck_conditions(
            self.connection, self.library, self.question.enrollment_id, self.context, self.now
        )
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
        typed = {
            name: coerce(sequence.attributes[name].type, value, sequence.attributes[name].values)
            for name, value in values.items()
        }
        e = enrollments.c
        current = self.connection.execute(
            select(e.attributes).where(e.id == self.question.enrollment_id)
        ).scalar_one()
        self.connection.execute(
            update(enrollments)
            .where(e.id == self.question.enrollment_id)
            .values(attributes={**dict(current), **attributes_to_json(typed)})
        )
        self.context.update(typed)

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
        )

    def _notify(self, target_name: str, message: str | None) -> None:
        target = self.question.sequence.notify[target_name]
        alert = self._alert(target_name)
        text = alert_text(alert, self.context, message)
        if target.webhook is not None:
            self.connection.execute(
                insert(notifications).values(
                    enrollment_id=self.question.enrollment_id, target=target_name,
                    url=str(target.webhook), payload=alert_payload(alert, text),
                    state="pending", next_attempt_at=self.now, created_at=self.now,
                )
            )  # fmt: skip
        for index, phone in enumerate(target.phones):
            self.connection.execute(
                insert(messages).values(
                    enrollment_id=self.question.enrollment_id,
                    step_id=f"{self.question.step.id}#{self.trigger.tag}#staff{index}"[:64],
                    state=S.PLANNED.value, due_at=self.now, body=text, kind="staff",
                    to_phone=phone, updated_at=self.now,
                )
            )  # fmt: skip

    def _goto(self, target: str) -> None:
        m = messages.c
        enrollment_id = self.question.enrollment_id
        order = [s.id for s in self.question.sequence.steps]
        start, end = order.index(self.question.step.id), order.index(target)
        skipped = order[start + 1 : end] if end > start else []
        rows = self.connection.execute(
            select(m.id, m.step_id, m.state).where(
                m.enrollment_id == enrollment_id, m.step_id.in_([*skipped, target])
            )
        ).all()
        events = []
        for row in rows:
            if row.step_id == target:
                if S(row.state) in (S.BLOCKED, S.PLANNED):
                    self.connection.execute(
                        update(messages).where(m.id == row.id).values(
                            state=S.PLANNED.value, due_at=self.now, next_attempt_at=None,
                            updated_at=self.now,
                        )
                    )  # fmt: skip
                    events.append(event_row(
                        self.now, "message", "goto", message_id=row.id,
                        enrollment_id=enrollment_id, from_state=row.state,
                        to_state=S.PLANNED.value,
                    ))  # fmt: skip
            else:
                _stop_one(self.connection, row.id, S(row.state), self.now, "goto", events)
        record(self.connection, events)


def enqueue_text(
    connection: Connection, enrollment_id: int, tag: str, body: str, now: datetime
) -> None:
    """A text for the dispatcher to send at once to the enrollment's contact."""
    connection.execute(
        insert(messages).values(
            enrollment_id=enrollment_id, step_id=tag[:64], state=S.PLANNED.value, due_at=now,
            body=body, kind="text", updated_at=now,
        )
    )  # fmt: skip


def _stop_one(
    connection: Connection,
    message_id: int,
    state: MessageState,
    now: datetime,
    cause: str,
    events: list[dict[str, Any]],
) -> None:
    """Skip a message not handed off; ask the dispatcher to cancel one Twilio holds."""
    m = messages.c
    if state in (S.PLANNED, S.BLOCKED):
        connection.execute(
            update(messages)
            .where(m.id == message_id, m.state == state.value)
            .values(state=S.SKIPPED.value, updated_at=now)
        )
        events.append(event_row(now, "message", cause, message_id=message_id,
                                from_state=state.value, to_state=S.SKIPPED.value))  # fmt: skip
    elif state is S.SCHEDULED:
        connection.execute(
            update(messages)
            .where(m.id == message_id, m.cancel_requested_at.is_(None))
            .values(cancel_requested_at=now)
        )
        events.append(event_row(now, "message", f"{cause}_cancel_requested", message_id=message_id))


def _pinned_of(connection: Connection, library: SequenceLibrary, enrollment_id: int) -> Any:
    e, v = enrollments.c, sequence_versions.c
    version = connection.execute(
        select(v.key, v.digest, v.text)
        .join(enrollments, e.sequence_version_id == v.id)
        .where(e.id == enrollment_id)
    ).one()
    return library.pinned(version.digest, version.text, version.key).sequence


def recheck_conditions(
    connection: Connection,
    library: SequenceLibrary,
    enrollment_id: int,
    context: dict[str, Any],
    now: datetime,
) -> None:
    """A reply may turn a later step's condition false: skip it, or cancel it at Twilio."""
    m = messages.c
    sequence = _pinned_of(connection, library, enrollment_id)
    rows = connection.execute(
        select(m.id, m.step_id, m.state).where(
            m.enrollment_id == enrollment_id,
            m.kind == "step",
            m.state.in_([S.PLANNED.value, S.SCHEDULED.value]),
        )
    ).all()
    events: list[dict[str, Any]] = []
    for row in rows:
        step = sequence.step(row.step_id)
        if step.when is None:
            continue
        try:
            still = evaluate(step.when, {**context, "step": {"id": step.id}})
        except TemplateError:
            continue  # undecidable now: it is decided again at handoff
        if not still:
            _stop_one(connection, row.id, S(row.state), now, "condition_false", events)
    record(connection, events)


def release_waiting(
    connection: Connection, library: SequenceLibrary, enrollment_id: int, now: datetime
) -> int:
    """Plan the enrollment's blocked messages whose awaited replies are settled; how many.

    The dispatcher does the same on its next pass; this is for a question closed early
    (reprompts ran out), so the steps waiting on it go at once.
    """
    m = messages.c
    sequence = _pinned_of(connection, library, enrollment_id)
    blocked = connection.execute(
        select(m.id, m.step_id).where(
            m.enrollment_id == enrollment_id,
            m.state == S.BLOCKED.value,
            m.due_at.is_not(None),
            m.kind == "step",
        )
    ).all()
    if not blocked:
        return 0
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
    """
    e, m = enrollments.c, messages.c
    done = 0
    for enrollment_id in finished_enrollments(connection, enrollment_ids, at=now):
        ended = connection.execute(
            update(enrollments)
            .where(e.id == enrollment_id, e.state == "active")
            .values(state="completed", ended_at=now, end_reason="finished")
            .returning(e.contact_id)
        ).first()
        if ended is None:
            continue
        skipped = connection.execute(
            update(messages)
            .where(m.enrollment_id == enrollment_id, m.state == S.BLOCKED.value)
            .values(state=S.SKIPPED.value, updated_at=now)
            .returning(m.id)
        ).all()
        record(
            connection,
            [
                event_row(
                    now, "enrollment", "finished", enrollment_id=enrollment_id,
                    contact_id=ended.contact_id, from_state="active", to_state="completed",
                ),
                *(
                    event_row(
                        now, "message", "finished", message_id=row.id,
                        enrollment_id=enrollment_id, from_state=S.BLOCKED.value,
                        to_state=S.SKIPPED.value,
                    )
                    for row in skipped
                ),
            ],
        )  # fmt: skip
        done += 1
        log.info(
            "enrollment completed",
            extra={"action": "enrollment_completed", "enrollment_id": enrollment_id},
        )
    return done
