"""The ``/_sandbox/`` admin routes, and Twilio's error shape for unknown routes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
from sandbox_support import START
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from dripsms.sandbox import (
    SANDBOX_ACCOUNT_SID,
    SANDBOX_AUTH_TOKEN,
    SANDBOX_FROM_NUMBER,
    SANDBOX_MESSAGING_SERVICE_SID,
    CallKind,
    Sandbox,
    SandboxServer,
)

TO = "+15551230007"


@pytest.fixture
def admin(server: SandboxServer) -> Iterator[Any]:
    """Call an admin route: ``admin("post", "clock", json=...)`` → the response."""
    session = requests.Session()

    def call(method: str, route: str, **kwargs: Any) -> requests.Response:
        return session.request(method, f"{server.base_url}/_sandbox/{route}", timeout=5, **kwargs)

    yield call
    session.close()


def test_clock_reads_sets_and_advances(admin: Any, sandbox: Sandbox) -> None:
    assert admin("get", "clock").json() == {"now": "2026-11-27T07:00:00Z"}
    assert admin("post", "clock", json={"advance": 90}).json() == {"now": "2026-11-27T07:01:30Z"}
    moved = admin("post", "clock", json={"now": "2026-12-01T09:00:00+02:00"})
    assert moved.json() == {"now": "2026-12-01T07:00:00Z"}
    assert sandbox.now() == START + timedelta(days=4)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"now": "2026-12-01T09:00:00Z", "advance": 1},
        {"advance": -5},
        {"now": "2026-12-01T09:00"},
    ],
)
def test_clock_refuses_unclear_changes(admin: Any, body: dict[str, Any]) -> None:
    assert admin("post", "clock", json=body).status_code == 422


def test_clock_advance_releases_messages(admin: Any, client: Client) -> None:
    sid = client.messages.create(to=TO, from_=SANDBOX_FROM_NUMBER, body="now").sid

    admin("post", "clock", json={"advance": 0})

    assert client.messages(sid).fetch().status == "delivered"


def test_every_message_and_the_create_counts(admin: Any, client: Client) -> None:
    scheduled = client.messages.create(
        to=TO,
        messaging_service_sid=SANDBOX_MESSAGING_SERVICE_SID,
        body="later",
        send_at=START + timedelta(hours=1),
        schedule_type="fixed",
    ).sid
    client.messages(scheduled).update(status="canceled")
    client.messages.create(to=TO, from_=SANDBOX_FROM_NUMBER, body="now")
    client.messages.create(to=TO, from_=SANDBOX_FROM_NUMBER, body="now")

    listing = admin("get", "messages").json()

    assert [(m["body"], m["status"]) for m in listing["messages"]] == [
        ("later", "canceled"),
        ("now", "queued"),
        ("now", "queued"),
    ]
    assert listing["messages"][0]["send_at"] == "2026-11-27T08:00:00Z"
    assert listing["creates"] == 3
    assert listing["creates_by_recipient"] == [
        {"to": TO, "body": "later", "count": 1},
        {"to": TO, "body": "now", "count": 2},
    ]


def test_faults_are_set_over_http(admin: Any, client: Client, sandbox: Sandbox) -> None:
    config = {"seed": 5, "rules": {"create": {"error_before": 1.0, "times": 1}}}

    answer = admin("post", "faults", json=config)
    with pytest.raises(TwilioRestException) as raised:
        client.messages.create(to=TO, from_=SANDBOX_FROM_NUMBER, body="x")

    assert answer.status_code == 200
    assert admin("get", "faults").json()["rules"]["create"]["error_before"] == 1.0
    assert sandbox.faults.config.rules[CallKind.CREATE].times == 1
    assert raised.value.status == 500
    assert admin("post", "faults", json={"rules": {"create": {"oops": 1}}}).status_code == 422


def test_recipients_over_http(admin: Any, client: Client, sandbox: Sandbox) -> None:
    admin("post", "opt-out", json={"number": TO})
    admin("post", "landline", json={"number": "+15551230008"})
    admin("post", "undeliverable", json={"number": "+15551230009", "status": "failed"})

    with pytest.raises(TwilioRestException) as opted_out:
        client.messages.create(to=TO, from_=SANDBOX_FROM_NUMBER, body="x")
    with pytest.raises(TwilioRestException) as landline:
        client.messages.create(to="+15551230008", from_=SANDBOX_FROM_NUMBER, body="x")
    lost = client.messages.create(to="+15551230009", from_=SANDBOX_FROM_NUMBER, body="x").sid
    sandbox.process()

    assert (opted_out.value.code, landline.value.code) == (21610, 21614)
    assert client.messages(lost).fetch().status == "failed"
    admin("post", "opt-in", json={"number": TO})
    assert client.messages.create(to=TO, from_=SANDBOX_FROM_NUMBER, body="x").status == "queued"


def test_reset_forgets_messages_but_keeps_the_clock(admin: Any, client: Client) -> None:
    client.messages.create(to=TO, from_=SANDBOX_FROM_NUMBER, body="x")
    admin("post", "clock", json={"advance": 60})

    assert admin("post", "reset").json() == {"now": "2026-11-27T07:01:00Z"}
    assert admin("get", "messages").json() == {
        "messages": [],
        "creates": 0,
        "creates_by_recipient": [],
    }


def test_callbacks_are_listed(admin: Any, client: Client, sandbox: Sandbox) -> None:
    client.messages.create(
        to=TO, from_=SANDBOX_FROM_NUMBER, body="x", status_callback="http://127.0.0.1:9/s"
    )
    sandbox.process()

    callbacks = admin("get", "callbacks").json()["callbacks"]

    assert [c["params"]["MessageStatus"] for c in callbacks] == ["sent", "delivered"]
    assert callbacks[0]["url"] == "http://127.0.0.1:9/s"


def test_unknown_routes_answer_like_twilio(server: SandboxServer) -> None:
    auth = (SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN)
    base = f"{server.base_url}/2010-04-01/Accounts/{SANDBOX_ACCOUNT_SID}"

    missing = requests.get(f"{base}/Calls.json", auth=auth, timeout=5)
    wrong_method = requests.delete(f"{base}/Messages.json", auth=auth, timeout=5)
    anonymous = requests.get(f"{base}/Messages.json", timeout=5)

    assert (missing.status_code, missing.json()["code"]) == (404, 20404)
    assert (wrong_method.status_code, wrong_method.json()["code"]) == (405, 20004)
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, 20003)
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic")


def test_a_forgotten_message_is_not_found(admin: Any, client: Client, sandbox: Sandbox) -> None:
    sid = client.messages.create(to=TO, from_=SANDBOX_FROM_NUMBER, body="x").sid

    assert admin("delete", f"messages/{sid}").json() == {"sid": sid, "forgotten": True}

    with pytest.raises(TwilioRestException) as caught:
        client.messages(sid).fetch()
    assert (caught.value.status, caught.value.code) == (404, 20404)
    assert admin("delete", f"messages/{sid}").status_code == 404
    assert sandbox.messages() == []
