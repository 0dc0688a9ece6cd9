"""Inbound texts: opt-out and help keywords, matching a reply to its step, parsing it,
and running the step's rules.

A reply from phone P is tied to the step of P's active enrollments that expects a reply
and whose reply window is open when the reply arrives; with several open, the most
recently sent wins. A reply after the window is *late* (kept, no rules unless the step
says ``accept_late``); a reply with no window at all is *unmatched*.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, func, insert, select, update

from dripsms.core.attributes import attributes_to_json, coerce
from dripsms.core.context import template_context, typed_attributes
from dripsms.core.replies import (
    Keyword,
    parse_reply,
    reprompt_decision,
    resolve_keyword,
    sounds_like_opt_out,
)
from dripsms.core.sequence.model import Action, Sequence, Step, TextReply, YesNoReply
from dripsms.core.states import AT_PROVIDER, MessageState
from dripsms.core.templates import evaluate, render
from dripsms.engine.library import SequenceLibrary
from dripsms.engine.stopping import end_enrollment, opt_out_contact
from dripsms.errors import TemplateError
from dripsms.store.events import event_row, record
from dripsms.store.tables import (
    contacts,
    enrollments,
    messages,
    notifications,
    replies,
    sequence_versions,
)

log = logging.getLogger(__name__)
S = MessageState
SENT_OR_HELD = frozenset({*AT_PROVIDER, S.DELIVERED})
REVIEW_OPT_OUT = "possible opt-out: review"


@dataclass(frozen=True, slots=True)
class Inbound:
    """One inbound text, as Twilio's webhook (or its message list) gives it."""

    message_sid: str
    from_phone: str
    body: str
    received_at: datetime
    to: str = ""
    opt_out_type: str | None = None


@dataclass(slots=True)
class InboundResult:
    """What dripsms did with a text, and the texts to answer with at once (TwiML)."""

    kind: str
    answers: list[str] = field(default_factory=list)
    enrollment_id: int | None = None
    step_id: str | None = None
    value: Any = None
    reason: str | None = None
    """Why an answer was invalid, or that a person should review it (a possible opt-out)."""


@dataclass(frozen=True, slots=True)
class ConversationConfig:
    """How inbound texts are answered (from the settings)."""

    advanced_opt_out: bool = True
    help_text: str = "Reply STOP to stop these messages."
    opt_out_text: str = "You will get no more messages from us. Reply START to resubscribe."
    opt_in_text: str = "You are subscribed again. Reply STOP to stop."
    free_text_opt_out: bool = False
    max_reprompts: int = 2
    unmatched_reply: str | None = None
    notify_url_secret: str = ""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A sent question of the contact's, and when its reply window opened."""

    message_id: int
    enrollment_id: int
    step: Step
    sequence: Sequence
    opened_at: datetime

    def closes_at(self) -> datetime:
        assert self.step.expect_reply is not None
        return self.opened_at + self.step.expect_reply.window


