"""Reading the TwiML an inbound-message webhook answers: the ``<Message>`` replies it asks for.

``<Response><Message>text</Message></Response>`` sends ``text`` back to the sender; a
``<Message>`` may instead hold ``<Body>`` and ``<Media>`` nouns, and take ``to``, ``from``
and ``action`` (or the older ``statusCallback``) attributes. ``<Response/>`` (or an empty
answer) sends nothing. Sources: twilio.com/docs/messaging/twiml and
twilio.com/docs/messaging/twiml/message; the error codes are Twilio's (12100 document
parse failure, 12300 invalid Content-Type, 14110 invalid verb for a message reply, and
the warning 14103 for a ``<Message>`` with no text and no media, or over 1600 characters,
which is not sent while the others are). The sandbox does not follow ``<Redirect>``: it
reports it as unsupported (14110).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import urljoin

from dripsms.errors import DripError

MAX_BODY = 1600
XML_TYPES = frozenset({"text/xml", "application/xml", "text/html"})
"""Content types a TwiML answer may come with."""


class TwimlError(DripError):
    """An answer the sandbox cannot turn into replies; ``code`` is Twilio's error code."""

    def __init__(self, code: int, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


@dataclass(frozen=True, slots=True)
class TwimlMessage:
    """One ``<Message>``: its text and media; ``to``/``from_`` are ``None`` for the defaults."""

    body: str
    media_urls: tuple[str, ...] = ()
    to: str | None = None
    from_: str | None = None
    status_callback: str | None = None

    @property
    def problem(self) -> str | None:
        """Why Twilio would not send it (warning 14103), or ``None``."""
        if not self.body and not self.media_urls:
            return "14103: Invalid Body: the <Message> has no text and no media"
        if len(self.body) > MAX_BODY:
            return f"14103: Invalid Body: the <Message> is over {MAX_BODY} characters"
        return None


def read_answer(content_type: str, body: bytes, *, base_url: str) -> list[TwimlMessage]:
    """The messages a webhook's 2xx answer asks for (none for an empty one).

    ``base_url`` (the webhook's URL) resolves relative ``action`` URLs. Raises
    :class:`TwimlError` for a content type that is not XML or a document that is not TwiML.
    """
    if not body.strip():
        return []
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type not in XML_TYPES:
        raise TwimlError(12300, f"Invalid Content-Type {content_type or '(none)'!r} for TwiML")
    return parse(body, base_url=base_url)


def parse(document: bytes | str, *, base_url: str = "") -> list[TwimlMessage]:
    """The ``<Message>`` verbs of a messaging TwiML document, in order."""
    try:
        # The document comes from the user's own webhook; expat refuses entity expansion
        # bombs and ElementTree resolves no external entities.
        root = ET.fromstring(document)
    except ET.ParseError as exc:
        raise TwimlError(12100, f"Document parse failure: {exc}") from None
    if root.tag != "Response":
        raise TwimlError(12100, f"Document parse failure: the root is <{root.tag}>, not <Response>")
    messages = []
    for verb in root:
        if verb.tag != "Message":
            raise TwimlError(
                14110, f"Invalid Verb for Message Reply: <{verb.tag}> (the sandbox reads <Message>)"
            )
        messages.append(_message(verb, base_url))
    return messages


def _message(verb: ET.Element, base_url: str) -> TwimlMessage:
    bodies = [child.text or "" for child in verb if child.tag == "Body"]
    media = tuple((child.text or "").strip() for child in verb if child.tag == "Media")
    # Plain text, or <Body> nouns: <Message>Hi</Message> equals <Message><Body>Hi</Body></Message>.
    text = "".join(bodies) if bodies else (verb.text or "")
    callback = verb.get("action") or verb.get("statusCallback")
    return TwimlMessage(
        body=text.strip(),
        media_urls=tuple(url for url in media if url),
        to=verb.get("to") or None,
        from_=verb.get("from") or None,
        status_callback=urljoin(base_url, callback) if callback else None,
    )
