"""The checks Twilio runs on a Message create, and what a valid create becomes.

Sources (see docs/sandbox.md): Twilio's error pages for 21211, 21602, 21603, 21604,
21609, 21617, 21619, 21624, 21701, 35111, 35114, 35115, 35118 and 35126. Twilio's pages
give 35114 and 35115 the same wording ("SendAt outside the window"); the sandbox answers
35114 when ``SendAt`` is too soon or unreadable and 35115 when it is too far, so a client
must treat both alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from dripsms.clock import parse_instant
from dripsms.errors import DripError
from dripsms.sandbox.errors import ApiError
from dripsms.sandbox.ids import is_e164, is_sid
from dripsms.sandbox.lifecycle import Status

CREATE_PARAMETERS = (
    "To",
    "From",
    "MessagingServiceSid",
    "Body",
    "MediaUrl",
    "SendAt",
    "ScheduleType",
    "StatusCallback",
    "ValidityPeriod",
)
"""The form parameters a create reads (Twilio's names); any other parameter is ignored."""

MAX_BODY = 1600
MAX_VALIDITY_PERIOD = 36_000


@dataclass(frozen=True, slots=True)
class SchedulingWindow:
    """How far ahead ``SendAt`` may lie: at least ``min_lead``, at most ``horizon`` (inclusive)."""

    min_lead: timedelta = timedelta(seconds=900)
    horizon: timedelta = timedelta(days=7)

    def check(self, send_at: datetime, now: datetime) -> None:
        """Raise 35114 when ``send_at`` is too soon, 35115 when it is too far."""
        lead = send_at - now
        if lead < self.min_lead:
            raise ApiError(35114, self._rule())
        if lead > self.horizon:
            raise ApiError(35115, self._rule())

    def _rule(self) -> str:
        lead = int(self.min_lead.total_seconds())
        horizon = int(self.horizon.total_seconds())
        days = f"{horizon // 86_400} days ({horizon} seconds)" if horizon % 86_400 == 0 else ""
        return (
            f"SendAt time must be between {lead} seconds and {days or f'{horizon} seconds'} "
            "in the future, inclusive"
        )


@dataclass(frozen=True, slots=True)
class CreateRequest:
    """The create parameters the sandbox reads, as sent (empty when absent)."""

    to: str = ""
    from_: str = ""
    messaging_service_sid: str = ""
    body: str = ""
    media_urls: tuple[str, ...] = ()
    send_at: str = ""
    schedule_type: str = ""
    status_callback: str = ""
    validity_period: str = ""

    @classmethod
    def from_form(cls, form: Mapping[str, Sequence[str]]) -> CreateRequest:
        """Read Twilio's parameter names from a decoded form (name → every value sent)."""

        def first(name: str) -> str:
            values = form.get(name) or [""]
            return values[0]

        return cls(
            to=first("To").strip(),
            from_=first("From").strip(),
            messaging_service_sid=first("MessagingServiceSid").strip(),
            body=first("Body"),
            media_urls=tuple(url for url in form.get("MediaUrl", ()) if url),
            send_at=first("SendAt").strip(),
            schedule_type=first("ScheduleType").strip(),
            status_callback=first("StatusCallback").strip(),
            validity_period=first("ValidityPeriod").strip(),
        )


@dataclass(frozen=True, slots=True)
class CreatePlan:
    """What a valid create becomes: its initial status, sender and, when scheduled, SendAt."""

    status: Status
    messaging_service_sid: str | None
    from_number: str | None
    send_at: datetime | None
    validity_period: int


def plan_create(request: CreateRequest, *, now: datetime, window: SchedulingWindow) -> CreatePlan:
    """Check ``request`` as Twilio would (raising :class:`ApiError`) and plan the message.

    ``from_number`` is ``None`` when the Messaging Service picks the sender. Recipient
    checks that need the sandbox's lists (opted out, landline) are the caller's.
    """
    check_recipient_format(request.to)
    service = _messaging_service(request)
    _check_content(request, through_service=service is not None)
    validity = _validity_period(request.validity_period)
    _check_status_callback(request.status_callback)
    send_at = _send_at(request, service, now=now, window=window)
    if send_at is not None:
        status = Status.SCHEDULED
    else:
        status = Status.ACCEPTED if service else Status.QUEUED
    from_number = None if request.from_ == service else (request.from_ or None)
    return CreatePlan(status, service, from_number, send_at, validity)


def check_recipient_format(to: str) -> None:
    """21604 without ``To``; 21211 unless it is E.164."""
    if not to:
        raise ApiError(21604, "A 'To' phone number is required.")
    if not is_e164(to):
        raise ApiError(21211, f"The 'To' number {to} is not a valid phone number.")


def _messaging_service(request: CreateRequest) -> str | None:
    # Twilio takes a Messaging Service SID in MessagingServiceSid or in From (error 35118).
    service = request.messaging_service_sid or (
        request.from_ if request.from_.upper().startswith("MG") else ""
    )
    if not service:
        if not request.from_:
            raise ApiError(
                21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message"
            )
        return None
    if not is_sid("MG", service):
        raise ApiError(21701, f"The Messaging Service {service} does not exist")
    return service


def _check_content(request: CreateRequest, *, through_service: bool) -> None:
    if not request.body and not request.media_urls:
        if through_service:
            raise ApiError(21619, "A Message Body, Media URL or Content SID is required")
        raise ApiError(21602, "Message body is required.")
    if len(request.body) > MAX_BODY:
        raise ApiError(21617, "The concatenated message body exceeds the 1600 character limit.")


def _validity_period(text: str) -> int:
    if not text:
        return MAX_VALIDITY_PERIOD
    try:
        seconds = int(text)
    except ValueError:
        seconds = 0
    if not 1 <= seconds <= MAX_VALIDITY_PERIOD:
        raise ApiError(21624, "Invalid validity period value")
    return seconds


def _check_status_callback(url: str) -> None:
    if not url:
        return
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApiError(21609, f"The StatusCallback URL {url} is not a valid URL.")


def _send_at(
    request: CreateRequest, service: str | None, *, now: datetime, window: SchedulingWindow
) -> datetime | None:
    kind = request.schedule_type
    if kind and kind != "fixed":
        raise ApiError(35126, "The ScheduleType value provided is not supported for this channel")
    if kind == "fixed" and not request.send_at:
        raise ApiError(35111, "SendAt timestamp is missing")
    if not request.send_at:
        return None
    if not kind:
        # Stricter than Twilio, which may drop SendAt and send at once: a scheduling client
        # that forgets ScheduleType=fixed has a bug the sandbox should show.
        raise ApiError(35126, "SendAt requires ScheduleType=fixed, the only supported value")
    if service is None:
        raise ApiError(35118, "MessagingServiceSid is required to schedule a message")
    try:
        send_at = parse_instant(request.send_at, source="SendAt")
    except DripError:
        raise ApiError(
            35114, f"SendAt {request.send_at!r} is not an ISO 8601 timestamp with a UTC offset"
        ) from None
    window.check(send_at, now)
    return send_at
