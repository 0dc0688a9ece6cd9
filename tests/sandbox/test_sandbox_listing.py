"""Fetching and listing through the SDK: filters, newest first, pages the SDK can follow."""

from __future__ import annotations

from datetime import timedelta

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
    Sandbox,
    SandboxServer,
)

TO = "+15551230002"


def send(client: Client, body: str, to: str = TO) -> str:
    return str(client.messages.create(to=to, from_=SANDBOX_FROM_NUMBER, body=body).sid)


def test_fetch_answers_the_created_message(client: Client) -> None:
    sid = send(client, "Hello")

    fetched = client.messages(sid).fetch()

    assert (fetched.sid, fetched.body, fetched.status, fetched.to) == (sid, "Hello", "queued", TO)


def test_fetching_an_unknown_message_is_20404(client: Client) -> None:
    sid = "SM" + "0" * 32

    with pytest.raises(TwilioRestException) as raised:
        client.messages(sid).fetch()

    assert (raised.value.status, raised.value.code) == (404, 20404)
    assert f"/Messages/{sid}.json was not found" in raised.value.msg


def test_list_by_recipient_is_newest_first(client: Client) -> None:
    sids = [send(client, f"n{i}") for i in range(3)]
    send(client, "someone else", to="+15551239999")

    listed = client.messages.list(to=TO)

    assert [m.sid for m in listed] == sids[::-1]


def test_the_sdk_follows_pages(client: Client) -> None:
    bodies = [f"n{i}" for i in range(7)]
    for body in bodies:
        send(client, body)

    every = client.messages.list(to=TO, page_size=3)
    limited = client.messages.list(to=TO, page_size=2, limit=5)

    assert [m.body for m in every] == bodies[::-1]
    assert [m.body for m in limited] == bodies[::-1][:5]


def test_pages_link_both_ways(client: Client) -> None:
    for i in range(5):
        send(client, f"n{i}")

    first = client.messages.page(to=TO, page_size=2)
    second = first.next_page()
    assert second is not None
    back = second.previous_page()

    assert [m.body for m in first] == ["n4", "n3"]
    assert [m.body for m in second] == ["n2", "n1"]
    assert back is not None and [m.body for m in back] == ["n4", "n3"]


def test_paging_is_not_shifted_by_new_messages(client: Client) -> None:
    for i in range(4):
        send(client, f"n{i}")
    first = client.messages.page(to=TO, page_size=2)

    send(client, "arrived while paging")
    second = first.next_page()

    assert second is not None
    assert [m.body for m in first] + [m.body for m in second] == ["n3", "n2", "n1", "n0"]


def test_a_recipient_filter_lists_scheduled_messages(client: Client) -> None:
    scheduled = client.messages.create(
        to=TO,
        messaging_service_sid=SANDBOX_MESSAGING_SERVICE_SID,
        body="later",
        send_at=START + timedelta(hours=2),
        schedule_type="fixed",
    )

    by_recipient = client.messages.list(to=TO)
    sent_since_today = client.messages.list(to=TO, date_sent_after=START)

    assert [m.sid for m in by_recipient] == [scheduled.sid]
    assert sent_since_today == []  # not sent yet: no date_sent to match


def test_date_sent_filters_compare_days(client: Client, sandbox: Sandbox) -> None:
    today = send(client, "today")
    sandbox.process()
    sandbox.advance(timedelta(days=1))
    tomorrow = send(client, "tomorrow")
    sandbox.process()

    def sids(**filters: object) -> list[str]:
        return [m.sid for m in client.messages.list(to=TO, **filters)]

    assert sids() == [tomorrow, today]
    assert sids(date_sent=START) == [today]
    assert sids(date_sent_before=START + timedelta(hours=16)) == [today]
    # Day granularity: 10:00 the next day still includes what was sent at 07:00 that day.
    assert sids(date_sent_after=START + timedelta(days=1, hours=3)) == [tomorrow]


def test_page_size_is_capped_at_1000(server: SandboxServer) -> None:
    url = f"{server.base_url}/2010-04-01/Accounts/{SANDBOX_ACCOUNT_SID}/Messages.json"

    page = requests.get(
        url, params={"PageSize": "5000"}, auth=(SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN), timeout=5
    )

    assert page.status_code == 200
    assert page.json()["page_size"] == 1000


def test_unreadable_filters_are_refused(server: SandboxServer) -> None:
    url = f"{server.base_url}/2010-04-01/Accounts/{SANDBOX_ACCOUNT_SID}/Messages.json"
    auth = (SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN)

    bad_date = requests.get(url, params={"DateSent>": "soon"}, auth=auth, timeout=5)
    bad_token = requests.get(url, params={"PageToken": "PASM" + "1" * 32}, auth=auth, timeout=5)

    assert (bad_date.status_code, bad_date.json()["code"]) == (400, 20422)
    assert (bad_token.status_code, bad_token.json()["code"]) == (400, 20422)
