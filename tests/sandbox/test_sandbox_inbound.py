"""Inbound messages: a phone texts, the sandbox posts Twilio's signed webhook and acts on TwiML.

Everything goes over real HTTP: the sandbox posts to a tiny receiver that checks each
signature with the SDK's ``RequestValidator``, and the SDK lists what the sandbox recorded.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
from sandbox_support import START, Answer, Received, Receiver, twiml
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from dripsms.sandbox import (
    SANDBOX_ACCOUNT_SID,
    SANDBOX_AUTH_TOKEN,
    SANDBOX_FROM_NUMBER,
    SANDBOX_MESSAGING_SERVICE_SID,
    Direction,
    OptOutType,
    Sandbox,
    SandboxServer,
    Status,
)
from dripsms.sandbox.optout import REPLIES
from dripsms.sandbox.twiml import TwimlError, TwimlMessage, parse

PHONE = "+15551230020"
SERVICE = SANDBOX_MESSAGING_SERVICE_SID
OTHER_SERVICE = "MG" + "0" * 32


@pytest.fixture
def hook(sandbox: Sandbox, receiver: Receiver) -> str:
    """The receiver is the default Messaging Service's inbound webhook (a query is signed too)."""
    url = f"{receiver.url}/twilio/inbound?clinic=1"
    sandbox.set_inbound_url(SERVICE, url)
    return url


@pytest.fixture
def admin(server: SandboxServer) -> Iterator[Any]:
    """Call an admin route: ``admin("post", "phones/+1.../messages", json=...)``."""
    session = requests.Session()

    def call(method: str, route: str, **kwargs: Any) -> requests.Response:
        return session.request(method, f"{server.base_url}/_sandbox/{route}", timeout=10, **kwargs)

    yield call
    session.close()


def signed_params(received: Received) -> dict[str, str]:
    """The form of a webhook request, once its X-Twilio-Signature is checked."""
    validator = RequestValidator(SANDBOX_AUTH_TOKEN)
    assert validator.validate(received.url, received.params, received.headers["X-Twilio-Signature"])
    assert received.headers["Content-Type"] == "application/x-www-form-urlencoded"
    return received.params


def schedule(client: Client, body: str = "Day 2: how is the pain?") -> str:
    return str(
        client.messages.create(
            to=PHONE,
            messaging_service_sid=SERVICE,
            body=body,
            send_at=START + timedelta(hours=1),
            schedule_type="fixed",
        ).sid
    )


def create_now(client: Client, service: str = SERVICE) -> str:
    return str(client.messages.create(to=PHONE, messaging_service_sid=service, body="x").status)


# -- the inbound message and its webhook ---------------------------------------------------


def test_inbound_message_is_posted_signed_and_listed(
    client: Client, sandbox: Sandbox, receiver: Receiver, hook: str
) -> None:
    message = sandbox.receive(PHONE, "8/10")
    [request] = receiver.collect(1)

    assert request.url == hook
    assert signed_params(request) == {
        "MessageSid": message.sid,
        "SmsSid": message.sid,
        "SmsMessageSid": message.sid,
        "AccountSid": SANDBOX_ACCOUNT_SID,
        "MessagingServiceSid": SERVICE,
        "From": PHONE,
        "To": SANDBOX_FROM_NUMBER,
        "Body": "8/10",
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
        "FromCountry": "US",
        "FromState": "",
        "FromCity": "",
        "FromZip": "",
        "ToCountry": "US",
        "ToState": "",
        "ToCity": "",
        "ToZip": "",
    }
    assert request.headers["I-Twilio-Idempotency-Token"]
    [listed] = client.messages.list(from_=PHONE, to=SANDBOX_FROM_NUMBER)
    assert (listed.sid, listed.body, listed.direction, listed.status) == (
        message.sid,
        "8/10",
        "inbound",
        "received",
    )
    assert (listed.date_sent, listed.messaging_service_sid) == (START, SERVICE)
    assert message.sid.startswith("SM")
    delivery = sandbox.inbound_delivery(message.sid)
    assert (delivery.status_code, delivery.delivered, delivery.error_code) == (204, True, None)
    assert (delivery.replies, delivery.keyword_reply, delivery.opt_out_type) == ((), None, None)


