"""The sandbox clock moves messages along; cancel works only while scheduled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sandbox_support import START
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from dripsms.clock import Clock
from dripsms.sandbox import (
    SANDBOX_FROM_NUMBER,
    SANDBOX_MESSAGING_SERVICE_SID,
    Sandbox,
    Status,
)
from dripsms.sandbox.lifecycle import DELIVERED, Outcome, release_path

TO = "+15551230003"


def schedule(client: Client, lead: timedelta = timedelta(hours=1)) -> str:
    message = client.messages.create(
        to=TO,
        messaging_service_sid=SANDBOX_MESSAGING_SERVICE_SID,
        body="Day 1: rate your pain 0-10",
        send_at=START + lead,
        schedule_type="fixed",
    )
    return str(message.sid)


def test_immediate_message_waits_for_process(client: Client, sandbox: Sandbox) -> None:
    sid = client.messages.create(to=TO, from_=SANDBOX_FROM_NUMBER, body="now").sid

    assert client.messages(sid).fetch().status == "queued"
    assert sandbox.process() == 1
    delivered = client.messages(sid).fetch()

    assert (delivered.status, delivered.date_sent) == ("delivered", START)
    assert sandbox.process() == 0


def test_scheduled_message_goes_out_at_send_at(client: Client, sandbox: Sandbox) -> None:
    sid = schedule(client)

    sandbox.advance(timedelta(minutes=59))
    assert client.messages(sid).fetch().status == "scheduled"
    sandbox.advance(timedelta(hours=5))
    sent = client.messages(sid).fetch()

    # Dated when it was due, not when the clock was moved past it.
    assert (sent.status, sent.date_sent) == ("delivered", START + timedelta(hours=1))
    assert sent.date_updated == START + timedelta(hours=1)


def test_set_now_releases_too(client: Client, sandbox: Sandbox) -> None:
    sid = schedule(client)

    sandbox.set_now(START + timedelta(days=1))

    assert client.messages(sid).fetch().status == "delivered"


def test_cancel_while_scheduled(client: Client, sandbox: Sandbox) -> None:
    sid = schedule(client)

    canceled = client.messages(sid).update(status="canceled")
    sandbox.advance(timedelta(days=1))

    assert canceled.status == "canceled"
    assert client.messages(sid).fetch().status == "canceled"
    assert [m.status for m in sandbox.messages()] == [Status.CANCELED]


def test_cancel_after_sent_is_30409(client: Client, sandbox: Sandbox) -> None:
    sid = schedule(client)
    sandbox.advance(timedelta(hours=1))

    with pytest.raises(TwilioRestException) as raised:
        client.messages(sid).update(status="canceled")

    assert (raised.value.status, raised.value.code) == (400, 30409)
    assert "cannot be canceled" in raised.value.msg


def test_an_immediate_message_cannot_be_canceled(client: Client) -> None:
    sid = client.messages.create(to=TO, from_=SANDBOX_FROM_NUMBER, body="now").sid

    with pytest.raises(TwilioRestException) as raised:
        client.messages(sid).update(status="canceled")

    assert raised.value.code == 30409


def test_update_other_than_cancel_is_refused(client: Client) -> None:
    sid = schedule(client)

    with pytest.raises(TwilioRestException) as raised:
        client.messages(sid).update(status="sent")  # type: ignore[arg-type]

    assert (raised.value.status, raised.value.code) == (400, 20422)


def test_undeliverable_and_failing_numbers(client: Client, sandbox: Sandbox) -> None:
    sandbox.mark_undeliverable(TO, 30005)
    sandbox.mark_undeliverable("+15551230004", 30008, Status.FAILED)
    lost = client.messages.create(to=TO, from_=SANDBOX_FROM_NUMBER, body="a").sid
    failed = client.messages.create(to="+15551230004", from_=SANDBOX_FROM_NUMBER, body="b").sid

    sandbox.process()

    lost_now, failed_now = client.messages(lost).fetch(), client.messages(failed).fetch()
    assert (lost_now.status, lost_now.error_code) == ("undelivered", 30005)
    assert lost_now.error_message == "Unknown destination handset"
    assert (failed_now.status, failed_now.error_code, failed_now.date_sent) == (
        "failed",
        30008,
        None,
    )


def test_opting_out_after_scheduling_makes_the_send_fail(client: Client, sandbox: Sandbox) -> None:
    sid = schedule(client)

    sandbox.opt_out(TO)  # Twilio does not cancel it: the application must
    sandbox.advance(timedelta(hours=1))

    message = client.messages(sid).fetch()
    assert (message.status, message.error_code) == ("failed", 21610)


def test_the_clock_is_a_dripsms_clock(sandbox: Sandbox) -> None:
    clock: Clock = sandbox.now

    sandbox.advance(90)

    assert clock() == START + timedelta(seconds=90)


def test_the_clock_refuses_naive_instants_and_going_backwards(sandbox: Sandbox) -> None:
    with pytest.raises(ValueError, match="time zone"):
        sandbox.set_now(datetime(2026, 11, 28, 7, 0))
    with pytest.raises(ValueError, match="forward"):
        sandbox.advance(-1)
    assert sandbox.set_now(START - timedelta(days=1)) == START - timedelta(days=1)
    assert sandbox.now().tzinfo is UTC


@pytest.mark.parametrize(
    ("initial", "outcome", "path"),
    [
        (Status.QUEUED, DELIVERED, ["sent", "delivered"]),
        (Status.ACCEPTED, DELIVERED, ["queued", "sent", "delivered"]),
        (Status.SCHEDULED, DELIVERED, ["queued", "sent", "delivered"]),
        (Status.SCHEDULED, Outcome(Status.UNDELIVERED, 30003), ["queued", "sent", "undelivered"]),
        (Status.QUEUED, Outcome(Status.FAILED, 30008), ["failed"]),
    ],
)
def test_release_paths(initial: Status, outcome: Outcome, path: list[str]) -> None:
    assert release_path(initial, outcome) == path


def test_only_waiting_messages_are_released() -> None:
    with pytest.raises(ValueError, match="not waiting"):
        release_path(Status.CANCELED, DELIVERED)
