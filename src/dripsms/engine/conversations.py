"""Inbound routing: opt-out, opt-in and help keywords, and which question a text answers
(:mod:`dripsms.engine.matching` answers it; :mod:`dripsms.engine.actions` runs the rules).

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
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine

from dripsms.core.phones import InvalidPhone, normalize_phone
from dripsms.core.replies import Keyword, resolve_keyword, sounds_like_opt_out
from dripsms.core.sequence.model import Sequence, YesNoReply
from dripsms.core.states import ReplyKind
from dripsms.engine.actions import ActionRunner, Trigger, complete_finished, enqueue_text
from dripsms.engine.config import config_from
from dripsms.engine.inbound import (
    DUPLICATE,
    NOT_A_PHONE,
    REVIEW_OPT_OUT,
    Call,
    Inbound,
    InboundResult,
    PossibleOptOut,
)
from dripsms.engine.library import SequenceLibrary
from dripsms.engine.matching import Matcher, Outcome
from dripsms.engine.stopping import opt_out_contact
from dripsms.engine.studio import forward_to_intake
from dripsms.store.contacts import add_bare_contact, contact_id_by_phone, resubscribe
from dripsms.store.database import write
from dripsms.store.events import event_row, record
from dripsms.store.replies import Question, open_among, questions_of, reply_stored, store_reply

if TYPE_CHECKING:
    from dripsms.settings import Settings

log = logging.getLogger(__name__)
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


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
    studio_flow_url: str | None
    public_url: str
    """Where dripsms is reached: alerts link to the console's contact page there."""

    @classmethod
    def from_settings(cls, settings: Settings) -> ConversationConfig:
        """The settings' values (the one source of their defaults)."""
        return config_from(cls, settings)


