"""Twilio's JSON shapes: the Message resource, list pages and error bodies."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from dripsms.sandbox.errors import MORE_INFO, ApiError
from dripsms.sandbox.listing import MessageQuery, Page, page_uri
from dripsms.sandbox.message import Message

API_VERSION = "2010-04-01"


def messages_path(account_sid: str) -> str:
    """The Messages list path of an account."""
    return f"/{API_VERSION}/Accounts/{account_sid}/Messages.json"


def message_path(account_sid: str, sid: str) -> str:
    """The path of one Message resource."""
    return f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}.json"


def rfc2822(instant: datetime | None) -> str | None:
    """``Fri, 27 Nov 2026 07:00:00 +0000``, Twilio's date format (``None`` stays ``None``)."""
    if instant is None:
        return None
    return format_datetime(instant.astimezone(UTC))


def iso_instant(instant: datetime | None) -> str | None:
    """``2026-11-27T07:00:00Z``: how the admin endpoints write instants."""
    if instant is None:
        return None
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def message_json(message: Message) -> dict[str, Any]:
    """The Message resource as Twilio returns it (counts are strings, as Twilio's are)."""
    base = f"/{API_VERSION}/Accounts/{message.account_sid}/Messages/{message.sid}"
    return {
        "account_sid": message.account_sid,
        "api_version": API_VERSION,
        "body": message.body,
        "date_created": rfc2822(message.date_created),
        "date_sent": rfc2822(message.date_sent),
        "date_updated": rfc2822(message.date_updated),
        "direction": message.direction.value,
        "error_code": message.error_code,
        "error_message": message.error_message,
        "from": message.from_,
        "messaging_service_sid": message.messaging_service_sid,
        "num_media": str(len(message.media_urls)),
        "num_segments": str(message.num_segments),
        "price": None,
        "price_unit": "USD",
        "sid": message.sid,
        "status": message.status.value,
        "subresource_uris": {"media": f"{base}/Media.json", "feedback": f"{base}/Feedback.json"},
        "to": message.to,
        "uri": f"{base}.json",
    }


def page_json(account_sid: str, query: MessageQuery, page: Page) -> dict[str, Any]:
    """A list page: the messages and Twilio's paging fields, with working page links."""
    path = messages_path(account_sid)
    size, number = page.request.size, page.request.number
    return {
        "messages": [message_json(m) for m in page.messages],
        "end": page.end,
        "first_page_uri": page_uri(path, query, size, 0),
        "next_page_uri": (
            page_uri(path, query, size, number + 1, page.next_token) if page.next_token else None
        ),
        "page": number,
        "page_size": size,
        "previous_page_uri": (
            page_uri(path, query, size, max(number - 1, 0), page.previous_token)
            if page.previous_token
            else None
        ),
        "start": page.start,
        "uri": page_uri(path, query, size, number, page.request.token),
    }


def error_json(error: ApiError) -> dict[str, Any]:
    """Twilio's error body: ``code``, ``message``, ``more_info`` and ``status``."""
    return {
        "code": error.code,
        "message": error.message,
        "more_info": MORE_INFO.format(code=error.code),
        "status": error.status,
    }
