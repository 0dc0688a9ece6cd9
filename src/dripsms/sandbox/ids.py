"""Twilio-shaped identifiers, and the sandbox's fixed test identity."""

from __future__ import annotations

import random
import re
import secrets

DEFAULT_PORT = 8787
"""Where ``dripsms sandbox`` listens unless told otherwise."""

SANDBOX_ACCOUNT_SID = "AC5a4db0c55a4db0c55a4db0c55a4db0c5"
"""The account every sandbox starts with (a well-formed ``AC`` SID, not a real account)."""
SANDBOX_AUTH_TOKEN = "5a4db0c5" * 4
"""The published auth token of :data:`SANDBOX_ACCOUNT_SID` in a sandbox made without one.

Anyone can sign with it: dripsms never accepts a webhook signed with it (``dripsms run``
gives its sandbox a fresh token, see :func:`new_auth_token`)."""
SANDBOX_API_KEY_SID = "SK5a4db0c55a4db0c55a4db0c55a4db0c5"
"""An API key of the sandbox account (``Client(key_sid, secret, account_sid)``)."""
SANDBOX_API_KEY_SECRET = "sandboxsecret5a4db0c55a4db0c55a4"
"""The secret of :data:`SANDBOX_API_KEY_SID`."""
SANDBOX_MESSAGING_SERVICE_SID = "MG5a4db0c55a4db0c55a4db0c55a4db0c5"
"""A Messaging Service SID to schedule through (any ``MG`` + 32 hex is accepted)."""
SANDBOX_FROM_NUMBER = "+15005550006"
"""The sender a Messaging Service uses when no ``From`` is given (Twilio's magic test number)."""

_HEX = "0123456789abcdef"
_E164 = re.compile(r"\+[1-9][0-9]{7,14}")


def new_sid(prefix: str, rng: random.Random) -> str:
    """A fresh SID: the two-letter ``prefix`` and 32 lowercase hex digits."""
    return prefix + "".join(rng.choice(_HEX) for _ in range(32))


def new_auth_token() -> str:
    """A fresh, unguessable auth token (32 hex digits, like Twilio's)."""
    return secrets.token_hex(16)


def is_sid(prefix: str, text: str) -> bool:
    """Whether ``text`` is ``prefix`` followed by exactly 32 hex digits."""
    return re.fullmatch(re.escape(prefix) + "[0-9a-fA-F]{32}", text) is not None


def is_e164(number: str) -> bool:
    """Whether ``number`` is E.164: ``+``, then 8 to 15 digits, the first not 0."""
    return _E164.fullmatch(number) is not None