def test_missed_replies_are_recovered_by_listing_since_the_last_seen(
    client: Client, sandbox: Sandbox
) -> None:
    first = sandbox.receive(PHONE, "3")
    sandbox.advance(timedelta(days=1))
    second = sandbox.receive("+15551230021", "7")
    client.messages.create(to=PHONE, messaging_service_sid=SERVICE, body="outbound, not a reply")

    since = client.messages.list(to=SANDBOX_FROM_NUMBER, date_sent_after=START + timedelta(days=1))
    every = client.messages.list(to=SANDBOX_FROM_NUMBER)

    assert [m.sid for m in since] == [second.sid]
    assert [m.sid for m in every] == [second.sid, first.sid]  # newest first
    assert sandbox.creates == 1  # a phone's text is not a create


def test_media_are_numbered_parameters(sandbox: Sandbox, receiver: Receiver, hook: str) -> None:
    message = sandbox.receive(
        PHONE, "", media_urls=["https://example.com/wound.jpg", "https://example.com/x?y=1"]
    )
    params = signed_params(receiver.collect(1)[0])

    assert message.sid.startswith("MM")
    assert (params["NumMedia"], params["Body"]) == ("2", "")
    assert params["MediaUrl0"] == "https://example.com/wound.jpg"
    assert params["MediaContentType0"] == "image/jpeg"
    assert params["MediaUrl1"] == "https://example.com/x?y=1"
    assert params["MediaContentType1"] == "application/octet-stream"


def test_a_service_without_inbound_url_still_records(sandbox: Sandbox) -> None:
    message = sandbox.receive(PHONE, "5")

    delivery = sandbox.inbound_delivery(message.sid)
    assert (delivery.webhook, delivery.status_code) == (None, None)
    assert sandbox.messages() == [message]


def test_receive_checks_its_arguments(sandbox: Sandbox) -> None:
    with pytest.raises(ValueError, match=r"E\.164"):
        sandbox.receive("5551230020", "hi")
    with pytest.raises(ValueError, match="no Messaging Service sends from"):
        sandbox.receive(PHONE, "hi", to="+15550000000")
    with pytest.raises(ValueError, match="body or media"):
        sandbox.receive(PHONE, "")
    with pytest.raises(ValueError, match="http"):
        sandbox.set_inbound_url(SERVICE, "ftp://example.com/hook")
    with pytest.raises(TimeoutError):
        sandbox.inbound_delivery("SM" + "0" * 32)


def test_each_service_has_its_number_and_webhook(
    sandbox: Sandbox, receiver: Receiver, hook: str
) -> None:
    other_number = "+15005550001"
    sandbox.set_sender(OTHER_SERVICE, other_number)
    sandbox.set_inbound_url(OTHER_SERVICE, f"{receiver.url}/other")

    message = sandbox.receive(PHONE, "hello", to=other_number)
    request = receiver.collect(1)[0]

    assert request.url == f"{receiver.url}/other"
    assert signed_params(request)["MessagingServiceSid"] == OTHER_SERVICE
    assert (message.to, message.messaging_service_sid) == (other_number, OTHER_SERVICE)


# -- TwiML answers -------------------------------------------------------------------------


