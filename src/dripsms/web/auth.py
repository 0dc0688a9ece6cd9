"""API authentication: a bearer token, or HTTP Basic with the token as the password (which
Twilio Studio can put in a URL). Tokens come from ``DRIPSMS_API_TOKENS``; constant time."""

from __future__ import annotations

import base64
import binascii
import hmac

from fastapi import HTTPException, Request

from dripsms.web.deps import services_of

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="dripsms", Basic realm="dripsms"'}


def _presented(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        _, _, password = decoded.partition(":")
        return password or None
    return None


def require_token(request: Request) -> None:
    """401 unless the request carries one of the configured tokens."""
    tokens = services_of(request).api_tokens
    presented = _presented(request.headers.get("Authorization", ""))
    if presented is None:
        raise HTTPException(401, "missing credentials: send a bearer token", headers=CHALLENGE)
    valid = False
    for token in tokens:  # every token is compared, so timing says nothing about which
        valid |= hmac.compare_digest(token.encode(), presented.encode())
    if not valid:
        raise HTTPException(401, "invalid token", headers=CHALLENGE)
