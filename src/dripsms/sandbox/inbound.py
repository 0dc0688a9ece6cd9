"""Inbound messages: Twilio's webhook to a Messaging Service's inbound URL, and what came of it.

The request is a form POST signed like every Twilio webhook (see
:mod:`dripsms.sandbox.posting`) with the parameters of Twilio's "request to your incoming
message Webhook URL" (twilio.com/docs/messaging/guides/webhook-request): ``MessageSid``,
``SmsSid``, ``SmsMessageSid``, ``AccountSid``, ``MessagingServiceSid``, ``From``, ``To``,
``Body``, ``NumMedia``, ``NumSegments``, ``SmsStatus``, ``ApiVersion``, ``MediaUrl{N}``
and ``MediaContentType{N}``, the From/To City, State, Zip and Country (the sandbox knows
only the country, from the calling code; the others are empty), and ``OptOutType``
(STOP, START, HELP) when Advanced Opt-Out recognised a keyword.

Like Twilio by default, a failed post (no connection, no answer within the timeout, a
non-2xx status) is not retried: it is recorded with Twilio's error code (11205 HTTP
connection failure, 11200 HTTP retrieval failure, 11750 answer over 64 kB, or a TwiML
error from :mod:`dripsms.sandbox.twiml`).
"""

from __future__ import annotations

import mimetypes
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import phonenumbers

from dripsms.core.segments import count_segments
from dripsms.sandbox.ids import is_e164, is_sid
from dripsms.sandbox.lifecycle import Status
from dripsms.sandbox.message import Direction, Message
from dripsms.sandbox.optout import OptOutType
from dripsms.sandbox.posting import MAX_ANSWER_BYTES, HttpAnswer, SignedPost, post_form
from dripsms.sandbox.twiml import TwimlError, TwimlMessage, read_answer
from dripsms.sandbox.wire import API_VERSION

INBOUND_TIMEOUT = 15.0
"""Seconds to wait for the webhook's answer: Twilio waits 15 s in all (error 11205's page)."""


def inbound_message(
    sid: str,
    *,
    account_sid: str,
    from_: str,
    to: str,
    messaging_service_sid: str,
    body: str,
    media_urls: tuple[str, ...],
    now: datetime,
    sequence: int,
) -> Message:
    """The message a phone's text becomes: ``inbound``, ``received`` and sent ``now``.

    ``date_sent`` is when Twilio posts the webhook (the Message resource's description),
    which is at once. Raises :class:`ValueError` for arguments no phone could send.
    """
    if not is_sid("MG", messaging_service_sid):
        raise ValueError(f"{messaging_service_sid!r} is not a Messaging Service SID")
    for number in (from_, to):
        if not is_e164(number):
            raise ValueError(f"{number!r} is not an E.164 phone number")
    if not body and not media_urls:
        raise ValueError("an inbound message needs a body or media")
    return Message(
        sid=sid,
        account_sid=account_sid,
        to=to,
        from_=from_,
        messaging_service_sid=messaging_service_sid,
        body=body,
        media_urls=media_urls,
        num_segments=max(count_segments(body).segments, 1),
        status=Status.RECEIVED,
        date_created=now,
        date_updated=now,
        sequence=sequence,
        date_sent=now,
        direction=Direction.INBOUND,
    )


def reply_message(
    inbound: Message,
    reply: TwimlMessage,
    sid: str,
    *,
    now: datetime,
    sequence: int,
    keyword_reply: bool = False,
) -> Message:
    """An ``outbound-reply`` to ``inbound`` through its Messaging Service, due ``now``.

    It goes back to the sender from the number texted, unless the ``<Message>`` names
    ``to`` or ``from``; it is ``accepted`` and released like any immediate message.
    """
    return Message(
        sid=sid,
        account_sid=inbound.account_sid,
        to=reply.to or inbound.from_,
        from_=reply.from_ or inbound.to,
        messaging_service_sid=inbound.messaging_service_sid,
        body=reply.body,
        media_urls=reply.media_urls,
        num_segments=max(count_segments(reply.body).segments, 1),
        status=Status.ACCEPTED,
        date_created=now,
        date_updated=now,
        sequence=sequence,
        status_callback=reply.status_callback,
        direction=Direction.OUTBOUND_REPLY,
        keyword_reply=keyword_reply,
    )


InboundWebhook = SignedPost
"""An inbound-message webhook request."""