def test_a_twiml_message_is_sent_back_to_the_phone(
    client: Client, sandbox: Sandbox, receiver: Receiver, hook: str
) -> None:
    receiver.answer(twiml("Thanks, we noted 8/10. A nurse will call you."))

    inbound = sandbox.receive(PHONE, "8/10")
    [reply] = sandbox.inbound_delivery(inbound.sid).replies

    assert (reply.direction, reply.status, reply.to, reply.from_) == (
        Direction.OUTBOUND_REPLY,
        Status.ACCEPTED,
        PHONE,
        SANDBOX_FROM_NUMBER,
    )
    assert reply.messaging_service_sid == SERVICE
    assert [m.sid for m in sandbox.conversation(PHONE)] == [inbound.sid]  # not released yet
    sandbox.process()
    assert [(m.body, m.status) for m in sandbox.conversation(PHONE)] == [
        ("8/10", Status.RECEIVED),
        ("Thanks, we noted 8/10. A nurse will call you.", Status.DELIVERED),
    ]
    fetched = client.messages(reply.sid).fetch()
    assert (fetched.direction, fetched.status) == ("outbound-reply", "delivered")
    assert sandbox.creates == 0  # Twilio made it, not a create


def test_an_empty_response_sends_nothing(sandbox: Sandbox, receiver: Receiver, hook: str) -> None:
    receiver.answer(twiml(), Answer(204))

    first, second = sandbox.receive(PHONE, "4"), sandbox.receive(PHONE, "5")

    assert [sandbox.inbound_delivery(m.sid).status_code for m in (first, second)] == [200, 204]
    assert sandbox.messages() == [first, second]


def test_a_reply_reports_its_status_to_its_action_url(
    sandbox: Sandbox, receiver: Receiver, hook: str
) -> None:
    receiver.answer(
        Answer(200, '<Response><Message action="/twilio/status">Noted</Message></Response>')
    )
    inbound = sandbox.receive(PHONE, "2")
    receiver.collect(1)  # the inbound webhook

    sandbox.process()
    callbacks = receiver.collect(3)

    [reply] = sandbox.inbound_delivery(inbound.sid).replies
    assert reply.status_callback == f"{receiver.url}/twilio/status"
    assert [signed_params(c)["MessageStatus"] for c in callbacks] == ["queued", "sent", "delivered"]


@pytest.mark.parametrize(
    ("answer", "error_code"),
    [
        (Answer(200, "Thanks!", "text/plain"), 12300),
        (Answer(200, "<Response><Message>unclosed</Response>"), 12100),
        (Answer(200, "<html><body>hi</body></html>"), 12100),
        (Answer(200, "<Response><Redirect>/next</Redirect></Response>"), 14110),
        (Answer(200, "<Response>" + "<Message>x</Message>" * 5000 + "</Response>"), 11750),
    ],
)
def test_answers_that_are_not_twiml_send_nothing(
    sandbox: Sandbox, receiver: Receiver, hook: str, answer: Answer, error_code: int
) -> None:
    receiver.answer(answer)

    inbound = sandbox.receive(PHONE, "6")

    delivery = sandbox.inbound_delivery(inbound.sid)
    assert (delivery.status_code, delivery.error_code, delivery.replies) == (200, error_code, ())
    assert sandbox.messages() == [inbound]


def test_an_empty_message_verb_is_skipped_with_a_warning(
    sandbox: Sandbox, receiver: Receiver, hook: str
) -> None:
    receiver.answer(Answer(200, "<Response><Message/><Message>second</Message></Response>"))

    delivery = sandbox.inbound_delivery(sandbox.receive(PHONE, "6").sid)

    assert [m.body for m in delivery.replies] == ["second"]
    assert [w[:5] for w in delivery.warnings] == ["14103"]


def test_twiml_nouns_and_attributes() -> None:
    document = """<?xml version="1.0" encoding="UTF-8"?>
    <Response>
      <Message to="+15551230099" statusCallback="cb"><Body>Photo received</Body>
        <Media>https://example.com/a.png</Media></Message>
      <Message>  Second  </Message>
    </Response>"""

    assert parse(document, base_url="https://dripsms.example/twilio/inbound") == [
        TwimlMessage(
            "Photo received",
            ("https://example.com/a.png",),
            to="+15551230099",
            status_callback="https://dripsms.example/twilio/cb",
        ),
        TwimlMessage("Second"),
    ]
    with pytest.raises(TwimlError) as raised:
        parse("<Reply/>")
    assert raised.value.code == 12100