class Conversations:
    """Turns inbound texts into stored replies, rule actions and immediate answers."""

    def __init__(
        self, engine: Engine, library: SequenceLibrary, config: ConversationConfig
    ) -> None:
        self.engine = engine
        self.library = library
        self.config = config
        self._immediate = True

    def receive(self, inbound: Inbound, *, immediate: bool = True) -> InboundResult:
        """Handle one inbound text, once: a repeated ``MessageSid`` does nothing.

        ``immediate``: the caller answers with TwiML (the webhook). Otherwise (a reply
        recovered from Twilio's list) answers to an enrolled contact go to the outbox.
        """
        self._immediate = immediate
        with self.engine.begin() as connection:
            seen = connection.execute(
                select(replies.c.kind).where(replies.c.message_sid == inbound.message_sid)
            ).first()
            if seen is not None:
                return InboundResult("duplicate")
            result = self._receive(connection, inbound)
            if not immediate and result.enrollment_id is not None and result.kind != "matched":
                for n, text in enumerate(result.answers):
                    enqueue_text(
                        connection, result.enrollment_id,
                        f"{result.step_id}#{inbound.message_sid}#a{n}", text,
                        inbound.received_at,
                    )  # fmt: skip
            connection.execute(
                insert(replies).values(
                    message_sid=inbound.message_sid,
                    contact_id=self._contact_id(connection, inbound.from_phone),
                    enrollment_id=result.enrollment_id,
                    step_id=result.step_id,
                    kind=result.kind,
                    body=inbound.body,
                    value=result.value,
                    received_at=inbound.received_at,
                    from_phone=inbound.from_phone,
                    reason=result.reason,
                )
            )
        log.info(
            "inbound text",
            extra={"action": "inbound", "kind": result.kind, "enrollment_id": result.enrollment_id,
                   "step": result.step_id},
        )  # fmt: skip
        return result

    # -- keywords -------------------------------------------------------------------------

    def _receive(self, connection: Connection, inbound: Inbound) -> InboundResult:
        candidates = self._candidates(connection, inbound.from_phone)
        open_ = [c for c in candidates if c.opened_at <= inbound.received_at < c.closes_at()]
        open_.sort(key=lambda c: c.opened_at, reverse=True)
        yes_no = bool(open_) and isinstance(open_[0].step.expect_reply, YesNoReply)
        word = _keyword(inbound, awaiting_yes_no=yes_no)
        if word is Keyword.OPT_OUT:
            return self._opt_out(connection, inbound)
        if word is Keyword.OPT_IN:
            return self._opt_in(connection, inbound)
        if word is Keyword.HELP:
            answers = [] if self.config.advanced_opt_out else [self.config.help_text]
            return InboundResult("help", answers)
        if open_:
            return self._answer(connection, inbound, open_[0], late=False)
        closed = [c for c in candidates if c.closes_at() <= inbound.received_at]
        if closed:
            latest = max(closed, key=lambda c: c.opened_at)
            return self._answer(connection, inbound, latest, late=True)
        if sounds_like_opt_out(inbound.body):
            return self._possible_opt_out(connection, inbound, InboundResult("unmatched"))
        answers = [self.config.unmatched_reply] if self.config.unmatched_reply else []
        return InboundResult("unmatched", answers)

    def _contact_id(self, connection: Connection, phone: str) -> int | None:
        found = connection.execute(select(contacts.c.id).where(contacts.c.phone == phone)).scalar()
        return int(found) if found is not None else None

    def _opt_out(self, connection: Connection, inbound: Inbound) -> InboundResult:
        contact_id = self._contact_id(connection, inbound.from_phone)
        if contact_id is None:  # remember a STOP even from a number we never texted
            contact_id = int(
                connection.execute(
                    insert(contacts)
                    .values(
                        phone=inbound.from_phone, attributes={}, created_at=inbound.received_at,
                        updated_at=inbound.received_at,
                    )
                    .returning(contacts.c.id)
                ).scalar_one()
            )  # fmt: skip
        opt_out_contact(connection, contact_id, inbound.received_at, cause="stop")
        answers = [] if self.config.advanced_opt_out else [self.config.opt_out_text]
        return InboundResult("opt_out", answers)

    def _opt_in(self, connection: Connection, inbound: Inbound) -> InboundResult:
        contact_id = self._contact_id(connection, inbound.from_phone)
        if contact_id is not None:
            connection.execute(
                update(contacts)
                .where(contacts.c.id == contact_id)
                .values(opted_out_at=None, updated_at=inbound.received_at)
            )
            record(
                connection,
                [event_row(inbound.received_at, "contact", "start", contact_id=contact_id,
                           from_state="opted_out", to_state="subscribed")],
            )  # fmt: skip
        answers = [] if self.config.advanced_opt_out else [self.config.opt_in_text]
        return InboundResult("opt_in", answers)

    def _possible_opt_out(
        self, connection: Connection, inbound: Inbound, result: InboundResult
    ) -> InboundResult:
        if self.config.free_text_opt_out:
            return self._opt_out(connection, inbound)
        result.reason = REVIEW_OPT_OUT
        return result

    # -- matching -------------------------------------------------------------------------

    def _candidates(self, connection: Connection, phone: str) -> list[Candidate]:
        m, e, c, v = messages.c, enrollments.c, contacts.c, sequence_versions.c
        rows = connection.execute(
            select(
                m.id,
                m.step_id,
                m.due_at,
                m.sent_at,
                m.attempt_started_at,
                e.id.label("eid"),
                v.key,
                v.digest,
                v.text,
            )
            .join(enrollments, e.id == m.enrollment_id)
            .join(contacts, c.id == e.contact_id)
            .join(sequence_versions, v.id == e.sequence_version_id)
            .where(
                c.phone == phone,
                e.state == "active",
                m.kind == "step",
                m.state.in_([s.value for s in SENT_OR_HELD]),
            )
        ).all()
        found = []
        for row in rows:
            sequence = self.library.pinned(row.digest, row.text, row.key).sequence
            step = sequence.step(row.step_id)
            if step.expect_reply is None:
                continue
            opened = row.sent_at or max(t for t in (row.due_at, row.attempt_started_at) if t)
            found.append(Candidate(row.id, row.eid, step, sequence, opened))
        return found

    # -- answers and rules ----------------------------------------------------------------

    def _answer(
        self, connection: Connection, inbound: Inbound, candidate: Candidate, *, late: bool
    ) -> InboundResult:
        step = candidate.step
        assert step.expect_reply is not None
        parsed = parse_reply(step.expect_reply, inbound.body)
        base = InboundResult(
            "late" if late else "matched", enrollment_id=candidate.enrollment_id, step_id=step.id
        )
        if sounds_like_opt_out(inbound.body) and (
            not parsed.valid or isinstance(step.expect_reply, TextReply)
        ):
            flagged = self._possible_opt_out(connection, inbound, base)
            if flagged.kind == "opt_out":
                return flagged
        if not parsed.valid:
            base.kind, base.reason = "invalid", base.reason or parsed.reason
            if not late:
                base.answers += self._reprompt_or_give_up(connection, inbound, candidate)
            return base
        base.value = parsed.value
        if late and not step.expect_reply.accept_late:
            return base
        base.kind = "matched"
        base.answers += self._run_rules(
            connection, inbound, candidate, parsed.value, immediate=self._immediate
        )
        return base

    def _reprompt_or_give_up(
        self, connection: Connection, inbound: Inbound, candidate: Candidate
    ) -> list[str]:
        """Reprompt up to ``max_reprompts`` times; then the question counts as unanswered."""
        assert candidate.step.expect_reply is not None
        earlier = connection.execute(
            select(func.count()).where(
                replies.c.enrollment_id == candidate.enrollment_id,
                replies.c.step_id == candidate.step.id,
                replies.c.kind == "invalid",
            )
        ).scalar_one()
        context = self.context_for(connection, candidate, reply=None)
        if reprompt_decision(earlier + 1, self.config.max_reprompts) == "give_up":
            return self.give_up(connection, candidate, context, inbound.received_at)
        text = candidate.step.expect_reply.reprompt
        if text is None:
            return []
        try:
            return [render(text, context)]
        except TemplateError:
            return []

    def give_up(
        self, connection: Connection, candidate: Candidate, context: dict[str, Any], now: datetime
    ) -> list[str]:
        """The question is unanswered for good: run ``on_no_reply`` now, once."""
        m = messages.c
        claimed = connection.execute(
            update(messages)
            .where(m.id == candidate.message_id, m.no_reply_handled_at.is_(None))
            .values(no_reply_handled_at=now)
            .returning(m.id)
        ).first()
        if claimed is None or not candidate.step.on_no_reply:
            return []
        phone = context["contact"]["phone"]
        runner = ActionRunner(
            self.library, connection, candidate, context, Trigger("noreply", phone, None, now),
            immediate=self._immediate,
        )  # fmt: skip
        return runner.run(candidate.step.on_no_reply)

    def context_for(
        self, connection: Connection, candidate: Candidate, *, reply: Any
    ) -> dict[str, Any]:
        """What the step's templates and conditions see now (with ``reply`` when given)."""
        e, c = enrollments.c, contacts.c
        row = connection.execute(
            select(
                e.attributes,
                e.external_id,
                e.enrolled_at,
                e.timezone,
                c.phone,
                c.attributes.label("contact_attributes"),
            )
            .join(contacts, c.id == e.contact_id)
            .where(e.id == candidate.enrollment_id)
        ).one()
        known = {
            r.step_id: r.value
            for r in connection.execute(
                select(replies.c.step_id, replies.c.value)
                .where(
                    replies.c.enrollment_id == candidate.enrollment_id,
                    replies.c.kind == "matched",
                )
                .order_by(replies.c.received_at)
            )
        }
        if reply is not None:
            known[candidate.step.id] = reply
        attributes = typed_attributes(
            candidate.sequence, {**dict(row.contact_attributes), **dict(row.attributes)}
        )
        context = template_context(
            candidate.sequence, step_id=candidate.step.id, attributes=attributes,
            phone=row.phone, zone=ZoneInfo(row.timezone), replies=known,
            external_id=row.external_id, enrolled_at=row.enrolled_at,
        )  # fmt: skip
        if reply is not None:
            context["reply"] = reply
        return context

    def _run_rules(
        self,
        connection: Connection,
        inbound: Inbound,
        candidate: Candidate,
        value: Any,
        *,
        immediate: bool,
    ) -> list[str]:
        context = self.context_for(connection, candidate, reply=value)
        for rule in candidate.step.on_reply:
            try:
                matches = rule.if_ is None or evaluate(rule.if_, context)
            except TemplateError as exc:
                log.warning("reply rule cannot be evaluated: %s", exc, extra={"action": "rule"})
                continue
            if matches:
                trigger = Trigger(
                    inbound.message_sid, inbound.from_phone, inbound.body, inbound.received_at
                )
                runner = ActionRunner(
                    self.library, connection, candidate, context, trigger, immediate=immediate
                )
                return runner.run(rule.then)
        return []


