"""Reply matching: what a text tied to a question becomes (matched, late, invalid,
follow-up), reprompts and giving up, and the step's rules run on a readable answer.

Routing (:mod:`dripsms.engine.conversations`) finds the question; this module answers it.
A text that may revoke consent in words comes back as :class:`PossibleOptOut`: routing
decides what that is.
"""

from __future__ import annotations

import logging
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from dripsms.core.context import template_context, typed_attributes
from dripsms.core.replies import parse_reply, reprompt_decision, sounds_like_opt_out
from dripsms.core.sequence.model import TextReply
from dripsms.core.states import EnrollmentState, ReplyKind
from dripsms.core.templates import evaluate, render
from dripsms.engine.actions import ActionRunner, Trigger, release_waiting
from dripsms.engine.inbound import Call, InboundResult, PossibleOptOut
from dripsms.engine.library import SequenceLibrary
from dripsms.errors import TemplateError
from dripsms.store.conversations import enrollment_facts, matched_replies
from dripsms.store.replies import Question, close_question, invalid_count

log = logging.getLogger(__name__)
Outcome = InboundResult | PossibleOptOut
"""What a text tied to a question became, or that routing must decide (an opt-out?)."""


class Matcher:
    """Answers questions: holds configuration and the library only (no per-call state)."""

    def __init__(self, library: SequenceLibrary, max_reprompts: int, public_url: str) -> None:
        self.library = library
        self.max_reprompts = max_reprompts
        self.public_url = public_url

    def followup(self, connection: Connection, call: Call, question: Question) -> Outcome:
        """A text after the question was answered: kept and shown; no rule, no answer."""
        assert question.step.expect_reply is not None
        result = _base(ReplyKind.FOLLOWUP, question)
        parsed = parse_reply(question.step.expect_reply, call.inbound.body)
        result.value = parsed.value if parsed.valid else None
        if sounds_like_opt_out(call.inbound.body):
            return PossibleOptOut(result)
        return result

    def answer(
        self, connection: Connection, call: Call, question: Question, *, late: bool
    ) -> Outcome:
        """A text to ``question`` (open, or closed unanswered when ``late``)."""
        expect = question.step.expect_reply
        assert expect is not None
        parsed = parse_reply(expect, call.inbound.body)
        result = _base(ReplyKind.LATE if late else ReplyKind.MATCHED, question)
        if sounds_like_opt_out(call.inbound.body) and (
            not parsed.valid or isinstance(expect, TextReply)
        ):
            # Never reprompted, never answered: a person reviews it (or it is a STOP).
            if not parsed.valid:
                result.kind = ReplyKind.INVALID
            else:  # the answer to a text question: kept (and closes it), its rules not run
                result.value = parsed.value
                if not late and expect.answers == "once":
                    close_question(connection, question.message_id, call.at)
            return PossibleOptOut(result)
        if not parsed.valid:
            result.kind, result.reason = ReplyKind.INVALID, parsed.reason
            if not late:
                result.answers += self._reprompt_or_give_up(connection, call, question)
            return result
        result.value = parsed.value
        active = question.enrollment_state == EnrollmentState.ACTIVE
        if late and not (expect.accept_late and active):
            return result
        result.kind = ReplyKind.MATCHED
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
        if reprompt_decision(earlier + 1, self.max_reprompts) == "give_up":
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
            runner = ActionRunner(
                self.library, connection, question, context, trigger, answer=True,
                public_url=self.public_url,
            )  # fmt: skip
            answers = runner.run(question.step.on_no_reply)
        release_waiting(connection, self.library, question.enrollment_id, trigger.now)
        return answers

    def context_for(
        self, connection: Connection, question: Question, *, reply: Any
    ) -> dict[str, Any]:
        """What the step's templates and conditions see now (with ``reply`` when given)."""
        facts = enrollment_facts(connection, question.enrollment_id)
        known = matched_replies(connection, question.enrollment_id)
        if reply is not None:
            known[question.step.id] = reply
        attributes = typed_attributes(
            question.sequence, {**facts.contact_attributes, **facts.attributes}
        )
        context = template_context(
            question.sequence, step_id=question.step.id, attributes=attributes,
            phone=facts.phone, zone=ZoneInfo(facts.timezone), replies=known,
            external_id=facts.external_id, enrolled_at=facts.enrolled_at,
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
                    self.library, connection, question, context, trigger, answer=True,
                    public_url=self.public_url,
                )  # fmt: skip
                return runner.run(rule.then)
        return []


def _base(kind: ReplyKind, question: Question) -> InboundResult:
    return InboundResult(
        kind, enrollment_id=question.enrollment_id, step_id=question.step.id,
        message_id=question.message_id,
    )  # fmt: skip


__all__ = ["Matcher", "Outcome"]