# -- failures: recorded, never retried -----------------------------------------------------


def test_a_failing_webhook_is_recorded_and_not_retried(
    sandbox: Sandbox, receiver: Receiver, hook: str
) -> None:
    receiver.answer(Answer(500, "Internal Server Error", "text/plain"), twiml("late"))

    inbound = sandbox.receive(PHONE, "9")

    delivery = sandbox.inbound_delivery(inbound.sid)
    assert (delivery.status_code, delivery.error_code) == (500, 11200)
    assert delivery.response_body == "Internal Server Error"
    assert not delivery.delivered
    assert receiver.received.qsize() == 1  # posted once: receive() returns after the attempt
    assert sandbox.messages() == [inbound]  # kept, to be recovered by listing


def test_a_dead_webhook_is_recorded(sandbox: Sandbox) -> None:
    dead = Receiver()
    dead.close()  # nothing listens on its port any more
    sandbox.set_inbound_url(SERVICE, f"{dead.url}/twilio/inbound")

    delivery = sandbox.inbound_delivery(sandbox.receive(PHONE, "9").sid)

    assert (delivery.status_code, delivery.error_code) == (None, 11205)
    assert delivery.error is not None and "refused" in delivery.error.lower()


def test_a_slow_webhook_times_out_once(receiver: Receiver) -> None:
    release = threading.Event()
    receiver.answer(Answer(200, "<Response><Message>too late</Message></Response>", hold=release))
    with Sandbox(now=START, inbound_timeout=0.3) as sandbox:
        sandbox.set_inbound_url(SERVICE, f"{receiver.url}/twilio/inbound")
        try:
            delivery = sandbox.inbound_delivery(sandbox.receive(PHONE, "9").sid)
        finally:
            release.set()

    assert (delivery.status_code, delivery.error_code, delivery.replies) == (None, 11205, ())
    assert delivery.error is not None and "timed out" in delivery.error
    assert receiver.received.qsize() == 1


# -- Advanced Opt-Out ----------------------------------------------------------------------


def test_stop_opts_the_phone_out_of_the_service(
    client: Client, sandbox: Sandbox, receiver: Receiver, hook: str
) -> None:
    scheduled = schedule(client)

    inbound = sandbox.receive(PHONE, "Stop")

    assert signed_params(receiver.collect(1)[0])["OptOutType"] == "STOP"
    delivery = sandbox.inbound_delivery(inbound.sid)
    assert delivery.opt_out_type is OptOutType.STOP
    assert delivery.keyword_reply is not None
    assert delivery.keyword_reply.body == REPLIES[OptOutType.STOP]
    with pytest.raises(TwilioRestException) as through_service:
        create_now(client)
    with pytest.raises(TwilioRestException) as from_its_number:
        client.messages.create(to=PHONE, from_=SANDBOX_FROM_NUMBER, body="x")
    assert (through_service.value.code, from_its_number.value.code) == (21610, 21610)
    assert create_now(client, OTHER_SERVICE) == "accepted"  # opted out of that service only
    assert sandbox.opted_out_of(PHONE) == [SERVICE]

    # Twilio does not cancel what was scheduled: released after STOP, it fails.
    sandbox.advance(timedelta(hours=1))
    failed = client.messages(scheduled).fetch()
    assert (failed.status, failed.error_code) == ("failed", 21610)
    # The confirmation reaches the phone all the same (and so does the other service's text).
    assert [m.body for m in sandbox.conversation(PHONE)] == ["Stop", REPLIES[OptOutType.STOP], "x"]


