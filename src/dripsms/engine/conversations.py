"""Inbound texts: opt-out and help keywords, matching a reply to its question, parsing
it, and running the step's rules.

A reply from phone P answers the question of P's active enrollments whose reply window is
open when the reply arrives (``store.replies``: one rule for everyone); with several open,
the most recently sent wins. A question is answered once: a later text to it is a
*follow-up* (kept, shown, no rule), unless its step takes ``answers: many``. A reply to a
question whose window closed unanswered is *late* (kept, no rules unless the step says
``accept_late``); a reply with no question at all is *unmatched*.

The service holds configuration and ports only: what belongs to one call (the text, its
sender, whether TwiML carries the answers) is passed down as arguments.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, insert, select, update

from dripsms.core.context import template_context, typed_attributes
from dripsms.core.phones import InvalidPhone, normalize_phone
from dripsms.core.replies import (
    Keyword,
    parse_reply,
    reprompt_decision,
    resolve_keyword,
    sounds_like_opt_out,
)
from dripsms.core.sequence.model import Sequence, TextReply, YesNoReply
from dripsms.core.templates import evaluate, render
from dripsms.engine.actions import (
    ActionRunner,
    Trigger,
    complete_finished,
    enqueue_text,
    release_waiting,
)
from dripsms.engine.library import SequenceLibrary
from dripsms.engine.stopping import opt_out_contact
from dripsms.errors import TemplateError
from dripsms.store.events import event_row, record
from dripsms.store.replies import Question, close_question, invalid_count, questions_of
from dripsms.store.tables import contacts, enrollments, replies

if TYPE_CHECKING:
    from dripsms.settings import Settings

log = logging.getLogger(__name__)
REVIEW_OPT_OUT = "possible opt-out: review"
NOT_A_PHONE = "the sender is not a phone number"
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


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
    """matched, followup, late, invalid, unmatched, opt_out, opt_in, help or duplicate."""
    answers: list[str] = field(default_factory=list)
    enrollment_id: int | None = None
    step_id: str | None = None
    value: Any = None
    reason: str | None = None
    """Why an answer was invalid, or that a person should review it (a possible opt-out)."""
    message_id: int | None = None
    """The question's message, when the text was tied to one."""


@dataclass(frozen=True, slots=True)
class ConversationConfig:
    """How inbound texts are answered: built from the settings by :meth:`from_settings` only."""

    advanced_opt_out: bool
    help_text: str
    opt_out_text: str
    opt_in_text: str
    free_text_opt_out: bool
    max_reprompts: int
    unmatched_reply: str | None
    default_region: str

    @classmethod
    def from_settings(cls, settings: Settings) -> ConversationConfig:
        """The settings' values (the one source of their defaults)."""
        s = settings
        return cls(
            advanced_opt_out=s.advanced_opt_out,
            help_text=s.help_text,
            opt_out_text=s.opt_out_text,
            opt_in_text=s.opt_in_text,
            free_text_opt_out=s.free_text_opt_out,
            max_reprompts=s.max_reprompts,
            unmatched_reply=s.unmatched_reply,
            default_region=s.default_region,
        )


@dataclass(frozen=True, slots=True)
class Call:
    """One inbound text being handled: the per-call facts, frozen and passed down."""

    inbound: Inbound
    sender: str | None
    """``From`` in E.164, or None when it is not a phone number (a short code, a name)."""

    @property
    def at(self) -> datetime:
        """When the text arrived."""
        return self.inbound.received_at


def sender_phone(raw: str, default_region: str) -> str | None:
    """``From`` as E.164, or None for a sender that is not a phone number.

    A well-formed E.164 number that libphonenumber does not know yet (new ranges reach its
    metadata late) is kept as it is: it can be a patient.
    """
    try:
        return normalize_phone(raw, default_region)
    except InvalidPhone:
        text = (raw or "").strip()
        return text if _E164.fullmatch(text) else None


