"""Sandbox identities: SIDs differ from run to run unless seeded; a sandbox made with a fresh
auth token accepts only it, and signs its callbacks and webhooks only with it."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sandbox_support import START
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from dripsms.sandbox import (
    SANDBOX_ACCOUNT_SID,
    SANDBOX_AUTH_TOKEN,
    SANDBOX_MESSAGING_SERVICE_SID,
    Sandbox,
    SandboxServer,
    StatusCallback,
    new_auth_token,
)
from dripsms.sandbox.rules import CreateRequest

PHONE = "+14155550100"


def first_sids(sandbox: Sandbox, count: int = 3) -> list[str]:
    request = CreateRequest(
        to=PHONE, messaging_service_sid=SANDBOX_MESSAGING_SERVICE_SID, body="hi"
    )
    return [sandbox.create_message(SANDBOX_ACCOUNT_SID, request).sid for _ in range(count)]


def test_two_unseeded_sandboxes_hand_out_different_sids() -> None:
    with Sandbox(now=START) as one, Sandbox(now=START) as two:
        assert not set(first_sids(one)) & set(first_sids(two))


def test_a_seed_makes_sids_reproducible() -> None:
    with Sandbox(now=START, seed=7) as one, Sandbox(now=START, seed=7) as two:
        assert first_sids(one) == first_sids(two)


class Collected:
    def __init__(self) -> None:
        self.callbacks: list[StatusCallback] = []

    def deliver(self, callbacks: Sequence[StatusCallback]) -> None:
        self.callbacks.extend(callbacks)

    def close(self) -> None:
        pass


def client(base_url: str, token: str) -> Client:
    sdk = Client(SANDBOX_ACCOUNT_SID, token, http_client=TwilioHttpClient(timeout=10))
    sdk.api.base_url = base_url
    return sdk


def test_a_fresh_token_replaces_the_published_one_everywhere() -> None:
    token = new_auth_token()
    assert token != new_auth_token() and len(token) == 32
    sink = Collected()
    with Sandbox(now=START, auth_token=token, callback_sink=sink) as sandbox:
        assert sandbox.account.auth_token == token
        with SandboxServer(sandbox) as server:
            with pytest.raises(TwilioRestException) as refused:
                client(server.base_url, SANDBOX_AUTH_TOKEN).messages.create(
                    to=PHONE, messaging_service_sid=SANDBOX_MESSAGING_SERVICE_SID, body="hi"
                )
            assert refused.value.status == 401
            client(server.base_url, token).messages.create(
                to=PHONE, messaging_service_sid=SANDBOX_MESSAGING_SERVICE_SID, body="hi",
                status_callback="https://clinic.example.org/twilio/status?m=1",
            )  # fmt: skip
            sandbox.process()
    assert sink.callbacks
    for callback in sink.callbacks:
        assert RequestValidator(token).validate(callback.url, callback.form, callback.signature)
        assert not RequestValidator(SANDBOX_AUTH_TOKEN).validate(
            callback.url, callback.form, callback.signature
        )