def test_a_twiml_reply_to_stop_is_blocked(sandbox: Sandbox, receiver: Receiver, hook: str) -> None:
    receiver.answer(twiml("Sorry to see you go"))

    [reply] = sandbox.inbound_delivery(sandbox.receive(PHONE, "STOP").sid).replies
    sandbox.process()

    assert [m.status for m in sandbox.messages() if m.sid == reply.sid] == [Status.FAILED]
    assert [m.body for m in sandbox.conversation(PHONE)] == ["STOP", REPLIES[OptOutType.STOP]]


def test_start_opts_back_in(
    client: Client, sandbox: Sandbox, receiver: Receiver, hook: str
) -> None:
    sandbox.receive(PHONE, "UNSUBSCRIBE")

    inbound = sandbox.receive(PHONE, " start ")

    assert [signed_params(r)["OptOutType"] for r in receiver.collect(2)] == ["STOP", "START"]
    reply = sandbox.inbound_delivery(inbound.sid).keyword_reply
    assert reply is not None and reply.body == REPLIES[OptOutType.START]
    assert create_now(client) == "accepted"
    assert sandbox.opted_out_of(PHONE) == []


def test_help_gets_the_help_text(
    client: Client, sandbox: Sandbox, receiver: Receiver, hook: str
) -> None:
    inbound = sandbox.receive(PHONE, "info")

    assert signed_params(receiver.collect(1)[0])["OptOutType"] == "HELP"
    reply = sandbox.inbound_delivery(inbound.sid).keyword_reply
    assert reply is not None and reply.body == REPLIES[OptOutType.HELP]
    assert create_now(client) == "accepted"


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ("STOP", OptOutType.STOP),
        ("stopall", OptOutType.STOP),
        ("Cancel", OptOutType.STOP),
        ("END", OptOutType.STOP),
        ("quit", OptOutType.STOP),
        ("Revoke", OptOutType.STOP),
        ("OPTOUT", OptOutType.STOP),
        ("\tunsubscribe\n", OptOutType.STOP),
        ("YES", OptOutType.START),
        ("unstop", OptOutType.START),
        ("Help", OptOutType.HELP),
        ("stop please", None),
        ("please cancel", None),
        ("8", None),
    ],
)
def test_keywords_are_whole_single_words(
    sandbox: Sandbox, body: str, kind: OptOutType | None
) -> None:
    delivery = sandbox.inbound_delivery(sandbox.receive(PHONE, body).sid)

    assert delivery.opt_out_type is kind
    assert (delivery.keyword_reply is not None) is (kind is not None)
    assert (sandbox.opted_out_of(PHONE) == [SERVICE]) is (kind is OptOutType.STOP)


def test_without_advanced_opt_out_keywords_pass_through(receiver: Receiver) -> None:
    receiver.answer(twiml("dripsms: you will get no more texts from us."))
    http = TwilioHttpClient(timeout=5)
    with (
        Sandbox(now=START, advanced_opt_out=False) as sandbox,
        SandboxServer(sandbox) as server,
    ):
        client = Client(SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN, http_client=http)
        client.edge = client.region = None
        client.api.base_url = server.base_url
        sandbox.set_inbound_url(SERVICE, f"{receiver.url}/twilio/inbound")

        delivery = sandbox.inbound_delivery(sandbox.receive(PHONE, "STOP").sid)
        params = signed_params(receiver.collect(1)[0])
        created = create_now(client)
        assert http.session is not None
        http.session.close()

    assert "OptOutType" not in params
    assert (delivery.opt_out_type, delivery.keyword_reply) == (None, None)
    assert [m.body for m in delivery.replies] == ["dripsms: you will get no more texts from us."]
    assert created == "accepted"  # not blocked: the application answers STOP itself


# -- the phone simulator over HTTP ---------------------------------------------------------