class Conversations:
    """Turns inbound texts into stored replies, rule actions and immediate answers.

    Shared by the webhook's threads and the worker's missed-reply recovery: it keeps no
    state between calls.
    """

    def __init__(
        self, engine: Engine, library: SequenceLibrary, config: ConversationConfig
    ) -> None:
        self.engine = engine
        self.library = library
        self.config = config

    def receive(self, inbound: Inbound, *, immediate: bool = True) -> InboundResult:
        """Handle one inbound text, once: a repeated ``MessageSid`` does nothing.

        ``immediate``: the caller answers with TwiML (the webhook). Otherwise (a reply
        recovered from Twilio's list) answers to an enrolled contact go to the outbox.
        """
        call = Call(inbound, sender_phone(inbound.from_phone, self.config.default_region))
        with self.engine.begin() as connection:
            seen = connection.execute(
                select(replies.c.kind).where(replies.c.message_sid == inbound.message_sid)
            ).first()
            if seen is not None:
                return InboundResult("duplicate")
            result = self._receive(connection, call)
            if not immediate and result.enrollment_id is not None:
                for n, text in enumerate(result.answers):
                    enqueue_text(
                        connection, result.enrollment_id,
                        f"{result.step_id}#{inbound.message_sid}#a{n}", text, call.at,
                    )  # fmt: skip
            contact_id = self._contact_id(connection, call.sender)
            connection.execute(
                insert(replies).values(
                    message_sid=inbound.message_sid,
                    contact_id=contact_id,
                    enrollment_id=result.enrollment_id,
                    step_id=result.step_id,
                    kind=result.kind,
                    body=inbound.body,
                    value=result.value,
                    received_at=call.at,
                    from_phone=call.sender or inbound.from_phone[:16],
                    reason=result.reason,
                )
            )
            if result.enrollment_id is not None:  # a reply may close the last window
                complete_finished(connection, [result.enrollment_id], call.at)
        log.info(
            "inbound text",
            extra={"action": "inbound", "outcome": result.kind, "contact_id": contact_id,
                   "message_id": result.message_id, "enrollment_id": result.enrollment_id,
                   "step": result.step_id, "recovered": not immediate},
        )  # fmt: skip
        return result

    # -- routing --------------------------------------------------------------------------

    def _receive(self, connection: Connection, call: Call) -> InboundResult:
        if call.sender is None:
            # A short code, an alphanumeric sender, garbage: no contact, no answer (an
            # automated sender may answer back, and loop).
            return InboundResult("unmatched", reason=NOT_A_PHONE)
        pinned = self._pinned
        asked = questions_of(connection, pinned, phone=call.sender)
        open_ = sorted(
            (q for q in asked if q.enrollment_state == "active" and q.is_open(call.at)),
            key=_opened,
            reverse=True,
        )
        yes_no = bool(open_) and isinstance(open_[0].step.expect_reply, YesNoReply)
        word = _keyword(call.inbound, awaiting_yes_no=yes_no)
        if word is Keyword.OPT_OUT:
            return self._opt_out(connection, call)
        if word is Keyword.OPT_IN:
            return self._opt_in(connection, call)
        if word is Keyword.HELP:
            answers = [] if self.config.advanced_opt_out else [self.config.help_text]
            return InboundResult("help", answers)
        if open_:
            return self._answer(connection, call, open_[0], late=False)
        before = [q for q in asked if q.opened_at <= call.at]
        if before:
            latest = max(before, key=_opened)
            if latest.answered:
                return self._followup(connection, call, latest)
            return self._answer(connection, call, latest, late=True)
        if sounds_like_opt_out(call.inbound.body):
            return self._possible_opt_out(connection, call, InboundResult("unmatched"))
        answers = [self.config.unmatched_reply] if self.config.unmatched_reply else []
        return InboundResult("unmatched", answers)

    def _pinned(self, digest: str, text: str, key: str) -> Sequence:
        return self.library.pinned(digest, text, key).sequence

    def _contact_id(self, connection: Connection, phone: str | None) -> int | None:
        if phone is None:
            return None
        found = connection.execute(select(contacts.c.id).where(contacts.c.phone == phone)).scalar()
        return int(found) if found is not None else None

    # -- keywords -------------------------------------------------------------------------

    def _opt_out(self, connection: Connection, call: Call) -> InboundResult:
        assert call.sender is not None
        contact_id = self._contact_id(connection, call.sender)
        if contact_id is None:  # remember a STOP even from a number we never texted
            contact_id = int(
                connection.execute(
                    insert(contacts)
                    .values(
                        phone=call.sender, attributes={}, created_at=call.at, updated_at=call.at,
                    )
                    .returning(contacts.c.id)
                ).scalar_one()
            )  # fmt: skip
        opt_out_contact(connection, contact_id, call.at, cause="stop")
        answers = [] if self.config.advanced_opt_out else [self.config.opt_out_text]
        return InboundResult("opt_out", answers)

    def _opt_in(self, connection: Connection, call: Call) -> InboundResult:
        contact_id = self._contact_id(connection, call.sender)
        if contact_id is not None:
            connection.execute(
                update(contacts)
                .where(contacts.c.id == contact_id)
                .values(opted_out_at=None, updated_at=call.at)
            )
            record(
                connection,
                [event_row(call.at, "contact", "start", contact_id=contact_id,
                           from_state="opted_out", to_state="subscribed")],
            )  # fmt: skip
        answers = [] if self.config.advanced_opt_out else [self.config.opt_in_text]
        return InboundResult("opt_in", answers)

    def _possible_opt_out(
        self, connection: Connection, call: Call, result: InboundResult
    ) -> InboundResult:
        """A revocation in words: STOP with ``free_text_opt_out``, else flagged, unanswered."""
        if self.config.free_text_opt_out:
            return self._opt_out(connection, call)
        result.reason = REVIEW_OPT_OUT
        result.answers = []
        return result

    # -- answers and rules ----------------------------------------------------------------

    def _base(self, kind: str, question: Question) -> InboundResult:
        return InboundResult(
            kind, enrollment_id=question.enrollment_id, step_id=question.step.id,
            message_id=question.message_id,
        )  # fmt: skip

    def _followup(self, connection: Connection, call: Call, question: Question) -> InboundResult:
        """A text after the question was answered: kept and shown; no rule, no answer."""
        assert question.step.expect_reply is not None
        result = self._base("followup", question)
        parsed = parse_reply(question.step.expect_reply, call.inbound.body)
        result.value = parsed.value if parsed.valid else None
        if sounds_like_opt_out(call.inbound.body):
            return self._possible_opt_out(connection, call, result)
        return result

    def _answer(
        self, connection: Connection, call: Call, question: Question, *, late: bool
    ) -> InboundResult:
        expect = question.step.expect_reply
        assert expect is not None
        parsed = parse_reply(expect, call.inbound.body)
        result = self._base("late" if late else "matched", question)
        if sounds_like_opt_out(call.inbound.body) and (
            not parsed.valid or isinstance(expect, TextReply)
        ):
            # Never reprompted, never answered: a person reviews it (or it is a STOP).
            if not parsed.valid:
                result.kind = "invalid"
            else:  # the answer to a text question: kept (and closes it), its rules not run
                result.value = parsed.value
                if not late and expect.answers == "once":
                    close_question(connection, question.message_id, call.at)
            return self._possible_opt_out(connection, call, result)
        if not parsed.valid:
            result.kind, result.reason = "invalid", parsed.reason
            if not late:
                result.answers += self._reprompt_or_give_up(connection, call, question)
            return result
        result.value = parsed.value
        if late and not (expect.accept_late and question.enrollment_state == "active"):
            return result
        result.kind = "matched"
        if expect.answers == "once":
            close_question(connection, question.message_id, call.at)
        result.answers += self._run_rules(connection, call, question, parsed.value)
        return result

    def _reprompt_or_give_up(
        self, connection: Connection, call: Call, question: Question
    ) -> list[str]:
        """Reprompt up to ``max_reprompts`` times; then the question counts as unanswered."""
        assert question.step.expect_reply is not None
        earlier = invalid_count(connection, question.enrollment_id, question.step.id)
        context = self.context_for(connection, question, reply=None)
        if reprompt_decision(earlier + 1, self.config.max_reprompts) == "give_up":
            trigger = Trigger(
                call.inbound.message_sid, call.sender or "", call.inbound.body, call.at,
                reason="gave_up", tries=earlier + 1,
            )  # fmt: skip
            return self.give_up(connection, question, context, trigger)
        text = question.step.expect_reply.reprompt
        if text is None:
            return []
        try:
            return [render(text, context)]
        except TemplateError:
            return []

    def give_up(
        self,
        connection: Connection,
        question: Question,
        context: dict[str, Any],
        trigger: Trigger,
    ) -> list[str]:
        """The question is unanswered for good: close it, run ``on_no_reply`` once, and
        release at once the steps that wait on it."""
        if not close_question(connection, question.message_id, trigger.now):
            return []
        answers: list[str] = []
        if question.step.on_no_reply:
            runner = ActionRunner(self.library, connection, question, context, trigger, answer=True)
            answers = runner.run(question.step.on_no_reply)
        release_waiting(connection, self.library, question.enrollment_id, trigger.now)
        return answers

    def context_for(
        self, connection: Connection, question: Question, *, reply: Any
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
            .where(e.id == question.enrollment_id)
        ).one()
        known = {
            r.step_id: r.value
            for r in connection.execute(
                select(replies.c.step_id, replies.c.value)
                .where(
                    replies.c.enrollment_id == question.enrollment_id,
                    replies.c.kind == "matched",
                )
                .order_by(replies.c.received_at)
            )
        }
        if reply is not None:
            known[question.step.id] = reply
        attributes = typed_attributes(
            question.sequence, {**dict(row.contact_attributes), **dict(row.attributes)}
        )
        context = template_context(
            question.sequence, step_id=question.step.id, attributes=attributes,
            phone=row.phone, zone=ZoneInfo(row.timezone), replies=known,
            external_id=row.external_id, enrolled_at=row.enrolled_at,
        )  # fmt: skip
        if reply is not None:
            context["reply"] = reply
        return context

    def _run_rules(
        self, connection: Connection, call: Call, question: Question, value: Any
    ) -> list[str]:
        context = self.context_for(connection, question, reply=value)
        for rule in question.step.on_reply:
            try:
                matches = rule.if_ is None or evaluate(rule.if_, context)
            except TemplateError as exc:
                log.warning("reply rule cannot be evaluated: %s", exc, extra={"action": "rule"})
                continue
            if matches:
                trigger = Trigger(
                    call.inbound.message_sid, call.sender or "", call.inbound.body, call.at,
                    reason="reply", rule=rule.if_,
                )  # fmt: skip
                runner = ActionRunner(
                    self.library, connection, question, context, trigger, answer=True
                )
                return runner.run(rule.then)
        return []


def _opened(question: Question) -> datetime:
    return question.opened_at


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


__all__ = [
    "ActionRunner",
    "ConversationConfig",
    "Conversations",
    "Inbound",
    "InboundResult",
    "Trigger",
]
