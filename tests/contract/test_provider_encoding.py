"""The provider form-encodes the SDK's parameters itself, exactly as ``requests`` would:
given a dict, ``requests`` checks it against two ``runtime_checkable`` protocols on every
request, and those checks were about 7% of a worker's CPU."""

from __future__ import annotations

import cProfile
import pstats
import typing
from datetime import UTC, datetime
from typing import Any

import pytest
from requests.models import RequestEncodingMixin

from dripsms.provider.twilio import TwilioProvider, form_encode
from dripsms.sandbox import (
    SANDBOX_ACCOUNT_SID,
    SANDBOX_MESSAGING_SERVICE_SID,
    Sandbox,
    SandboxServer,
    new_auth_token,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TO = "+14155550100"
BODY = "Hi Zoë & co: 100% = +1 ☺ café?a=b#c\nReply STOP"


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"To": TO, "Body": BODY, "MessagingServiceSid": "MG1"},
        {"To": TO, "Body": "", "StatusCallback": "http://h/x?y=1&z=%20"},
        {"MediaUrl": ["http://a/1", "http://a/2?x=y"], "Skip": None, "Count": 3, "On": True},
        {"List": [], "Mixed": ["a", None, "b"], "Bytes": b"\xc3\xa9", "Key é": "v"},
        {"PageSize": 50, "DateSent>": "2026-03-01"},
    ],
)
def test_form_encoding_is_what_requests_makes_of_the_dict(values: dict[str, Any]) -> None:
    assert form_encode(values) == RequestEncodingMixin._encode_params(values)


def _protocol_checks(profile: cProfile.Profile) -> int:
    """``isinstance`` checks against a ``runtime_checkable`` protocol in the profile."""
    code = typing._ProtocolMeta.__instancecheck__.__code__  # type: ignore[attr-defined]
    stats = pstats.Stats(profile)
    return sum(
        row[1]  # ncalls
        for (filename, line, name), row in stats.stats.items()  # type: ignore[attr-defined]
        if (filename, line, name) == (code.co_filename, code.co_firstlineno, code.co_name)
    )


def test_a_create_reaches_the_sandbox_whole_with_fewer_protocol_checks() -> None:
    token = new_auth_token()
    sandbox = Sandbox(auth_token=token, seed=0)
    sandbox.set_now(T0)
    with SandboxServer(sandbox) as server:
        provider = TwilioProvider(
            account_sid=SANDBOX_ACCOUNT_SID, auth_token=token, api_base=server.base_url
        )
        provider.create(
            to=TO, body="warm-up", messaging_service_sid=SANDBOX_MESSAGING_SERVICE_SID,
            send_at=None, status_callback=None,
        )  # fmt: skip
        profile = cProfile.Profile()
        profile.enable()
        handoff = provider.create(
            to=TO, body=BODY, messaging_service_sid=SANDBOX_MESSAGING_SERVICE_SID,
            send_at=None, status_callback="http://127.0.0.1:9/cb?m=1&s=a%2Bb",
        )  # fmt: skip
        profile.disable()
        listed = provider.recent(to=TO, limit=50)
    assert [m.body for m in listed if m.sid == handoff.sid] == [BODY]
    # requests merges the SDK's headers with the session's: two checks left (nine before)
    assert _protocol_checks(profile) <= 2