def test_phones_text_and_show_their_conversation(
    admin: Any, client: Client, receiver: Receiver
) -> None:
    url = f"{receiver.url}/twilio/inbound"
    assert admin("post", "inbound-url", json={"url": url}).json() == {
        "inbound_urls": {SERVICE: url}
    }
    scheduled = schedule(client, "Day 2: rate your pain 0-10")
    receiver.answer(twiml("Thank you"))

    texted = admin("post", f"phones/{PHONE}/messages", json={"body": "8/10"})

    assert texted.status_code == 200
    answer = texted.json()
    assert answer["message"]["direction"] == "inbound"
    assert answer["webhook"]["status_code"] == 200
    assert answer["webhook"]["params"]["Body"] == "8/10"
    assert [r["body"] for r in answer["replies"]] == ["Thank you"]
    signed_params(receiver.collect(1)[0])

    def screen() -> list[tuple[str, str, str]]:
        shown = admin("get", f"phones/{PHONE}").json()["messages"]
        return [(m["direction"], m["body"], m["date"]) for m in shown]

    assert screen() == [("inbound", "8/10", "2026-11-27T07:00:00Z")]
    admin("post", "clock", json={"advance": 0})
    assert screen()[1:] == [("outbound-reply", "Thank you", "2026-11-27T07:00:00Z")]
    admin("post", "clock", json={"advance": 3600})  # the scheduled message's SendAt
    assert screen()[2:] == [("outbound-api", "Day 2: rate your pain 0-10", "2026-11-27T08:00:00Z")]
    assert client.messages(scheduled).fetch().status == "delivered"
    deliveries = admin("get", "inbound").json()["deliveries"]
    assert [d["message"]["body"] for d in deliveries] == ["8/10"]


def test_the_webhook_may_call_the_api_while_the_phone_waits(
    admin: Any, client: Client, receiver: Receiver, hook: str
) -> None:
    # dripsms cancels what a reply makes wrong while it handles the webhook: the sandbox
    # must answer that call while the phone's text is still in flight.
    scheduled = schedule(client)
    canceled: list[str] = []
    receiver.answer(
        Answer(
            200,
            "<Response/>",
            before=lambda: canceled.append(
                client.messages(scheduled).update(status="canceled").status
            ),
        )
    )

    answer = admin("post", f"phones/{PHONE}/messages", json={"body": "10"}).json()

    assert answer["webhook"]["status_code"] == 200
    assert canceled == ["canceled"]


def test_a_phone_texting_stop_over_http(admin: Any, client: Client) -> None:
    answer = admin("post", f"phones/{PHONE}/messages", json={"body": "STOP"}).json()

    assert (answer["opt_out_type"], answer["webhook"]) == ("STOP", None)
    assert answer["keyword_reply"]["body"] == REPLIES[OptOutType.STOP]
    assert admin("get", f"phones/{PHONE}").json()["opted_out_of"] == [SERVICE]
    with pytest.raises(TwilioRestException) as raised:
        create_now(client)
    assert raised.value.code == 21610
    admin("post", "opt-in", json={"number": PHONE})
    assert create_now(client) == "accepted"


def test_the_phone_routes_refuse_bad_input(admin: Any) -> None:
    assert admin("post", "phones/12345/messages", json={"body": "hi"}).status_code == 400
    assert admin("post", "inbound-url", json={"url": "not a url"}).status_code == 400
    assert (
        admin("post", "inbound-url", json={"url": None, "messaging_service_sid": "x"}).status_code
        == 400
    )


def test_opt_outs_can_be_scoped_by_hand(admin: Any, client: Client) -> None:
    admin("post", "opt-out", json={"number": PHONE, "messaging_service_sid": OTHER_SERVICE})

    assert create_now(client) == "accepted"
    with pytest.raises(TwilioRestException):
        create_now(client, OTHER_SERVICE)


def test_reset_forgets_deliveries_but_keeps_the_webhook(
    sandbox: Sandbox, receiver: Receiver, hook: str
) -> None:
    sandbox.receive(PHONE, "STOP")

    sandbox.reset()

    assert (sandbox.inbound_deliveries(), sandbox.opted_out_of(PHONE)) == ([], [])
    assert sandbox.inbound_urls() == {SERVICE: hook}
