"""Twilio's default opt-out keywords (Advanced Opt-Out of a Messaging Service) and its replies.

Sources: twilio.com/docs/messaging/tutorials/advanced-opt-out (the opt-out keywords),
help.twilio.com article 223134027 "Twilio support for opt-out keywords" (opt-in and help
keywords, the 21610 block, the replies) and article 31560110671259 "How to Track
Opt-Out, Opt-In and Help Messages Using the OptOutType Parameter": a message is a
keyword only when its whole body is one (``Stop`` is, ``Stop please`` is not), in any
case; the webhook then carries ``OptOutType`` = STOP, START or HELP.
"""

from __future__ import annotations

from enum import StrEnum


class OptOutType(StrEnum):
    """The ``OptOutType`` of an inbound webhook: which kind of keyword the body was."""

    STOP = "STOP"
    START = "START"
    HELP = "HELP"


KEYWORDS: dict[str, OptOutType] = {
    **dict.fromkeys(
        ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"),
        OptOutType.STOP,
    ),
    **dict.fromkeys(("START", "YES", "UNSTOP"), OptOutType.START),
    **dict.fromkeys(("HELP", "INFO"), OptOutType.HELP),
}
"""Advanced Opt-Out's default keywords (English) and what each one is."""

REPLIES: dict[OptOutType, str] = {
    OptOutType.STOP: (
        "You have successfully been unsubscribed. You will not receive any more messages "
        "from this number. Reply START to resubscribe."
    ),
    OptOutType.START: (
        "You have successfully been re-subscribed to messages from this number. "
        "Reply HELP for help. Reply STOP to unsubscribe. Msg&Data Rates May Apply."
    ),
    OptOutType.HELP: "Reply STOP to unsubscribe. Msg&Data Rates May Apply.",
}
"""Twilio's default confirmation texts (a Messaging Service may customise them)."""


def keyword(body: str) -> OptOutType | None:
    """The kind of keyword ``body`` is, if its whole text (trimmed, any case) is one."""
    return KEYWORDS.get(body.strip().upper())
