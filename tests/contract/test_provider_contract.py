"""One contract, two providers: the in-process FakeProvider and the sandbox through the SDK.

The unit tests trust the fake; these assertions keep it honest against the SDK path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from dripsms.provider.base import Provider, ProviderError
from dripsms.provider.twilio import TwilioProvider
from dripsms.sandbox import (
    SANDBOX_ACCOUNT_SID,
    SANDBOX_MESSAGING_SERVICE_SID,
    CallKind,
    FaultConfig,
    FaultRule,
    Sandbox,
    SandboxServer,
    new_auth_token,
)
from dripsms.testing import FakeProvider, Scripted

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TO = "+14155550100"
MG = SANDBOX_MESSAGING_SERVICE_SID


@dataclass
class Subject:
    """A provider, and how to make its next create fail or its recipient opt out."""

    provider: Provider
    rate_limit_next_create: Callable[[], None]
    fail_next_create_after: Callable[[], None]
    opt_out: Callable[[str], None]


def _fake() -> Iterator[Subject]:
    fake = FakeProvider(lambda: T0)
    yield Subject(
        fake,
        lambda: fake.script("create", Scripted.rate_limited(retry_after=1)),
        lambda: fake.script("create", Scripted.server_error(after=True)),
        fake.opted_out.add,
    )


def _sandbox() -> Iterator[Subject]:
    token = new_auth_token()
    sandbox = Sandbox(auth_token=token, seed=0)
    sandbox.set_now(T0)

    def fault(rule: FaultRule) -> None:
        sandbox.faults.configure(FaultConfig(rules={CallKind.CREATE: rule}))

    with SandboxServer(sandbox) as server:
        provider = TwilioProvider(
            account_sid=SANDBOX_ACCOUNT_SID, auth_token=token, api_base=server.base_url
        )
        yield Subject(
            provider,
            lambda: fault(FaultRule(rate_limited=1.0, retry_after=1, times=1)),
            lambda: fault(FaultRule(error_after=1.0, times=1)),
            sandbox.opt_out,
        )


@pytest.fixture(params=["fake", "sandbox"])
def subject(request: pytest.FixtureRequest) -> Iterator[Subject]:
    yield from (_fake() if request.param == "fake" else _sandbox())


def create(provider: Provider, body: str, send_at: datetime | None = None) -> str:
    handoff = provider.create(
        to=TO, body=body, messaging_service_sid=MG, send_at=send_at, status_callback=None
    )
    return handoff.sid


def test_creates_answer_scheduled_or_accepted_and_fetch_and_recent_agree(
    subject: Subject,
) -> None:
    p = subject.provider
    scheduled = p.create(
        to=TO, body="later", messaging_service_sid=MG, send_at=T0 + timedelta(days=1),
        status_callback=None,
    )  # fmt: skip
    now = p.create(to=TO, body="now", messaging_service_sid=MG, send_at=None, status_callback=None)
    assert (scheduled.status, now.status) == ("scheduled", "accepted")
    fetched = p.fetch(scheduled.sid)
    assert (fetched.to, fetched.body, fetched.status) == (TO, "later", "scheduled")
    assert fetched.messaging_service_sid == MG
    assert [m.sid for m in p.recent(to=TO)] == [now.sid, scheduled.sid]


def test_cancel_cancels_a_scheduled_message_once_then_answers_30409(subject: Subject) -> None:
    p = subject.provider
    sid = create(p, "later", T0 + timedelta(days=1))
    assert p.cancel(sid) == "canceled"
    assert p.fetch(sid).status == "canceled"
    with pytest.raises(ProviderError) as again:
        p.cancel(sid)
    assert (again.value.code, again.value.retryable) == (30409, False)
    with pytest.raises(ProviderError) as released:
        p.cancel(create(p, "now"))
    assert released.value.code == 30409


def test_an_unknown_sid_is_not_found(subject: Subject) -> None:
    with pytest.raises(ProviderError) as error:
        subject.provider.fetch("SM" + "0" * 32)
    assert error.value.not_found
    assert (error.value.code, error.value.status, error.value.retryable) == (20404, 404, False)


def test_a_429_is_retryable_after_its_retry_after_and_creates_nothing(subject: Subject) -> None:
    subject.rate_limit_next_create()
    with pytest.raises(ProviderError) as error:
        create(subject.provider, "hello")
    e = error.value
    assert (e.status, e.retryable, e.outcome_unknown, e.retry_after) == (429, True, False, 1.0)
    assert subject.provider.recent(to=TO) == []


def test_a_500_after_create_leaves_the_outcome_unknown_and_the_message_listed(
    subject: Subject,
) -> None:
    subject.fail_next_create_after()
    with pytest.raises(ProviderError) as error:
        create(subject.provider, "hello")
    assert (error.value.status, error.value.retryable, error.value.outcome_unknown) == (
        500, True, True,
    )  # fmt: skip
    [listed] = subject.provider.recent(to=TO)
    assert listed.body == "hello"


def test_a_create_to_an_opted_out_number_fails_for_good_with_21610(subject: Subject) -> None:
    subject.opt_out(TO)
    with pytest.raises(ProviderError) as error:
        create(subject.provider, "hello")
    assert (error.value.code, error.value.retryable, error.value.outcome_unknown) == (
        21610, False, False,
    )  # fmt: skip
