"""Listing messages as Twilio does: filters, newest first, pages linked by page tokens.

``DateSent``, ``DateSent<`` (on or before) and ``DateSent>`` (on or after) compare UTC
days, whatever time the value carries (the SDK sends ``date_sent_after`` as a full
instant under ``DateSent>``). A message not sent yet (scheduled, accepted, queued, or
canceled before it went out) has no ``date_sent`` and so never matches a ``DateSent``
filter; ``To`` and ``From`` alone list it. Page tokens are cursors (``PA`` + the SID of the
last row shown, ``PB`` + the first), so messages created while a client pages do not
shift the rows it has yet to see.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date
from urllib.parse import urlencode

from dripsms.sandbox.errors import invalid_parameter
from dripsms.sandbox.message import Message

FILTERS = ("To", "From", "DateSent", "DateSent<", "DateSent>")
PAGING = ("PageSize", "Page", "PageToken")
LIST_PARAMETERS = FILTERS + PAGING
"""The query parameters a list reads (Twilio's names)."""
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True, slots=True)
class MessageQuery:
    """The filters of one list request; ``raw`` keeps them as sent, for the page links."""

    to: str = ""
    from_: str = ""
    sent_on: date | None = None
    sent_on_or_before: date | None = None
    sent_on_or_after: date | None = None
    raw: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> MessageQuery:
        """Read ``To``, ``From`` and the ``DateSent`` family (20422 on an unreadable date)."""
        on = before = after = None
        raw = [(name, params[name]) for name in FILTERS if params.get(name)]
        for name, value in raw:
            if name == "DateSent":
                # Twilio's docs also put the operator in the value: DateSent=>=2026-11-27.
                if value.startswith(">="):
                    after = _day(name, value[2:])
                elif value.startswith("<="):
                    before = _day(name, value[2:])
                else:
                    on = _day(name, value)
            elif name == "DateSent<":
                before = _day(name, value)
            elif name == "DateSent>":
                after = _day(name, value)
        return cls(
            to=params.get("To", ""),
            from_=params.get("From", ""),
            sent_on=on,
            sent_on_or_before=before,
            sent_on_or_after=after,
            raw=tuple(raw),
        )

    def matches(self, message: Message) -> bool:
        """Whether ``message`` passes every filter."""
        if self.to and message.to != self.to:
            return False
        if self.from_ and message.from_ != self.from_:
            return False
        if (
            self.sent_on is None
            and self.sent_on_or_before is None
            and self.sent_on_or_after is None
        ):
            return True
        if message.date_sent is None:
            return False
        day = message.date_sent.astimezone(UTC).date()
        return not (
            (self.sent_on is not None and day != self.sent_on)
            or (self.sent_on_or_before is not None and day > self.sent_on_or_before)
            or (self.sent_on_or_after is not None and day < self.sent_on_or_after)
        )


@dataclass(frozen=True, slots=True)
class PageRequest:
    """Which page a list request asks for."""

    size: int = DEFAULT_PAGE_SIZE
    number: int = 0
    token: str = ""

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> PageRequest:
        """Read ``PageSize`` (clamped to 1000), ``Page`` and ``PageToken``."""
        size = _whole(params, "PageSize", DEFAULT_PAGE_SIZE, minimum=1)
        number = _whole(params, "Page", 0, minimum=0)
        return cls(min(size, MAX_PAGE_SIZE), number, params.get("PageToken", ""))


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing, with the tokens of its neighbours."""

    messages: list[Message]
    request: PageRequest
    next_token: str | None
    previous_token: str | None

    @property
    def start(self) -> int:
        """Index of the first row, as Twilio counts it (page number x page size)."""
        return self.request.number * self.request.size

    @property
    def end(self) -> int:
        """Index of the last row (``start`` for an empty page)."""
        return self.start + max(len(self.messages) - 1, 0)


def newest_first(messages: Sequence[Message]) -> list[Message]:
    """Messages by creation, newest first (creation order breaks ties)."""
    return sorted(messages, key=lambda m: (m.date_created, m.sequence), reverse=True)


def paginate(ordered: Sequence[Message], request: PageRequest) -> Page:
    """The page ``request`` asks for out of ``ordered`` (20422 for an unknown page token)."""
    if request.token:
        cursor = _position(ordered, request.token[2:])
        if request.token.startswith("PA"):
            rows = list(ordered[cursor + 1 : cursor + 1 + request.size])
        elif request.token.startswith("PB"):
            rows = list(ordered[max(cursor - request.size, 0) : cursor])
        else:
            raise invalid_parameter(f"Invalid PageToken {request.token!r}")
    else:
        offset = request.number * request.size
        rows = list(ordered[offset : offset + request.size])
    if not rows:
        return Page(rows, request, None, None)
    first, last = _position(ordered, rows[0].sid), _position(ordered, rows[-1].sid)
    next_token = f"PA{rows[-1].sid}" if last + 1 < len(ordered) else None
    previous_token = f"PB{rows[0].sid}" if first > 0 else None
    return Page(rows, request, next_token, previous_token)


def page_uri(path: str, query: MessageQuery, size: int, number: int, token: str = "") -> str:
    """A list URI that keeps the filters, as Twilio's ``*_page_uri`` fields do."""
    params = [*query.raw, ("PageSize", str(size)), ("Page", str(number))]
    if token:
        params.append(("PageToken", token))
    return f"{path}?{urlencode(params)}"


def _position(ordered: Sequence[Message], sid: str) -> int:
    for index, message in enumerate(ordered):
        if message.sid == sid:
            return index
    raise invalid_parameter(f"Invalid PageToken: no message {sid} in this listing")


def _day(name: str, value: str) -> date:
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        raise invalid_parameter(f"{name} {value!r} is not a date (YYYY-MM-DD)") from None


def _whole(params: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    text = params.get(name, "")
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise invalid_parameter(f"{name} must be a whole number >= {minimum}, not {text!r}")
    return value
