"""Posting a signed webhook as Twilio does: a form, ``X-Twilio-Signature``, one attempt.

Status callbacks and inbound-message webhooks share this. Twilio signs the full URL it
requests (scheme, host, port, path, query) followed by every POST parameter sorted by
name, with HMAC-SHA1 and the account's auth token; the SDK's ``RequestValidator``
implements exactly that, so the sandbox signs with it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.client import HTTPResponse
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

from twilio.request_validator import RequestValidator

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Signature"
IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"
USER_AGENT = "TwilioProxy/1.1 (dripsms sandbox)"
MAX_ANSWER_BYTES = 64 * 1024
"""How much of an answer is read: Twilio refuses TwiML over 64 kB (error 11750)."""


def sign(url: str, params: Sequence[tuple[str, str]], auth_token: str) -> str:
    """``X-Twilio-Signature`` of a form POST of ``params`` to ``url``."""
    signature: str = RequestValidator(auth_token).compute_signature(url, dict(params))
    return signature


@dataclass(frozen=True, slots=True)
class SignedPost:
    """One webhook request as Twilio sends it: where it goes and its form parameters."""

    url: str
    params: tuple[tuple[str, str], ...]
    auth_token: str = field(repr=False)
    idempotency_token: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def form(self) -> dict[str, str]:
        """The parameters as a dict (each is sent once)."""
        return dict(self.params)

    @property
    def signature(self) -> str:
        """``X-Twilio-Signature``: HMAC-SHA1 of the URL and sorted parameters, as Twilio signs."""
        return sign(self.url, self.params, self.auth_token)


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """What the receiver answered: its status, ``Content-Type`` and body, or why there is none."""

    status_code: int | None
    content_type: str = ""
    body: bytes = b""
    error: str | None = None
    """Why no HTTP answer came (connection refused, timeout…); ``None`` when one came."""
    too_large: bool = False
    """The body was longer than :data:`MAX_ANSWER_BYTES` (only that much is kept)."""

    @property
    def ok(self) -> bool:
        """A 2xx answer."""
        return self.status_code is not None and 200 <= self.status_code < 300


def post_form(
    url: str,
    params: Sequence[tuple[str, str]],
    *,
    signature: str,
    idempotency_token: str,
    timeout: float,
) -> HttpAnswer:
    """POST ``params`` form-encoded to ``url`` once: a failure is not retried (as Twilio)."""
    request = Request(
        url,
        data=urlencode(params).encode(),
        method="POST",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            SIGNATURE_HEADER: signature,
            IDEMPOTENCY_HEADER: idempotency_token,
            "User-Agent": USER_AGENT,
        },
    )
    try:
        with urlopen(request, timeout=timeout) as response:
            return _answer(response, response.status)
    except HTTPError as exc:
        try:
            return _answer(exc, exc.code)
        finally:
            exc.close()
    except (URLError, OSError) as exc:
        # A receiver that is down or slow is the receiver's problem, as with Twilio.
        log.debug("webhook not delivered", extra={"action": "webhook_failed"})
        return HttpAnswer(None, error=str(getattr(exc, "reason", exc)))


def _answer(response: HTTPResponse | HTTPError, status: int) -> HttpAnswer:
    try:
        body = response.read(MAX_ANSWER_BYTES + 1)
    except OSError as exc:  # the receiver hung up or stalled mid-answer
        return HttpAnswer(status, error=str(exc))
    return HttpAnswer(
        status,
        content_type=response.headers.get("Content-Type", "") or "",
        body=body[:MAX_ANSWER_BYTES],
        too_large=len(body) > MAX_ANSWER_BYTES,
    )
