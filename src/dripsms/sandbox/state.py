"""The sandbox's state: accounts, messages, its own clock and the lifecycle, thread-safe.

The clock stands still unless moved (:meth:`Sandbox.set_now`, :meth:`Sandbox.advance`,
or a server that follows real time). Every move, and :meth:`Sandbox.process`, releases
the messages that are due: scheduled ones whose ``SendAt`` has come, and immediate ones
(due when created). So a create answers with the initial status and a fetch keeps
showing it until the clock moves or ``process()`` runs: deterministic, for tests. A
released message takes its whole path (see :mod:`dripsms.sandbox.lifecycle`) at once,
dated at its due time, and each status change is a status callback.

:meth:`Sandbox.receive` is a phone texting a Messaging Service's number: the inbound
message is recorded, Advanced Opt-Out acts on STOP/START/HELP, and the service's inbound
webhook is posted at once (outside the lock, in the caller's thread); the ``<Message>``
replies of its TwiML answer become ``outbound-reply`` messages, released like any other.

Accounts, API keys, senders, inbound URLs and recipients are the
:class:`~dripsms.sandbox.directory.Directory` the sandbox builds on.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import TracebackType

from dripsms.clock import system_clock
from dripsms.core.segments import count_segments
from dripsms.sandbox.callbacks import (
    CallbackDispatcher,
    CallbackSink,
    StatusCallback,
    status_callback,
)
from dripsms.sandbox.directory import Directory
from dripsms.sandbox.errors import ApiError, not_found
from dripsms.sandbox.faults import FaultConfig, Faults
from dripsms.sandbox.ids import SANDBOX_ACCOUNT_SID, new_sid
from dripsms.sandbox.inbound import (
    INBOUND_TIMEOUT,
    InboundDelivery,
    WebhookResult,
    answer_text,
    inbound_message,
    inbound_webhook,
    post_webhook,
    reply_message,
    reply_problems,
)
from dripsms.sandbox.lifecycle import WAITING, Status, release_path
from dripsms.sandbox.listing import MessageQuery, newest_first
from dripsms.sandbox.message import Message
from dripsms.sandbox.optout import REPLIES, OptOutType, keyword
from dripsms.sandbox.phones import conversation
from dripsms.sandbox.recipients import Recipients
from dripsms.sandbox.rules import CreateRequest, SchedulingWindow, plan_create
from dripsms.sandbox.twiml import TwimlMessage
from dripsms.sandbox.wire import message_path

log = logging.getLogger(__name__)


class Sandbox(Directory):
    """A Twilio Messages API in memory. Every public method is safe to call from any thread.

    ``now`` starts the sandbox clock (default: the machine's clock); ``window`` sets the
    scheduling rules; ``seed`` makes SIDs reproducible (without one they are random, so
    two runs never hand out the same SID); ``auth_token`` is the token of
    :data:`SANDBOX_ACCOUNT_SID` (default: the published :data:`SANDBOX_AUTH_TOKEN`, which
    anyone can sign with: give a fresh one, e.g. :func:`new_auth_token`, when webhooks it
    signs must prove anything); ``callback_sink`` replaces the
    HTTP delivery of status callbacks. ``advanced_opt_out`` makes every Messaging Service
    handle STOP/START/HELP as Twilio's Advanced Opt-Out does (off: keywords are ordinary
    texts); ``inbound_timeout`` is how long an inbound webhook may take to answer. The
    method ``now`` is a :data:`dripsms.clock.Clock`: hand ``sandbox.now`` to code that
    should share the sandbox's time.
    """

    def __init__(
        self,
        *,
        now: datetime | None = None,
        window: SchedulingWindow | None = None,
        seed: int | None = None,
        auth_token: str | None = None,
        faults: FaultConfig | None = None,
        callback_sink: CallbackSink | None = None,
        advanced_opt_out: bool = True,
        inbound_timeout: float = INBOUND_TIMEOUT,
    ) -> None:
        super().__init__(seed=seed, auth_token=auth_token)
        self._delivered = threading.Condition(self._lock)
        self.advanced_opt_out = advanced_opt_out
        self._inbound_timeout = inbound_timeout
        self._deliveries: dict[str, InboundDelivery] = {}
        self._now = _utc(now or system_clock())
        self.window = window or SchedulingWindow()
        self.faults = Faults(faults)
        self._sequence = itertools.count()
        self._sink: CallbackSink = callback_sink or CallbackDispatcher()
        self._messages: dict[str, Message] = {}
        self._creates: Counter[tuple[str, str]] = Counter()
        self._callbacks: list[StatusCallback] = []

    # -- the clock -------------------------------------------------------------------------

    def now(self) -> datetime:
        """The sandbox's current instant (aware UTC); a :data:`dripsms.clock.Clock`."""
        with self._lock:
            return self._now

    def set_now(self, instant: datetime) -> datetime:
        """Move the clock to ``instant`` and release what is due; returns the new now."""
        with self._lock:
            self._now = _utc(instant)
        self.process()
        return self.now()

    def advance(self, seconds: float | timedelta) -> datetime:
        """Move the clock forward and release what is due; returns the new now."""
        step = seconds if isinstance(seconds, timedelta) else timedelta(seconds=seconds)
        if step < timedelta(0):
            raise ValueError("the sandbox clock only moves forward; use set_now to go back")
        with self._lock:
            self._now += step
        self.process()
        return self.now()

    def advance_to(self, instant: datetime) -> datetime:
        """Move the clock forward to ``instant`` (never back: an earlier one leaves it where
        it is) and release what is due; returns the new now. For following another clock."""
        target = _utc(instant)
        with self._lock:
            self._now = max(self._now, target)
        self.process()
        return self.now()

    def process(self) -> int:
        """Release every message due at the current now; returns how many were released."""
        with self._lock:
            released, callbacks = self._release_due()
        self._sink.deliver(callbacks)
        return released

    # -- messages ------------------------------------------------------------------------

    def create_message(self, account_sid: str, request: CreateRequest) -> Message:
        """Check and create a message (raises :class:`ApiError` as Twilio would)."""
        with self._lock:
            self._account(account_sid)
            plan = plan_create(request, now=self._now, window=self.window)
            sender = plan.from_number
            if sender is None:
                assert plan.messaging_service_sid is not None
                sender = self._sender(plan.messaging_service_sid)
            self._recipients.refuse(request.to, self._scopes(plan.messaging_service_sid, sender))
            message = Message(
                sid=self._message_sid(request.media_urls),
                account_sid=account_sid,
                to=request.to,
                from_=sender,
                messaging_service_sid=plan.messaging_service_sid,
                body=request.body,
                media_urls=request.media_urls,
                num_segments=max(count_segments(request.body).segments, 1),
                status=plan.status,
                date_created=self._now,
                date_updated=self._now,
                sequence=next(self._sequence),
                send_at=plan.send_at,
                status_callback=request.status_callback or None,
                validity_period=plan.validity_period,
            )
            self._messages[message.sid] = message
            self._creates[(message.to, message.body)] += 1
            return message

    def fetch_message(self, account_sid: str, sid: str) -> Message:
        """One message of the account (20404 when it has no such message)."""
        with self._lock:
            message = self._messages.get(sid)
            if message is None or message.account_sid != account_sid:
                raise not_found(message_path(account_sid, sid))
            return message

    def cancel_message(self, account_sid: str, sid: str) -> Message:
        """Cancel a scheduled message (30409 once it is anything but ``scheduled``)."""
        with self._lock:
            message = self.fetch_message(account_sid, sid)
            if message.status is not Status.SCHEDULED:
                raise ApiError(30409, "This message cannot be canceled")
            message = message.evolve(status=Status.CANCELED, date_updated=self._now)
            self._messages[sid] = message
            callbacks = self._callbacks_for([message])
        self._sink.deliver(callbacks)
        return message

    def forget_message(self, sid: str) -> Message:
        """Forget one message, as if deleted at Twilio: fetching it then answers 20404.

        Raises :class:`KeyError` when there is no such message.
        """
        with self._lock:
            return self._messages.pop(sid)

    def list_messages(self, account_sid: str, query: MessageQuery | None = None) -> list[Message]:
        """The account's messages matching ``query``, newest first."""
        query = query or MessageQuery()
        with self._lock:
            mine = [m for m in self._messages.values() if m.account_sid == account_sid]
        return newest_first([m for m in mine if query.matches(m)])

    def messages(self) -> list[Message]:
        """Every message of every account, canceled ones included, in creation order."""
        with self._lock:
            return sorted(self._messages.values(), key=lambda m: m.sequence)

    def conversation(self, number: str) -> list[Message]:
        """What the phone ``number`` shows: texts it sent and texts delivered to it, in order."""
        with self._lock:
            return conversation(self._messages.values(), number)

    # -- inbound -------------------------------------------------------------------------

    def receive(
        self,
        from_: str,
        body: str,
        *,
        to: str | None = None,
        messaging_service_sid: str | None = None,
        media_urls: Sequence[str] = (),
        account_sid: str = SANDBOX_ACCOUNT_SID,
    ) -> Message:
        """The phone ``from_`` texts ``body`` to a Messaging Service's number; returns the message.

        ``to`` defaults to the service's number, the service to the one sending from ``to``
        (else :data:`SANDBOX_MESSAGING_SERVICE_SID`). The webhook is posted before this
        returns; :meth:`inbound_delivery` tells what came of it.
        """
        with self._lock:
            pending = self._record_inbound(
                account_sid, from_, body, to, messaging_service_sid, tuple(media_urls)
            )
        webhook = pending.webhook
        result = post_webhook(webhook, timeout=self._inbound_timeout) if webhook else None
        with self._delivered:
            delivery = self._conclude_inbound(pending, result) if result else pending
            self._deliveries[delivery.message.sid] = delivery
            self._delivered.notify_all()
        log.debug(
            "inbound message received",
            extra={
                "action": "inbound",
                "message_sid": delivery.message.sid,
                "webhook_status": delivery.status_code,
                "error_code": delivery.error_code,
            },
        )
        return delivery.message

    def inbound_delivery(self, sid: str, timeout: float = 0.0) -> InboundDelivery:
        """What came of the inbound message ``sid``, waiting up to ``timeout`` seconds for it.

        Raises :class:`TimeoutError` when it is not known by then (``receive`` returns only
        once it is, so the wait matters only for a ``receive`` running in another thread).
        """
        with self._delivered:
            if not self._delivered.wait_for(lambda: sid in self._deliveries, timeout):
                raise TimeoutError(f"no inbound delivery for {sid} within {timeout} s")
            return self._deliveries[sid]

    def inbound_deliveries(self) -> list[InboundDelivery]:
        """What came of every inbound message, in the order they were received."""
        with self._lock:
            return sorted(self._deliveries.values(), key=lambda d: d.message.sequence)

    @property
    def creates(self) -> int:
        """How many creates the sandbox processed (each made one message)."""
        with self._lock:
            return sum(self._creates.values())

    def creates_by_recipient(self) -> dict[tuple[str, str], int]:
        """Processed creates per ``(to, body)``: more than 1 is a duplicate send."""
        with self._lock:
            return dict(self._creates)

    @property
    def callbacks(self) -> list[StatusCallback]:
        """Every status callback handed to delivery, in order (before any reordering fault;
        dropped ones are not)."""
        with self._lock:
            return list(self._callbacks)

    def reset(self) -> None:
        """Forget messages, counts, callbacks, inbound deliveries, recipients and faults.

        Keeps accounts, senders, inbound URLs and the clock.
        """
        with self._lock:
            self._messages.clear()
            self._creates.clear()
            self._callbacks.clear()
            self._deliveries.clear()
            self._recipients = Recipients()
            self.faults.configure(FaultConfig())

    def close(self) -> None:
        """Deliver the pending status callbacks and stop the delivery worker."""
        self._sink.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- inside the lock ---------------------------------------------------------------------

    def _record_inbound(
        self,
        account_sid: str,
        from_: str,
        body: str,
        to: str | None,
        service: str | None,
        media_urls: tuple[str, ...],
    ) -> InboundDelivery:
        """Record the inbound message and apply its keyword; the webhook is yet to be posted."""
        account = self._account(account_sid)
        service = service or self._service_for(to)
        message = inbound_message(
            self._message_sid(media_urls),
            account_sid=account.sid,
            from_=from_,
            to=to or self._sender(service),
            messaging_service_sid=service,
            body=body,
            media_urls=media_urls,
            now=self._now,
            sequence=next(self._sequence),
        )
        self._messages[message.sid] = message
        kind = keyword(body) if self.advanced_opt_out else None
        keyword_reply = None
        if kind is not None:
            if kind is OptOutType.STOP:
                self._recipients.opt_out(from_, service)
            elif kind is OptOutType.START:
                self._recipients.opt_in(from_, service)
            keyword_reply = self._add_reply(
                message, TwimlMessage(REPLIES[kind]), keyword_reply=True
            )
        url = self._inbound_urls.get(service)
        webhook = inbound_webhook(message, url, account.auth_token, kind) if url else None
        return InboundDelivery(message, webhook, kind, keyword_reply=keyword_reply)

    def _conclude_inbound(self, pending: InboundDelivery, result: WebhookResult) -> InboundDelivery:
        """The delivery once the webhook answered: its replies created, its answer kept."""
        sendable = [reply for reply in result.replies if reply.problem is None]
        return replace(
            pending,
            status_code=result.answer.status_code,
            content_type=result.answer.content_type,
            response_body=answer_text(result.answer),
            error_code=result.error_code,
            error=result.error,
            replies=tuple(self._add_reply(pending.message, reply) for reply in sendable),
            warnings=reply_problems(result.replies),
        )

    def _add_reply(
        self, inbound: Message, reply: TwimlMessage, *, keyword_reply: bool = False
    ) -> Message:
        """Record an ``outbound-reply`` to ``inbound``, due now."""
        message = reply_message(
            inbound,
            reply,
            self._message_sid(reply.media_urls),
            now=self._now,
            sequence=next(self._sequence),
            keyword_reply=keyword_reply,
        )
        self._messages[message.sid] = message
        return message

    def _message_sid(self, media_urls: Sequence[str]) -> str:
        return new_sid("MM" if media_urls else "SM", self._rng)

    def _release_due(self) -> tuple[int, list[StatusCallback]]:
        due = sorted(
            (m for m in self._messages.values() if m.status in WAITING and m.due_at <= self._now),
            key=lambda m: (m.due_at, m.sequence),
        )
        changes: list[Message] = []
        for message in due:
            outcome = self._recipients.outcome(
                message.to,
                self._scopes(message.messaging_service_sid, message.from_),
                keyword_reply=message.keyword_reply,
            )
            at = message.due_at
            for status in release_path(message.status, outcome):
                message = message.evolve(status=status, date_updated=at)
                if status is Status.SENT:
                    message = message.evolve(date_sent=at)
                if status is outcome.status:
                    message = message.evolve(
                        error_code=outcome.error_code, error_message=outcome.error_message
                    )
                changes.append(message)
            self._messages[message.sid] = message
        return len(due), self._callbacks_for(changes)

    def _callbacks_for(self, changes: list[Message]) -> list[StatusCallback]:
        callbacks: list[StatusCallback] = []
        for message in changes:
            callback = status_callback(message, self._accounts[message.account_sid].auth_token)
            if callback is not None:
                copies = self.faults.callback_copies()
                if copies:  # a dropped callback is never handed to delivery
                    self._callbacks.append(callback)
                callbacks.extend([callback] * copies)
        return self.faults.callback_order(callbacks)


def _utc(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValueError(f"{instant!r} has no time zone; the sandbox clock needs an aware instant")
    return instant.astimezone(UTC)
