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

from dripsms.core.backoff import backoff
from dripsms.store import notifications

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Dripsms-Signature"
MAX_ATTEMPTS = 20


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


def _post(
    row: notifications.DueNotification, secret: str, now: datetime, timeout: float
) -> str | None:
    """POST one notification; None on a 2xx, else what went wrong."""
    body = _body(row.payload)
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature(secret, int(now.timestamp()), body),
        "User-Agent": "dripsms-notify",
    }
    try:
        answer = requests.post(row.url, data=body, headers=headers, timeout=timeout)
    except requests.RequestException as exc:
        return type(exc).__name__
    return None if 200 <= answer.status_code < 300 else f"HTTP {answer.status_code}"


def deliver_due(
    engine: Engine, secret: str, *, now: datetime, timeout: float = 5.0, limit: int = 100
) -> NotifyReport:
    """POST every notification that is due; no database transaction spans a request."""
    report = NotifyReport()
    with engine.connect() as connection:
        due = notifications.due_notifications(connection, now, limit)
    for row in due:
        error = _post(row, secret, now, timeout)
        attempts = row.attempts + 1
        with engine.begin() as connection:
            if error is None:
                notifications.mark_delivered(connection, row.id, attempts, now)
                report.delivered += 1
            elif attempts >= MAX_ATTEMPTS:
                notifications.mark_failed(connection, row.id, attempts, error)
                report.failed += 1
                log.error("notify webhook gave up", extra={"action": "alert", "id": row.id})
            else:
                delay = backoff(attempts, base=5.0, cap=3600.0, jitter=random.random())
                later = now + timedelta(seconds=delay)
                notifications.retry_at(connection, row.id, attempts, error, later)
                report.retrying += 1
    return report