def contact_id_of(connection: Connection, phone: str | None) -> int | None:
    """The id of the contact with this phone, or None (also for no phone)."""
    return contact_id_by_phone(connection, phone) if phone is not None else None


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
        self.matcher = Matcher(library, config.max_reprompts, config.public_url)

    def receive(self, inbound: Inbound, *, immediate: bool = True) -> InboundResult:
        """Handle one inbound text, once: a repeated ``MessageSid`` does nothing.

        ``immediate``: the caller answers with TwiML (the webhook). Otherwise (a reply
        recovered from Twilio's list) answers to an enrolled contact go to the outbox.
        """
        call = Call(inbound, sender_phone(inbound.from_phone, self.config.default_region))
        result, contact_id = write(self.engine, lambda c: self._receive(c, call, immediate))
        if result.kind == DUPLICATE:
            return result
        log.info(
            "inbound text",
            extra={"action": "inbound", "outcome": result.kind, "contact_id": contact_id,
                   "message_id": result.message_id, "enrollment_id": result.enrollment_id,
                   "step": result.step_id, "recovered": not immediate},
        )  # fmt: skip
        return result

    def _receive(
        self, connection: Connection, call: Call, immediate: bool
    ) -> tuple[InboundResult, int | None]:
        """The text's one transaction: (what it became, the sender's contact id)."""
        inbound = call.inbound
        if reply_stored(connection, inbound.message_sid):
            return InboundResult(DUPLICATE), None
        asked = (
            questions_of(connection, self._pinned, phone=call.sender)
            if call.sender is not None
            else []
        )
        result = self._route(connection, call, asked)
        result = forward_to_intake(connection, self.config.studio_flow_url, call, result)
        if not immediate and result.enrollment_id is not None:
            for n, text in enumerate(result.answers):
                enqueue_text(
                    connection, result.enrollment_id,
                    f"{result.step_id}#{inbound.message_sid}#a{n}", text, call.at,
                )  # fmt: skip
        # the sender's questions name its contact (one contact per phone); else look it up
        contact_id = asked[0].contact_id if asked else contact_id_of(connection, call.sender)
        store_reply(
            connection, message_sid=inbound.message_sid, contact_id=contact_id,
            enrollment_id=result.enrollment_id, step_id=result.step_id, kind=result.kind,
            body=inbound.body, value=result.value, received_at=call.at,
            from_phone=call.sender or inbound.from_phone[:16], reason=result.reason,
        )  # fmt: skip
        if result.enrollment_id is not None:  # a reply may close the last window
            complete_finished(connection, [result.enrollment_id], call.at)
        return result, contact_id

    def context_for(
        self, connection: Connection, question: Question, *, reply: Any
    ) -> dict[str, Any]:
        """What the step's templates and conditions see now (with ``reply`` when given)."""
        return self.matcher.context_for(connection, question, reply=reply)

    # -- routing --------------------------------------------------------------------------

    def _route(self, connection: Connection, call: Call, asked: list[Question]) -> InboundResult:
        if call.sender is None:
            # A short code, an alphanumeric sender, garbage: no contact, no answer (an
            # automated sender may answer back, and loop).
            return InboundResult(ReplyKind.UNMATCHED, reason=NOT_A_PHONE)
        open_ = open_among(asked, call.at)
        yes_no = bool(open_) and isinstance(open_[0].step.expect_reply, YesNoReply)
        word = _keyword(call.inbound, awaiting_yes_no=yes_no)
        if word is not None:
            return self._keyword_result(connection, call, word)
        if open_:
            return self._settle(
                connection, call, self.matcher.answer(connection, call, open_[0], late=False)
            )
        before = [q for q in asked if q.opened_at <= call.at]
        if before:
            return self._settle(connection, call, self._after_window(connection, call, before))
        if sounds_like_opt_out(call.inbound.body):
            return self._possible_opt_out(connection, call, InboundResult(ReplyKind.UNMATCHED))
        answers = [self.config.unmatched_reply] if self.config.unmatched_reply else []
        return InboundResult(ReplyKind.UNMATCHED, answers)

    def _after_window(self, connection: Connection, call: Call, before: list[Question]) -> Outcome:
        """No window open: the latest question asked is followed up, or answered late."""
        latest = max(before, key=_opened)
        if latest.answered:
            return self.matcher.followup(connection, call, latest)
        return self.matcher.answer(connection, call, latest, late=True)

    def _settle(self, connection: Connection, call: Call, outcome: Outcome) -> InboundResult:
        if isinstance(outcome, PossibleOptOut):
            return self._possible_opt_out(connection, call, outcome.result)
        return outcome

    def _pinned(self, digest: str, text: str, key: str) -> Sequence:
        return self.library.pinned(digest, text, key).sequence

    # -- keywords -------------------------------------------------------------------------

    def _keyword_result(self, connection: Connection, call: Call, word: Keyword) -> InboundResult:
        if word is Keyword.OPT_OUT:
            return self._opt_out(connection, call)
        if word is Keyword.OPT_IN:
            return self._opt_in(connection, call)
        answers = [] if self.config.advanced_opt_out else [self.config.help_text]
        return InboundResult(ReplyKind.HELP, answers)

    def _opt_out(self, connection: Connection, call: Call) -> InboundResult:
        assert call.sender is not None
        contact_id = contact_id_of(connection, call.sender)
        if contact_id is None:  # remember a STOP even from a number we never texted
            contact_id = add_bare_contact(connection, call.sender, call.at)
        opt_out_contact(connection, contact_id, call.at, cause="stop")
        answers = [] if self.config.advanced_opt_out else [self.config.opt_out_text]
        return InboundResult(ReplyKind.OPT_OUT, answers)

    def _opt_in(self, connection: Connection, call: Call) -> InboundResult:
        contact_id = contact_id_of(connection, call.sender)
        if contact_id is not None:
            resubscribe(connection, contact_id, call.at)
            record(
                connection,
                [event_row(call.at, "contact", "start", contact_id=contact_id,
                           from_state="opted_out", to_state="subscribed")],
            )  # fmt: skip
        answers = [] if self.config.advanced_opt_out else [self.config.opt_in_text]
        return InboundResult(ReplyKind.OPT_IN, answers)

    def _possible_opt_out(
        self, connection: Connection, call: Call, result: InboundResult
    ) -> InboundResult:
        """A revocation in words: STOP with ``free_text_opt_out``, else flagged, unanswered."""
        if self.config.free_text_opt_out:
            return self._opt_out(connection, call)
        result.reason = REVIEW_OPT_OUT
        result.answers = []
        return result


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
    "NOT_A_PHONE",
    "REVIEW_OPT_OUT",
    "ActionRunner",
    "ConversationConfig",
    "Conversations",
    "Inbound",
    "InboundResult",
    "Trigger",
]
