"""Studio and dripsms on one number: dripsms is the number's one inbound webhook, and a
text that is neither a reply to dripsms nor a keyword is forwarded to the intake flow.

The forward is a notification (``store.notifications``): queued in the webhook's own
transaction, POSTed by the dispatcher's notify pass with Twilio's original parameters,
form-encoded and signed with ``X-Twilio-Signature`` as Twilio signs its own webhooks, and
retried for a few minutes. Twilio's answer is never held up by it (Twilio waits 15 s in
all for a webhook). See docs/twilio.md#studio-and-dripsms-on-one-number.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection

from dripsms.core.states import ReplyKind
from dripsms.engine.inbound import Call, InboundResult
from dripsms.store.intake import open_to_intake
from dripsms.store.notifications import queue_notification

log = logging.getLogger(__name__)
FORWARDED = "forwarded to the Studio flow"
"""The ``reason`` of a stored text that went to the intake flow."""
STUDIO_TARGET = "studio"
"""The notification target of a forward."""
FORM_KEY = "twilio_form"
"""A forward's payload: ``{FORM_KEY: {parameter: value}}``, POSTed form-encoded."""


def forward_parameters(call: Call) -> dict[str, str]:
    """Twilio's original webhook parameters (a recovered text: the ones dripsms knows)."""
    if call.inbound.params:
        return dict(call.inbound.params)
    inbound = call.inbound
    return {
        "MessageSid": inbound.message_sid,
        "SmsSid": inbound.message_sid,
        "From": inbound.from_phone,
        "To": inbound.to,
        "Body": inbound.body,
        "NumMedia": "0",
    }


def forward_to_intake(
    connection: Connection, flow_url: str | None, call: Call, result: InboundResult
) -> InboundResult:
    """Queue the text for the Studio flow when it is not dripsms's; the result says so.

    Forwarded: an unmatched text (no question was ever asked of this phone) from a phone
    number that is not opted out and not in an enrollment that has not ended, and that
    is not a possible opt-out. dripsms then answers nothing itself (the flow does).
    """
    if (
        flow_url is None
        or call.sender is None
        or result.kind != ReplyKind.UNMATCHED
        or result.reason is not None
        or not open_to_intake(connection, call.sender)
    ):
        return result
    queue_notification(
        connection, None, STUDIO_TARGET, flow_url, {FORM_KEY: forward_parameters(call)}, call.at
    )
    log.info("inbound text forwarded to the Studio flow", extra={"action": "studio_forward"})
    result.reason = FORWARDED
    result.answers = []
    return result


__all__ = ["FORM_KEY", "FORWARDED", "STUDIO_TARGET", "forward_parameters", "forward_to_intake"]