def inbound_webhook(
    message: Message, url: str, auth_token: str, opt_out_type: OptOutType | None
) -> InboundWebhook:
    """The webhook Twilio posts for the inbound ``message``."""
    sid = message.sid
    params = [
        ("ToCountry", _country(message.to)),
        ("ToState", ""),
        ("SmsMessageSid", sid),
        ("NumMedia", str(len(message.media_urls))),
        ("ToCity", ""),
        ("FromZip", ""),
        ("SmsSid", sid),
        ("FromState", ""),
        ("SmsStatus", message.status.value),
        ("FromCity", ""),
        ("Body", message.body),
        ("FromCountry", _country(message.from_)),
        ("To", message.to),
        ("ToZip", ""),
        ("NumSegments", str(message.num_segments)),
        ("MessageSid", sid),
        ("AccountSid", message.account_sid),
        ("From", message.from_),
        ("ApiVersion", API_VERSION),
    ]
    if message.messaging_service_sid:
        params.append(("MessagingServiceSid", message.messaging_service_sid))
    if opt_out_type is not None:
        params.append(("OptOutType", opt_out_type.value))
    for index, media_url in enumerate(message.media_urls):
        params.append((f"MediaContentType{index}", _content_type(media_url)))
        params.append((f"MediaUrl{index}", media_url))
    return InboundWebhook(url, tuple(params), auth_token)


@dataclass(frozen=True, slots=True)
class WebhookResult:
    """What posting a webhook gave: its answer, and the ``<Message>`` replies or why none."""

    answer: HttpAnswer
    replies: tuple[TwimlMessage, ...] = ()
    error_code: int | None = None
    error: str | None = None


def post_webhook(webhook: InboundWebhook, *, timeout: float = INBOUND_TIMEOUT) -> WebhookResult:
    """Post ``webhook`` once and read its answer as TwiML."""
    answer = post_form(
        webhook.url,
        webhook.params,
        signature=webhook.signature,
        idempotency_token=webhook.idempotency_token,
        timeout=timeout,
    )
    if answer.status_code is None:
        return WebhookResult(
            answer, error_code=11205, error=f"HTTP connection failure: {answer.error}"
        )
    if not answer.ok:
        error = f"HTTP retrieval failure: the webhook answered {answer.status_code}"
        return WebhookResult(answer, error_code=11200, error=error)
    if answer.error is not None:
        return WebhookResult(
            answer, error_code=11200, error=f"HTTP retrieval failure: {answer.error}"
        )
    if answer.too_large:
        error = f"TwiML response body too large: over {MAX_ANSWER_BYTES} bytes"
        return WebhookResult(answer, error_code=11750, error=error)
    try:
        replies = read_answer(answer.content_type, answer.body, base_url=webhook.url)
    except TwimlError as exc:
        return WebhookResult(answer, error_code=exc.code, error=exc.message)
    return WebhookResult(answer, tuple(replies))


@dataclass(frozen=True, slots=True)
class InboundDelivery:
    """What became of one inbound message: its webhook's answer and the replies it caused."""

    message: Message
    """The inbound message, as recorded."""
    webhook: InboundWebhook | None
    """The request posted; ``None`` when the Messaging Service has no inbound URL."""
    opt_out_type: OptOutType | None = None
    status_code: int | None = None
    """The webhook's HTTP status; ``None`` when it did not answer (or was not posted)."""
    content_type: str = ""
    response_body: str = ""
    error_code: int | None = None
    """Twilio's error code for a failed webhook (11200, 11205, 11750, 12100, 12300, 14110)."""
    error: str | None = None
    replies: tuple[Message, ...] = ()
    """The ``outbound-reply`` messages the TwiML answer created."""
    keyword_reply: Message | None = None
    """Twilio's own answer to STOP, START or HELP (Advanced Opt-Out)."""
    warnings: tuple[str, ...] = ()
    """``<Message>`` verbs that were not sent (warning 14103)."""

    @property
    def delivered(self) -> bool:
        """The webhook answered 2xx."""
        return self.status_code is not None and 200 <= self.status_code < 300


def answer_text(answer: HttpAnswer) -> str:
    """The answer's body as text (for the record; undecodable bytes replaced)."""
    return answer.body.decode("utf-8", errors="replace")


def reply_problems(replies: Sequence[TwimlMessage]) -> tuple[str, ...]:
    """Why some ``<Message>`` verbs are not sent (warning 14103), one line each."""
    return tuple(problem for reply in replies if (problem := reply.problem))


def _country(number: str) -> str:
    # Twilio looks the numbers up; the sandbox knows only the country of the calling code.
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return ""
    region = phonenumbers.region_code_for_number(parsed)
    if region is None:
        region = phonenumbers.region_code_for_country_code(parsed.country_code or 0)
    return "" if region in (None, "ZZ") else str(region)


def _content_type(media_url: str) -> str:
    guessed, _ = mimetypes.guess_type(urlsplit(media_url).path)
    return guessed or "application/octet-stream"
