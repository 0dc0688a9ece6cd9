"""Status callbacks: Twilio's form, signed like Twilio, posted to a real HTTP receiver."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sandbox_support import START, Received, Receiver
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from dripsms.sandbox import (
    SANDBOX_ACCOUNT_SID,
    SANDBOX_AUTH_TOKEN,
    SANDBOX_FROM_NUMBER,
    SANDBOX_MESSAGING_SERVICE_SID,
    CallbackFaults,
    FaultConfig,
    Sandbox,
    SandboxServer,
    Status,
)

TO = "+15551230005"


def statuses(received: list[Received]) -> list[str]:
    return [r.params["MessageStatus"] for r in received]


def test_scheduled_message_reports_each_status_signed(
    client: Client, sandbox: Sandbox, receiver: Receiver
) -> None:
    # A query string is part of what Twilio signs.
    url = f"{receiver.url}/twilio/status?message=42"
    sid = client.messages.create(
        to=TO,
        messaging_service_sid=SANDBOX_MESSAGING_SERVICE_SID,
        body="Day 1",
        send_at=START + timedelta(hours=1),
        schedule_type="fixed",
        status_callback=url,
    ).sid

    sandbox.advance(timedelta(hours=2))
    received = receiver.collect(3)

    assert statuses(received) == ["queued", "sent", "delivered"]
    validator = RequestValidator(SANDBOX_AUTH_TOKEN)
    for callback in received:
        assert callback.url == url
        assert validator.validate(
            callback.url, callback.params, callback.headers["X-Twilio-Signature"]
        )
        assert callback.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert received[-1].params == {
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": "delivered",
        "SmsStatus": "delivered",
        "AccountSid": SANDBOX_ACCOUNT_SID,
        "From": SANDBOX_FROM_NUMBER,
        "To": TO,
        "MessagingServiceSid": SANDBOX_MESSAGING_SERVICE_SID,
        "ApiVersion": "2010-04-01",
    }


def test_no_callback_for_the_initial_status(
    client: Client, sandbox: Sandbox, receiver: Receiver
) -> None:
    client.messages.create(
        to=TO, from_=SANDBOX_FROM_NUMBER, body="now", status_callback=f"{receiver.url}/s"
    )

    sandbox.process()

    assert statuses(receiver.collect(2)) == ["sent", "delivered"]
    assert [c.form["MessageStatus"] for c in sandbox.callbacks] == ["sent", "delivered"]


def test_failures_carry_the_error_code(
    client: Client, sandbox: Sandbox, receiver: Receiver
) -> None:
    sandbox.mark_undeliverable(TO, 30003)
    client.messages.create(
        to=TO,
        messaging_service_sid=SANDBOX_MESSAGING_SERVICE_SID,
        body="now",
        status_callback=f"{receiver.url}/s",
    )

    sandbox.process()
    received = receiver.collect(3)

    assert statuses(received) == ["queued", "sent", "undelivered"]
    assert received[-1].params["ErrorCode"] == "30003"
    assert "ErrorCode" not in received[0].params


def test_cancel_reports_canceled(client: Client, receiver: Receiver) -> None:
    sid = client.messages.create(
        to=TO,
        messaging_service_sid=SANDBOX_MESSAGING_SERVICE_SID,
        body="later",
        send_at=START + timedelta(hours=1),
        schedule_type="fixed",
        status_callback=f"{receiver.url}/s",
    ).sid

    client.messages(sid).update(status="canceled")

    assert statuses(receiver.collect(1)) == ["canceled"]


def test_a_dead_receiver_does_not_block_the_api(client: Client, sandbox: Sandbox) -> None:
    dead = Receiver()
    dead.close()  # nothing listens on its port any more
    client.messages.create(
        to=TO, from_=SANDBOX_FROM_NUMBER, body="now", status_callback=f"{dead.url}/s"
    )

    sandbox.process()

    assert client.messages.list(to=TO)[0].status == "delivered"


def test_duplicated_callbacks_share_their_idempotency_token(
    client: Client, sandbox: Sandbox, receiver: Receiver
) -> None:
    sandbox.faults.configure(FaultConfig(callbacks=CallbackFaults(duplicate=1.0)))
    client.messages.create(
        to=TO, from_=SANDBOX_FROM_NUMBER, body="now", status_callback=f"{receiver.url}/s"
    )

    sandbox.process()
    received = receiver.collect(4)

    assert statuses(received) == ["sent", "sent", "delivered", "delivered"]
    tokens = Counter(r.headers["I-Twilio-Idempotency-Token"] for r in received)
    assert sorted(tokens.values()) == [2, 2]


def test_reordered_callbacks(client: Client, sandbox: Sandbox, receiver: Receiver) -> None:
    sandbox.faults.configure(FaultConfig(seed=3, callbacks=CallbackFaults(reorder=True)))
    for body in ("a", "b"):
        client.messages.create(
            to=TO,
            messaging_service_sid=SANDBOX_MESSAGING_SERVICE_SID,
            body=body,
            status_callback=f"{receiver.url}/s",
        )

    sandbox.process()
    received = [(r.params["MessageSid"], r.params["MessageStatus"]) for r in receiver.collect(6)]

    in_order = [(c.form["MessageSid"], c.form["MessageStatus"]) for c in sandbox.callbacks]
    assert sorted(received) == sorted(in_order)
    assert received != in_order


def test_a_server_following_real_time_sends_by_itself(receiver: Receiver) -> None:
    http = TwilioHttpClient(timeout=5)
    with Sandbox(now=START) as sandbox, SandboxServer(sandbox, follow_real_time=True) as server:
        client = Client(SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN, http_client=http)
        client.api.base_url = server.base_url
        client.messages.create(
            to=TO, from_=SANDBOX_FROM_NUMBER, body="now", status_callback=f"{receiver.url}/s"
        )
        http.session.close()

        # Nobody moves the clock: the server's ticker does, within about a second.
        assert statuses(receiver.collect(2)) == ["sent", "delivered"]
        assert sandbox.now() > START
        assert sandbox.messages()[0].status is Status.DELIVERED


def test_dropped_callbacks_are_never_posted(
    client: Client, sandbox: Sandbox, receiver: Receiver
) -> None:
    sandbox.faults.configure(FaultConfig(callbacks=CallbackFaults(drop=1.0)))
    client.messages.create(
        to=TO, from_=SANDBOX_FROM_NUMBER, body="lost", status_callback=f"{receiver.url}/s"
    )
    sandbox.process()
    sandbox.faults.configure(FaultConfig())  # the next message's callbacks go through
    client.messages.create(
        to=TO, from_=SANDBOX_FROM_NUMBER, body="kept", status_callback=f"{receiver.url}/s"
    )
    sandbox.process()

    received = receiver.collect(2)  # the worker posts in order: "kept"'s come after any other
    kept = client.messages.list(to=TO, limit=1)[0].sid
    assert [(r.params["MessageSid"], r.params["MessageStatus"]) for r in received] == [
        (kept, "sent"),
        (kept, "delivered"),
    ]
    assert [c.form["MessageSid"] for c in sandbox.callbacks] == [kept, kept]
    # Twilio still sent it: only the callbacks were lost.
    assert [m.status for m in client.messages.list(to=TO)] == ["delivered", "delivered"]
