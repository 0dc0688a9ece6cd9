"""The phone simulator's model: what a phone's screen shows, and the JSON the admin routes use.

A phone shows the texts it sent and those delivered to it, oldest first: an outbound
message shows up once released and delivered (a scheduled one when its ``SendAt`` has
come on the sandbox clock); one that failed or was undelivered never reaches the phone.
The routes are in :mod:`dripsms.sandbox.phone_routes`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dripsms.sandbox.inbound import InboundDelivery
from dripsms.sandbox.lifecycle import Status
from dripsms.sandbox.message import Direction, Message
from dripsms.sandbox.wire import iso_instant, message_json


def conversation(messages: Iterable[Message], number: str) -> list[Message]:
    """What the phone ``number`` shows: texts it sent and texts delivered to it, oldest first."""
    shown = [
        m
        for m in messages
        if (m.direction is Direction.INBOUND and m.from_ == number)
        or (
            m.direction is not Direction.INBOUND and m.to == number and m.status is Status.DELIVERED
        )
    ]
    return sorted(shown, key=lambda m: (m.date_sent or m.date_updated, m.sequence))


def delivery_json(delivery: InboundDelivery) -> dict[str, Any]:
    """An inbound message, its webhook's outcome and the replies, for the admin routes."""
    webhook = delivery.webhook
    return {
        "message": message_json(delivery.message),
        "opt_out_type": delivery.opt_out_type,
        "keyword_reply": message_json(delivery.keyword_reply) if delivery.keyword_reply else None,
        "webhook": None
        if webhook is None
        else {
            "url": webhook.url,
            "params": webhook.form,
            "status_code": delivery.status_code,
            "content_type": delivery.content_type,
            "response_body": delivery.response_body,
            "error_code": delivery.error_code,
            "error": delivery.error,
        },
        "replies": [message_json(m) for m in delivery.replies],
        "warnings": list(delivery.warnings),
    }


def shown_json(message: Message) -> dict[str, Any]:
    return {
        "sid": message.sid,
        "direction": message.direction.value,
        "from": message.from_,
        "to": message.to,
        "body": message.body,
        "media_urls": list(message.media_urls),
        "status": message.status.value,
        "date": iso_instant(message.date_sent or message.date_updated),
    }
