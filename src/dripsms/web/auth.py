"""API authentication: a bearer token, or HTTP Basic with the token as the password (which
Twilio Studio can put in a URL). Tokens come from ``DRIPSMS_API_TOKENS``; constant time.

FastAPI's security classes read the header, so that the OpenAPI document declares both
schemes and every /v1 route requires one of them; :func:`require_token` judges the token.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Iterable
from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import (
    HTTPAuthorizationCredentials,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
)
from fastapi.security.utils import get_authorization_scheme_param
from starlette.requests import HTTPConnection

from dripsms.web.dependencies import ServicesDep

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="dripsms", Basic realm="dripsms"'}


class LenientBasic(HTTPBasic):
    """:class:`HTTPBasic` that never answers itself: credentials it cannot read (not base64,
    not UTF-8) are no credentials, and :func:`require_token` gives the one 401 for them."""

    async def __call__(  # type: ignore[override]
        self, request: HTTPConnection
    ) -> HTTPBasicCredentials | None:
        scheme, param = get_authorization_scheme_param(request.headers.get("Authorization"))
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(param, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        username, _, password = decoded.partition(":")
        return HTTPBasicCredentials(username=username, password=password)


BEARER = HTTPBearer(
    scheme_name="HTTPBearer", auto_error=False, description="One of `DRIPSMS_API_TOKENS`."
)
BASIC = LenientBasic(
    scheme_name="HTTPBasic",
    auto_error=False,
    realm="dripsms",
    description="Any user name; the password is a token.",
)


def require_token(
    services: ServicesDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
    basic: Annotated[HTTPBasicCredentials | None, Depends(BASIC)],
) -> None:
    """401 unless the request carries one of the configured tokens."""
    check_token(bearer, basic, services.api_tokens, missing="send a bearer token")


def check_token(
    bearer: HTTPAuthorizationCredentials | None,
    basic: HTTPBasicCredentials | None,
    tokens: Iterable[str],
    *,
    missing: str,
) -> None:
    """401 unless the bearer token (or the Basic password) is one of ``tokens``; ``missing``
    says what to send when the request carries neither."""
    presented = bearer.credentials if bearer else (basic.password if basic else None)
    if not presented:
        raise HTTPException(401, f"missing credentials: {missing}", headers=CHALLENGE)
    valid = False
    for token in tokens:  # every token is compared, in constant time: timing says not which
        valid |= hmac.compare_digest(token.encode(), presented.encode())
    if not valid:
        raise HTTPException(401, "invalid token", headers=CHALLENGE)


Caller = Depends(require_token)
"""The dependency of every /v1 route: an authenticated caller."""
