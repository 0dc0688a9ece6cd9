"""The inbox over HTTP: what needs a person, filtered; acknowledged and resolved (who,
when, audited); forms without their CSRF token refused; patients' text shown as text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from dripsms.store.audit import recent
from dripsms.store.notifications import retry_at
from dripsms.store.tables import alerts, inbox_acknowledgements, messages, notifications, replies
from tests.console.conftest import Console
from tests.console.scenes import ADA, BOB, DAY1, NOW, close_windows, enroll, hand_off, reply

CY = "+14155550102"
STRANGER = "+14155550199"
SCRIPT = "<script>alert(1)</script>"


@dataclass
class Items:
    escalation: str
    no_reply: str
    unmatched: str
    opt_out: str
    failure: str
    webhook: str


@pytest.fixture
def items(console: Console) -> Items:
    """Ada answers 8, Bob never answers, a stranger texts markup and then "stop texting
    me please", Cy's number is refused by Twilio, the care team's webhook fails once."""
    runtime = console.runtime
    enroll(runtime, ADA, "Ada")
    enroll(runtime, BOB, "Bob")
    hand_off(runtime)
    enroll(runtime, CY, "Cy")
    hand_off(runtime, refused=1)
    reply(runtime, ADA, "8/10", sid="SM" + "1" * 32)
    reply(runtime, STRANGER, SCRIPT, sid="SM" + "2" * 32, at=DAY1 + timedelta(hours=2))
    reply(
        runtime, STRANGER, "stop texting me please", sid="SM" + "3" * 32,
        at=DAY1 + timedelta(hours=3),
    )  # fmt: skip
    close_windows(runtime)
    with runtime.engine.begin() as connection:
        escalation, no_reply = connection.execute(
            select(alerts.c.id, alerts.c.reason).order_by(alerts.c.id)
        ).all()
        assert (escalation.reason, no_reply.reason) == ("reply", "no_reply")
        loose = {
            row.body: row.id for row in connection.execute(select(replies.c.body, replies.c.id))
        }
        failed = connection.execute(
            select(messages.c.id).where(messages.c.state == "failed")
        ).scalar_one()
        hook = connection.execute(select(func.min(notifications.c.id))).scalar_one()
        retry_at(connection, hook, 1, "HTTP 502", DAY1 + timedelta(hours=2))
    return Items(
        f"alert:{escalation.id}", f"alert:{no_reply.id}", f"reply:{loose[SCRIPT]}",
        f"reply:{loose['stop texting me please']}", f"message:{failed}", f"notification:{hook}",
    )  # fmt: skip


def keys(page: str) -> list[str]:
    return re.findall(r'data-item="([^"]+)"', page)


def test_the_inbox_lists_what_needs_a_person_newest_first(console: Console, items: Items) -> None:
    browser = console.sign_in("nurse")
    page = browser.get(console.url + "/console/inbox", timeout=10)
    assert page.status_code == 200
    listed = keys(page.text)
    assert set(listed) == {
        items.escalation, items.no_reply, items.unmatched, items.opt_out, items.failure,
        items.webhook,
    }  # fmt: skip
    # newest first: the window closed (day 2), the stranger's texts, Ada's 8, the failure
    assert listed.index(items.no_reply) < listed.index(items.opt_out)
    assert listed.index(items.opt_out) < listed.index(items.unmatched)
    assert listed.index(items.unmatched) < listed.index(items.escalation)
    assert listed.index(items.escalation) < listed.index(items.failure)
    assert 'href="/console/contacts/+14155550100"' in page.text
    assert "Possible opt-out" in page.text and "Escalation" in page.text
    assert "EST" in page.text  # times labelled with the contact's zone
    nav = page.text.split("</nav>")[0]
    assert re.search(r'class="count"[^>]*>6<', nav)  # the open count in the navigation


def test_a_reply_body_with_markup_is_shown_as_text(console: Console, items: Items) -> None:
    page = console.sign_in("nurse").get(console.url + "/console/inbox", timeout=10).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert SCRIPT not in page


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("escalation", ["escalation"]),
        ("no_reply", ["no_reply"]),
        ("alert", ["no_reply", "escalation"]),
        ("review", ["opt_out", "unmatched"]),
        ("opt_out", ["opt_out"]),
        ("failure", ["failure"]),
        ("webhook", ["webhook"]),
    ],
)
def test_the_kind_filter_shows_only_that_kind(
    console: Console, items: Items, kind: str, expected: list[str]
) -> None:
    browser = console.sign_in("nurse")
    page = browser.get(console.url + f"/console/inbox?kind={kind}", timeout=10)
    assert keys(page.text) == [getattr(items, name) for name in expected]


