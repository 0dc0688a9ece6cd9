"""Checking ``X-Twilio-Signature`` against the URL Twilio was given, not the request's Host.

Behind a TLS-terminating proxy the request arrives as http on another port; Twilio signed
the public https URL. So the URL is rebuilt from ``DRIPSMS_PUBLIC_URL`` plus the path and
the raw query string, exactly as Twilio requested it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import parse_qs, urlsplit

from fastapi import HTTPException, Request
from twilio.request_validator import RequestValidator


def public_url_of(request: Request, public_base: str) -> str:
    """The URL Twilio requested: the public base, this path, the raw query string."""
    base = public_base.rstrip("/")
    path = urlsplit(base).path.rstrip("/")
    own_path = request.url.path
    if path and own_path.startswith(path):
        own_path = own_path[len(path) :]  # mounted under the base's path already
    query = request.scope.get("query_string", b"").decode("latin-1")
    return f"{base}{own_path}" + (f"?{query}" if query else "")


async def verified_params(request: Request, auth_token: str, public_base: str) -> dict[str, str]:
    """The webhook's parameters, after checking its signature; 403 when it does not hold."""
    if not auth_token:  # an empty key would let anyone sign: never check against one
        raise HTTPException(503, "no auth token to check X-Twilio-Signature with")
    signature = request.headers.get("X-Twilio-Signature", "")
    url = public_url_of(request, public_base)
    validator = RequestValidator(auth_token)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        body = (await request.body()).decode("utf-8", "replace")
        if not signature or "bodySHA256" not in parse_qs(urlsplit(url).query):
            raise HTTPException(403, "invalid or missing X-Twilio-Signature")
        if not validator.validate(url, body, signature):
            raise HTTPException(403, "invalid or missing X-Twilio-Signature")
        try:
            data = json.loads(body)
        except ValueError:
            raise HTTPException(400, "the body is not JSON") from None
        fields = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        if isinstance(data, dict):
            fields.update({k: str(v) for k, v in data.items() if v is not None})
        return fields
    form = await request.form()
    params: dict[str, str] = {k: str(v) for k, v in form.multi_items()}
    if not signature or not validator.validate(url, params, signature):
        raise HTTPException(403, "invalid or missing X-Twilio-Signature")
    return params


def sign(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """What Twilio would put in ``X-Twilio-Signature`` (for tests and the sandbox)."""
    return str(RequestValidator(auth_token).compute_signature(url, dict(params)))