@dataclass(frozen=True, slots=True)
class Trigger:
    """What set a rule off: a reply (its SID and text) or a closed reply window."""

    tag: str
    """Unique per trigger: a reply's SID, or ``noreply``."""
    phone: str
    body: str | None
    now: datetime


class ActionRunner:
    """Runs a rule's actions in the caller's transaction.

    ``send`` texts are answered at once (TwiML) when ``immediate``; otherwise they are put
    in the outbox for the dispatcher (a closed reply window, a recovered reply).
    """

    def __init__(
        self,
        library: SequenceLibrary,
        connection: Connection,
        candidate: Candidate,
        context: dict[str, Any],
        trigger: Trigger,
        *,
        immediate: bool,
    ) -> None:
        self.library = library
        self.connection = connection
        self.candidate = candidate
        self.context = context
        self.trigger = trigger
        self.immediate = immediate
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
                self._notify(action.notify or "")
            elif kind == "goto":
                self._goto(action.goto or "")
            elif kind == "exit":
                end_enrollment(
                    self.connection, self.candidate.enrollment_id, self.now,
                    state="exited", cause="rule_exit",
                )  # fmt: skip
                return self.answers
        recheck_conditions(
            self.connection,
            self.library,
            self.candidate.enrollment_id,
            self.context,
            self.now,
        )
        return self.answers

    def _send(self, template: str) -> None:
        try:
            text = render(template, self.context)
        except TemplateError as exc:
            log.warning("send action cannot render: %s", exc, extra={"action": "rule"})
            return
        if self.immediate:
            self.answers.append(text)
        else:
            enqueue_text(
                self.connection, self.candidate.enrollment_id,
                f"{self.candidate.step.id}#{self.trigger.tag}#{len(self.answers)}", text,
                self.now,
            )  # fmt: skip
            self.answers.append(text)

    def _set(self, values: dict[str, Any]) -> None:
        sequence = self.candidate.sequence
        typed = {
            name: coerce(sequence.attributes[name].type, value, sequence.attributes[name].values)
            for name, value in values.items()
        }
        e = enrollments.c
        current = self.connection.execute(
            select(e.attributes).where(e.id == self.candidate.enrollment_id)
        ).scalar_one()
        self.connection.execute(
            update(enrollments)
            .where(e.id == self.candidate.enrollment_id)
            .values(attributes={**dict(current), **attributes_to_json(typed)})
        )
        self.context.update(typed)

    def _notify(self, target_name: str) -> None:
        sequence = self.candidate.sequence
        target = sequence.notify[target_name]
        payload = {
            "event": "reply",
            "target": target_name,
            "sequence": sequence.key,
            "enrollment_id": self.candidate.enrollment_id,
            "step": self.candidate.step.id,
            "phone": self.trigger.phone,
            "reply": self.trigger.body,
            "value": self.context.get("reply"),
            "at": self.now.isoformat(),
            "trigger": self.trigger.tag,
        }
        if self.trigger.body is None:
            payload["event"] = "no_reply"
        if target.webhook is not None:
            self.connection.execute(
                insert(notifications).values(
                    enrollment_id=self.candidate.enrollment_id, target=target_name,
                    url=str(target.webhook), payload=payload, state="pending",
                    next_attempt_at=self.now, created_at=self.now,
                )
            )  # fmt: skip
        what = (
            f"answered {self.candidate.step.id}: {self.trigger.body[:100]}"
            if self.trigger.body is not None
            else f"did not answer {self.candidate.step.id}"
        )
        text = f"dripsms alert ({sequence.name}): {self.trigger.phone} {what}"
        for index, phone in enumerate(target.phones):
            self.connection.execute(
                insert(messages).values(
                    enrollment_id=self.candidate.enrollment_id,
                    step_id=f"{self.candidate.step.id}#{self.trigger.tag}#staff{index}"[:64],
                    state=S.PLANNED.value, due_at=self.now, body=text, kind="staff",
                    to_phone=phone, updated_at=self.now,
                )
            )  # fmt: skip

    def _goto(self, target: str) -> None:
        m = messages.c
        order = [s.id for s in self.candidate.sequence.steps]
        start, end = order.index(self.candidate.step.id), order.index(target)
        skipped = order[start + 1 : end] if end > start else []
        rows = self.connection.execute(
            select(m.id, m.step_id, m.state).where(
                m.enrollment_id == self.candidate.enrollment_id,
                m.step_id.in_([*skipped, target]),
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
                        enrollment_id=self.candidate.enrollment_id, from_state=row.state,
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


def recheck_conditions(
    connection: Connection,
    library: SequenceLibrary,
    enrollment_id: int,
    context: dict[str, Any],
    now: datetime,
) -> None:
    """A reply may turn a later step's condition false: skip it, or cancel it at Twilio."""
    m, e, v = messages.c, enrollments.c, sequence_versions.c
    version = connection.execute(
        select(v.key, v.digest, v.text)
        .join(enrollments, e.sequence_version_id == v.id)
        .where(e.id == enrollment_id)
    ).one()
    sequence = library.pinned(version.digest, version.text, version.key).sequence
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


def _keyword(inbound: Inbound, *, awaiting_yes_no: bool) -> Keyword | None:
    """Twilio's ``OptOutType`` when Advanced Opt-Out sent one; else the text's keyword."""
    found = resolve_keyword(inbound.body, awaiting_yes_no=awaiting_yes_no)
    if inbound.opt_out_type:
        given = {"STOP": Keyword.OPT_OUT, "START": Keyword.OPT_IN, "HELP": Keyword.HELP}
        typed = given.get(inbound.opt_out_type.upper())
        if typed is Keyword.OPT_IN and found is None and awaiting_yes_no:
            return None  # Twilio calls YES an opt-in; here it answers the question
        return typed
    return found


__all__ = ["ConversationConfig", "Conversations", "Inbound", "InboundResult"]