def test_a_bad_filter_is_a_page_naming_the_field(console: Console, items: Items) -> None:
    browser = console.sign_in("nurse")
    for query, field in [("kind=nonsense", "kind"), ("status=later", "status")]:
        page = browser.get(console.url + f"/console/inbox?{query}", timeout=10)
        assert page.status_code == 422
        assert f"{field}:" in page.text and "<html" in page.text


def _post(console: Console, browser: object, action: str, item: str, token: str | None) -> object:
    form = {"item": item, "back": "/console/inbox?status=all"}
    if token is not None:
        form["csrf_token"] = token
    return browser.post(  # type: ignore[attr-defined]
        console.url + f"/console/inbox/{action}", data=form, allow_redirects=False, timeout=10
    )


def _acks(console: Console) -> list[tuple[str, str, object, object, object]]:
    k = inbox_acknowledgements.c
    with console.runtime.engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                select(k.item, k.acknowledged_by, k.acknowledged_at, k.resolved_by, k.resolved_at)
            )
        ]


def test_acknowledging_records_who_and_when_and_an_audit_row(
    console: Console, items: Items
) -> None:
    browser = console.sign_in("nurse", email="nina@clinic.example")
    later = NOW + timedelta(days=2)
    console.runtime.clock = lambda: later
    answer = _post(console, browser, "acknowledge", items.escalation, console.csrf(browser))
    assert answer.status_code == 303  # type: ignore[attr-defined]
    assert answer.headers["location"] == "/console/inbox?status=all"  # type: ignore[attr-defined]
    assert _acks(console) == [(items.escalation, "nina@clinic.example", later, None, None)]
    with console.runtime.engine.connect() as connection:
        [event] = [e for e in recent(connection) if e.action != "sign_in"]
    # the acknowledgement is on the engine's clock, its audit row on the real one
    assert (event.operator_email, event.action, event.subject, event.at) == (
        "nina@clinic.example", "acknowledge", items.escalation, console.clock.now,
    )  # fmt: skip
    open_page = browser.get(console.url + "/console/inbox", timeout=10).text
    assert items.escalation not in keys(open_page)
    acked = browser.get(console.url + "/console/inbox?status=acknowledged", timeout=10).text
    assert keys(acked) == [items.escalation]
    assert "Acknowledged by nina@clinic.example" in acked
    # twice is once: no second row, no second audit event
    _post(console, browser, "acknowledge", items.escalation, console.csrf(browser))
    with console.runtime.engine.connect() as connection:
        assert len([e for e in recent(connection) if e.action != "sign_in"]) == 1


def test_resolving_settles_an_item_and_it_leaves_the_open_count(
    console: Console, items: Items
) -> None:
    browser = console.sign_in("nurse", email="nina@clinic.example")
    answer = _post(console, browser, "resolve", items.failure, console.csrf(browser))
    assert answer.status_code == 303  # type: ignore[attr-defined]
    [(item, by, _, resolved_by, resolved_at)] = _acks(console)
    assert (item, by, resolved_by, resolved_at) == (
        items.failure, "nina@clinic.example", "nina@clinic.example", NOW,
    )  # fmt: skip
    resolved = browser.get(console.url + "/console/inbox?status=resolved", timeout=10).text
    assert keys(resolved) == [items.failure]
    assert 'action="/console/inbox/resolve"' not in resolved
    nav = browser.get(console.url + "/console/inbox", timeout=10).text.split("</nav>")[0]
    assert re.search(r'class="count"[^>]*>5<', nav)
    with console.runtime.engine.connect() as connection:
        assert [e.action for e in recent(connection) if e.action != "sign_in"] == ["resolve"]


def test_a_form_without_its_csrf_token_is_refused_and_writes_nothing(
    console: Console, items: Items
) -> None:
    browser = console.sign_in("nurse")
    for token in (None, "not-the-token"):
        answer = _post(console, browser, "acknowledge", items.escalation, token)
        assert answer.status_code == 403  # type: ignore[attr-defined]
    assert _acks(console) == []


def test_an_unknown_item_is_refused_naming_the_field_and_writes_nothing(
    console: Console, items: Items
) -> None:
    browser = console.sign_in("nurse")
    token = console.csrf(browser)
    for item in ("alert:999", "message:999999999999", "contact:1", "alert:1; drop table", ""):
        answer = _post(console, browser, "acknowledge", item, token)
        assert answer.status_code == 422, item  # type: ignore[attr-defined]
        assert "item:" in answer.text  # type: ignore[attr-defined]
    assert _acks(console) == []


def test_the_inbox_asks_for_a_sign_in(console: Console) -> None:
    answer = console.browser().get(console.url + "/console/inbox", allow_redirects=False)
    assert answer.status_code == 303
