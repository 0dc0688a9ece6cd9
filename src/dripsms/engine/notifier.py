"""Notify webhooks: a JSON POST signed with HMAC-SHA256, retried with backoff until a 2xx.

The signature header is ``X-Dripsms-Signature: t=<unix time>,v1=<hex>`` where the HMAC
covers ``"<t>.<body>"`` with the notify secret, so a receiver can reject stale replays.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
from sqlalchemy import Engine
from twilio.request_validator import RequestValidator

from dripsms.core.backoff import backoff
from dripsms.engine.studio import FORM_KEY
from dripsms.store import notifications

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Dripsms-Signature"
MAX_ATTEMPTS = 20
FORWARD_MAX_ATTEMPTS = 6
"""A text forwarded to a Studio flow is retried for about five minutes, not for hours: an
intake that starts long after the patient texted would surprise them."""


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes) -> bool:
    """Whether ``header`` signs ``body`` (for receivers, and for tests)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    if "t" not in parts or "v1" not in parts or not parts["t"].isdigit():
        return False
    return hmac.compare_digest(signature(secret, int(parts["t"]), body), header)


@dataclass(slots=True)
class NotifyReport:
    """What a delivery pass did."""

    delivered: int = 0
    retrying: int = 0
    failed: int = 0


def _body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False).encode()


def _send(
    url: str, data: bytes | dict[str, str], headers: dict[str, str], timeout: float
) -> str | None:
    """POST ``data``; None on a 2xx, else what went wrong (the exception's name, or the
    status: ``HTTP 500``)."""
    try:
        answer = requests.post(url, data=data, headers=headers, timeout=timeout)
    except requests.RequestException as exc:
        return type(exc).__name__
    return None if 200 <= answer.status_code < 300 else f"HTTP {answer.status_code}"


def _forward(
    row: notifications.DueNotification, auth_token: str | None, timeout: float
) -> str | None:
    """POST a text's original parameters to a Studio flow as Twilio posts them: form-encoded,
    signed with ``X-Twilio-Signature`` (the account's auth token over the URL and the
    parameters). None on a 2xx; Studio's answer is otherwise not read."""
    params = {str(k): str(v) for k, v in dict(row.payload[FORM_KEY]).items()}
    headers = {"User-Agent": "dripsms-forward"}
    if auth_token:
        headers["X-Twilio-Signature"] = RequestValidator(auth_token).compute_signature(
            row.url, params
        )
    return _send(row.url, params, headers, timeout)


def _post(
    row: notifications.DueNotification,
    secret: str,
    now: datetime,
    timeout: float,
    auth_token: str | None = None,
) -> str | None:
    """POST one notification; None on a 2xx, else what went wrong."""
    if FORM_KEY in row.payload:
        return _forward(row, auth_token, timeout)
    body = _body(row.payload)
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature(secret, int(now.timestamp()), body),
        "User-Agent": "dripsms-notify",
    }
    return _send(row.url, body, headers, timeout)


def deliver_due(
    engine: Engine,
    secret: str,
    *,
    now: datetime,
    timeout: float = 5.0,
    limit: int = 100,
    twilio_auth_token: str | None = None,
) -> NotifyReport:
    """POST every notification that is due; no database transaction spans a request.

    ``twilio_auth_token`` signs the texts forwarded to a Studio flow.
    """
    report = NotifyReport()
    # Claimed, so that two workers never post the same one; held long enough for every
    # post of this pass to time out before another worker may try it again.
    hold = timedelta(seconds=timeout * limit + 60)
    with engine.begin() as connection:
        due = notifications.claim_due_notifications(connection, now, limit, hold)
    for row in due:
        error = _post(row, secret, now, timeout, twilio_auth_token)
        attempts = row.attempts + 1
        limit_of_row = FORWARD_MAX_ATTEMPTS if FORM_KEY in row.payload else MAX_ATTEMPTS
        with engine.begin() as connection:
            if error is None:
                notifications.mark_delivered(connection, row.id, attempts, now)
                report.delivered += 1
            elif attempts >= limit_of_row:
                notifications.mark_failed(connection, row.id, attempts, error)
                report.failed += 1
                log.error("notify webhook gave up", extra={"action": "alert", "id": row.id})
            else:
                delay = backoff(attempts, base=5.0, cap=3600.0, jitter=random.random())
                later = now + timedelta(seconds=delay)
                notifications.retry_at(connection, row.id, attempts, error, later)
                report.retrying += 1
    return report
