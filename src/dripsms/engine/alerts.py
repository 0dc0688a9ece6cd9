"""What a ``notify`` tells the care team: who, which step, the answer and its value, why.

The same facts go into the staff SMS (a sequence may word it with a ``message`` template
that reads ``alert.*``) and, as structured fields, into the notify webhook's payload.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dripsms.core.phones import mask_phone
from dripsms.core.sequence.model import Sequence
from dripsms.core.templates import render
from dripsms.errors import TemplateError

log = logging.getLogger(__name__)
MAX_ANSWER = 160
"""Characters of the patient's text quoted in a staff SMS."""


@dataclass(frozen=True, slots=True)
class Alert:
    """The facts of one alert."""

    target: str
    sequence: Sequence
    step_id: str
    enrollment_id: int
    contact_id: int
    phone: str
    answer: str | None
    """The patient's text; None when there was no answer."""
    value: Any
    """The parsed answer (8 for "8/10"); None without a readable one."""
    reason: str
    """``reply`` (a rule matched), ``no_reply`` (the window closed) or ``gave_up``."""
    rule: str | None
    tries: int
    window: timedelta
    at: datetime
    tag: str
    public_url: str = ""
    """Where dripsms is reached (``DRIPSMS_PUBLIC_URL``): the link to the console's page."""


def contact_url(public_url: str, phone: str) -> str | None:
    """The contact's page in the console, ``{public_url}/console/contacts/{E.164}``, for a
    nurse to open from an alert (the webhook's ``contact.url``); None without a public URL."""
    if not public_url:
        return None
    return f"{public_url.rstrip('/')}/console/contacts/{phone}"


def sms_url(public_url: str, contact_id: int) -> str | None:
    """The same page by the contact's id, ``{public_url}/console/c/{id}``: for the staff SMS,
    which never carries the whole number (staff phones are not a secure channel)."""
    if not public_url:
        return None
    return f"{public_url.rstrip('/')}/console/c/{contact_id}"


def masked(phone: str) -> str:
    """The number masked with GSM-7 characters (a bullet would make the SMS UCS-2)."""
    return mask_phone(phone).replace("•", "*")


def who(context: dict[str, Any], phone: str) -> str:
    """ "Ada Lovelace (+1415***0100)", or "a patient (+1415***0100)" without a name."""
    parts = [context.get(name) for name in ("first_name", "last_name")]
    name = " ".join(str(p).strip() for p in parts if isinstance(p, str) and p.strip())
    return f"{name or 'a patient'} ({masked(phone)})"


def _hours(window: timedelta) -> str:
    hours = window.total_seconds() / 3600
    if hours >= 1 and hours == int(hours):
        return f"{int(hours)} hour{'s' if hours != 1 else ''}"
    return f"{int(window.total_seconds() // 60)} minutes"


def why(alert: Alert) -> str:
    """Why the alert was raised, in words."""
    if alert.reason == "no_reply":
        return f"no reply after {_hours(alert.window)}"
    if alert.reason == "gave_up":
        return f"no readable answer after {alert.tries} tries"
    return f"rule matched: {alert.rule}" if alert.rule else "answered"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _quoted(answer: str) -> str:
    flat = " ".join(answer.split())
    return f'"{flat[:MAX_ANSWER]}{"..." if len(flat) > MAX_ANSWER else ""}"'


def alert_fields(alert: Alert, context: dict[str, Any]) -> dict[str, Any]:
    """What a ``message`` template reads as ``alert.*``."""
    return {
        "who": who(context, alert.phone),
        "phone": masked(alert.phone),
        "step": alert.step_id,
        "answer": alert.answer,
        "value": alert.value,
        "reason": alert.reason,
        "why": why(alert),
        "link": sms_url(alert.public_url, alert.contact_id) or "",
    }


def default_text(alert: Alert, context: dict[str, Any]) -> str:
    """The staff SMS when the action gives no ``message``."""
    head = f"dripsms alert ({alert.sequence.name}): {who(context, alert.phone)}"
    if alert.reason == "no_reply":
        text = f"{head} did not answer {alert.step_id}: {why(alert)}."
    elif alert.reason == "gave_up":
        last = f" (last: {_quoted(alert.answer)})" if alert.answer else ""
        text = f"{head} gave no readable answer to {alert.step_id} after {alert.tries} tries{last}."
    else:
        answer = _quoted(alert.answer or "")
        read = f" = {_value(alert.value)}" if alert.value is not None else ""
        text = f"{head} answered {alert.step_id}: {answer}{read}; {why(alert)}."
    link = sms_url(alert.public_url, alert.contact_id)
    return f"{text} {link}" if link else text


def alert_text(alert: Alert, context: dict[str, Any], message: str | None) -> str:
    """The staff SMS: the action's ``message`` rendered, or :func:`default_text`."""
    if message is None:
        return default_text(alert, context)
    try:
        return render(message, {**context, "alert": alert_fields(alert, context)})
    except TemplateError as exc:
        log.warning(
            "notify message cannot render; the default text is sent: %s", exc,
            extra={"action": "rule", "enrollment_id": alert.enrollment_id},
        )  # fmt: skip
        return default_text(alert, context)


def alert_payload(alert: Alert, text: str) -> dict[str, Any]:
    """The notify webhook's JSON: the alert's structured fields and its text."""
    event = {"reply": "reply", "no_reply": "no_reply", "gave_up": "no_readable_reply"}
    return {
        "event": event.get(alert.reason, alert.reason),
        "target": alert.target,
        "sequence": alert.sequence.key,
        "enrollment_id": alert.enrollment_id,
        "contact": {
            "id": alert.contact_id,
            "phone": alert.phone,
            "url": contact_url(alert.public_url, alert.phone),
        },
        "phone": alert.phone,
        "step": alert.step_id,
        "answer": alert.answer,
        "reply": alert.answer,
        "value": alert.value,
        "reason": alert.reason,
        "why": why(alert),
        "rule": alert.rule,
        "text": text,
        "at": alert.at.isoformat(),
        "trigger": alert.tag,
    }
