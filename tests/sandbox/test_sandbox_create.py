"""Creating messages through the real SDK: initial statuses and Twilio's refusals."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sandbox_support import START, Connect
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from dripsms.sandbox import (
    SANDBOX_ACCOUNT_SID,
    SANDBOX_API_KEY_SECRET,
    SANDBOX_API_KEY_SID,
    SANDBOX_FROM_NUMBER,
    SANDBOX_MESSAGING_SERVICE_SID,
    Sandbox,
    SandboxServer,
    SchedulingWindow,
)

TO = "+15551230001"
MG = SANDBOX_MESSAGING_SERVICE_SID


def scheduled(**overrides: Any) -> dict[str, Any]:
    """Arguments of a valid scheduled create, one hour ahead."""
    return {
        "to": TO,
        "messaging_service_sid": MG,
        "body": "How is your pain today, 0-10?",
        "send_at": START + timedelta(hours=1),
        "schedule_type": "fixed",
    } | overrides


def test_immediate_message_from_a_number_is_queued(client: Client, sandbox: Sandbox) -> None:
    message = client.messages.create(to=TO, from_=SANDBOX_FROM_NUMBER, body="Welcome!")

    assert message.sid.startswith("SM") and len(message.sid) == 34
    assert message.account_sid == SANDBOX_ACCOUNT_SID
    assert (message.status, message.to, message.from_) == ("queued", TO, SANDBOX_FROM_NUMBER)
    assert message.messaging_service_sid is None
    assert (message.date_created, message.date_sent) == (START, None)
    assert (message.direction, message.num_segments, message.num_media) == (
        "outbound-api",
        "1",
        "0",
    )
    assert message.uri == f"/2010-04-01/Accounts/{SANDBOX_ACCOUNT_SID}/Messages/{message.sid}.json"
    assert sandbox.creates == 1


def test_immediate_message_through_a_messaging_service_is_accepted(client: Client) -> None:
    message = client.messages.create(to=TO, messaging_service_sid=MG, body="Welcome!")

    assert (message.status, message.messaging_service_sid) == ("accepted", MG)
    assert message.from_ == SANDBOX_FROM_NUMBER


def test_scheduled_message(client: Client) -> None:
    message = client.messages.create(**scheduled())

    assert message.status == "scheduled"
    assert message.date_sent is None
    assert message.messaging_service_sid == MG


@pytest.mark.parametrize("lead", [timedelta(seconds=900), timedelta(days=7)])
def test_window_bounds_are_inclusive(client: Client, lead: timedelta) -> None:
    assert client.messages.create(**scheduled(send_at=START + lead)).status == "scheduled"


def test_a_messaging_service_sid_in_from_schedules_too(client: Client) -> None:
    message = client.messages.create(**scheduled(messaging_service_sid=None, from_=MG))

    assert (message.status, message.messaging_service_sid) == ("scheduled", MG)
    assert message.from_ == SANDBOX_FROM_NUMBER


def test_a_messaging_service_sends_from_its_configured_number(
    client: Client, sandbox: Sandbox
) -> None:
    sandbox.set_sender(MG, "+15005550009")

    assert client.messages.create(**scheduled()).from_ == "+15005550009"


def test_media_only_message_is_an_mms(client: Client) -> None:
    message = client.messages.create(
        to=TO, from_=SANDBOX_FROM_NUMBER, media_url=["https://example.com/a.png"]
    )

    assert message.sid.startswith("MM")
    assert message.num_media == "1"


def test_segments_are_counted(client: Client) -> None:
    message = client.messages.create(to=TO, from_=SANDBOX_FROM_NUMBER, body="x" * 161)

    assert message.num_segments == "2"


@pytest.mark.parametrize(
    ("arguments", "code", "wording"),
    [
        pytest.param(scheduled(send_at=START + timedelta(seconds=899)), 35114, "900", id="soon"),
        pytest.param(scheduled(send_at=START + timedelta(days=7, seconds=1)), 35115, "7 days",
                     id="far"),
        pytest.param(scheduled(send_at="tomorrow at nine"), 35114, "ISO 8601", id="unreadable"),
        pytest.param(scheduled(send_at="2026-11-27T09:00:00"), 35114, "offset", id="no-zone"),
        pytest.param(scheduled(messaging_service_sid=None, from_=SANDBOX_FROM_NUMBER), 35118,
                     "MessagingServiceSid", id="no-service"),
        pytest.param(scheduled(schedule_type="later"), 35126, "ScheduleType", id="bad-type"),
        pytest.param(scheduled(schedule_type=None), 35126, "fixed", id="no-type"),
        pytest.param(scheduled(send_at=None), 35111, "SendAt", id="no-send-at"),
        pytest.param({"to": "5551230001", "from_": SANDBOX_FROM_NUMBER, "body": "x"}, 21211,
                     "The 'To' number 5551230001 is not a valid phone number.", id="bad-to"),
        pytest.param({"to": "+1555", "from_": SANDBOX_FROM_NUMBER, "body": "x"}, 21211,
                     "not a valid phone number", id="short-to"),
        pytest.param({"to": TO, "body": "x"}, 21603, "'From' or 'MessagingServiceSid'",
                     id="no-sender"),
        pytest.param({"to": TO, "from_": SANDBOX_FROM_NUMBER, "body": ""}, 21602,
                     "Message body is required", id="no-body"),
        pytest.param({"to": TO, "messaging_service_sid": MG, "body": ""}, 21619,
                     "Message Body, Media URL", id="no-body-service"),
        pytest.param({"to": TO, "messaging_service_sid": "MG123", "body": "x"}, 21701,
                     "does not exist", id="bad-service"),
        pytest.param({"to": TO, "from_": SANDBOX_FROM_NUMBER, "body": "x" * 1601}, 21617,
                     "1600", id="long-body"),
        pytest.param({"to": TO, "from_": SANDBOX_FROM_NUMBER, "body": "x",
                      "validity_period": 36001}, 21624, "validity period", id="validity"),
        pytest.param({"to": TO, "from_": SANDBOX_FROM_NUMBER, "body": "x",
                      "status_callback": "not a url"}, 21609, "StatusCallback", id="callback"),
    ],
)  # fmt: skip
def test_refused_creates(
    client: Client, sandbox: Sandbox, arguments: dict[str, Any], code: int, wording: str
) -> None:
    with pytest.raises(TwilioRestException) as raised:
        client.messages.create(**arguments)

    assert (raised.value.status, raised.value.code) == (400, code)
    assert wording in raised.value.msg
    assert sandbox.creates == 0


def test_opted_out_recipient_is_refused(client: Client, sandbox: Sandbox) -> None:
    sandbox.opt_out(TO)

    with pytest.raises(TwilioRestException) as raised:
        client.messages.create(**scheduled())

    assert (raised.value.status, raised.value.code) == (400, 21610)
    sandbox.opt_in(TO)
    assert client.messages.create(**scheduled()).status == "scheduled"


def test_landline_is_refused(client: Client, sandbox: Sandbox) -> None:
    sandbox.add_landline(TO)

    with pytest.raises(TwilioRestException) as raised:
        client.messages.create(to=TO, from_=SANDBOX_FROM_NUMBER, body="x")

    assert (raised.value.status, raised.value.code) == (400, 21614)


def test_the_window_is_configurable(connect: Connect) -> None:
    window = SchedulingWindow(min_lead=timedelta(seconds=300), horizon=timedelta(days=35))
    with Sandbox(now=START, window=window) as sandbox, SandboxServer(sandbox) as server:
        client = connect()
        client.api.base_url = server.base_url

        soon = client.messages.create(**scheduled(send_at=START + timedelta(minutes=5)))
        far = client.messages.create(**scheduled(send_at=START + timedelta(days=35)))

    assert (soon.status, far.status) == ("scheduled", "scheduled")


def test_wrong_token_is_refused(connect: Connect, sandbox: Sandbox) -> None:
    client = connect(SANDBOX_ACCOUNT_SID, "not-the-token")

    with pytest.raises(TwilioRestException) as raised:
        client.messages.create(**scheduled())

    assert (raised.value.status, raised.value.code) == (401, 20003)
    assert sandbox.creates == 0


def test_an_api_key_authenticates(connect: Connect) -> None:
    client = connect(SANDBOX_API_KEY_SID, SANDBOX_API_KEY_SECRET, account_sid=SANDBOX_ACCOUNT_SID)

    assert client.messages.create(**scheduled()).account_sid == SANDBOX_ACCOUNT_SID


def test_credentials_of_another_account_are_refused(connect: Connect, sandbox: Sandbox) -> None:
    other = sandbox.add_account()
    client = connect(other.sid, other.auth_token, account_sid=SANDBOX_ACCOUNT_SID)

    with pytest.raises(TwilioRestException) as raised:
        client.messages.create(**scheduled())

    assert (raised.value.status, raised.value.code) == (401, 20003)
    own = connect(other.sid, other.auth_token)
    assert own.messages.create(**scheduled()).account_sid == other.sid
