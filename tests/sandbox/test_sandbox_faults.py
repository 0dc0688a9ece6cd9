"""Each fault as a client of Twilio really meets it, and what the sandbox processed."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import requests
from pydantic import ValidationError
from sandbox_support import START, Connect
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from dripsms.sandbox import (
    SANDBOX_ACCOUNT_SID,
    SANDBOX_AUTH_TOKEN,
    SANDBOX_FROM_NUMBER,
    SANDBOX_MESSAGING_SERVICE_SID,
    CallKind,
    Fault,
    FaultConfig,
    FaultRule,
    Sandbox,
    SandboxServer,
)
from dripsms.sandbox.faults import Faults

TO = "+15551230006"


def once(kind: CallKind = CallKind.CREATE, **rule: float) -> FaultConfig:
    """A config where the next call of ``kind`` meets the given fault."""
    return FaultConfig(rules={kind: FaultRule(times=1, **rule)})  # type: ignore[arg-type]


def create(client: Client, body: str = "Day 1") -> str:
    return str(client.messages.create(to=TO, from_=SANDBOX_FROM_NUMBER, body=body).sid)


def test_rate_limited_is_not_processed(client: Client, sandbox: Sandbox) -> None:
    sandbox.faults.configure(once(rate_limited=1.0))

    with pytest.raises(TwilioRestException) as raised:
        create(client)

    assert (raised.value.status, raised.value.code) == (429, 20429)
    assert sandbox.creates == 0
    create(client)  # the rule was for one call only
    assert sandbox.creates == 1


def test_rate_limited_says_when_to_retry(server: SandboxServer, sandbox: Sandbox) -> None:
    sandbox.faults.configure(
        FaultConfig(rules={CallKind.LIST: FaultRule(rate_limited=1.0, retry_after=7)})
    )
    url = f"{server.base_url}/2010-04-01/Accounts/{SANDBOX_ACCOUNT_SID}/Messages.json"

    answer = requests.get(url, auth=(SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN), timeout=5)

    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "7"
    assert answer.json()["more_info"] == "https://www.twilio.com/docs/errors/20429"


def test_error_before_is_not_processed(client: Client, sandbox: Sandbox) -> None:
    sandbox.faults.configure(once(error_before=1.0))

    with pytest.raises(TwilioRestException) as raised:
        create(client)

    assert (raised.value.status, raised.value.code, sandbox.creates) == (500, 20500, 0)


def test_error_after_create_created(client: Client, sandbox: Sandbox) -> None:
    sandbox.faults.configure(once(error_after=1.0))

    with pytest.raises(TwilioRestException) as raised:
        create(client, "Day 1")

    assert (raised.value.status, raised.value.code) == (500, 20500)
    assert sandbox.creates == 1
    # What a client reconciling the unknown outcome finds:
    assert [m.body for m in client.messages.list(to=TO)] == ["Day 1"]


def test_timeout_after_create_created(connect: Connect, sandbox: Sandbox) -> None:
    client = connect(timeout=0.3)
    sandbox.faults.configure(once(timeout_after=1.0, delay_seconds=10))

    started = time.monotonic()
    with pytest.raises(requests.exceptions.Timeout):
        create(client)

    assert time.monotonic() - started < 3
    assert sandbox.creates == 1
    assert sandbox.creates_by_recipient() == {(TO, "Day 1"): 1}


def test_reset_after_create_created(client: Client, sandbox: Sandbox) -> None:
    sandbox.faults.configure(once(reset_after=1.0))

    with pytest.raises(requests.exceptions.ConnectionError):
        create(client)

    assert sandbox.creates == 1
    create(client)  # the client recovers on a fresh connection
    assert sandbox.creates_by_recipient() == {(TO, "Day 1"): 2}


def test_error_after_cancel_canceled(client: Client, sandbox: Sandbox) -> None:
    sid = client.messages.create(
        to=TO,
        messaging_service_sid=SANDBOX_MESSAGING_SERVICE_SID,
        body="later",
        send_at=START + timedelta(hours=1),
        schedule_type="fixed",
    ).sid
    sandbox.faults.configure(once(CallKind.CANCEL, error_after=1.0))

    with pytest.raises(TwilioRestException):
        client.messages(sid).update(status="canceled")

    assert client.messages(sid).fetch().status == "canceled"


def test_latency(client: Client, sandbox: Sandbox) -> None:
    sandbox.faults.configure(FaultConfig(rules={CallKind.FETCH: FaultRule(latency_ms=150)}))
    sid = create(client)

    started = time.monotonic()
    client.messages(sid).fetch()

    assert time.monotonic() - started >= 0.15


def test_faults_are_reproducible_from_the_seed() -> None:
    rule = FaultRule(rate_limited=0.25, error_after=0.25, reset_after=0.25)
    config = FaultConfig(seed=11, rules={CallKind.CREATE: rule})

    first, second = Faults(config), Faults(config)
    drawn = [first.draw(CallKind.CREATE).fault for _ in range(40)]

    assert drawn == [second.draw(CallKind.CREATE).fault for _ in range(40)]
    assert set(drawn) == {None, Fault.RATE_LIMITED, Fault.ERROR_AFTER, Fault.RESET_AFTER}
    assert Faults(config).draw(CallKind.LIST).fault is None


def test_probabilities_of_one_kind_sum_to_at_most_one() -> None:
    with pytest.raises(ValidationError, match="at most 1"):
        FaultRule(rate_limited=0.6, error_after=0.6)
