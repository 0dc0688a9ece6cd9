"""The enrollments page over HTTP: filters, pages of 50 in a stable order, unenroll (an
admin's, confirmed, CSRF-checked, audited)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from dripsms.core.planning import EnrollmentRequest
from dripsms.store.audit import recent
from dripsms.store.tables import enrollments
from tests.console.conftest import Console
from tests.console.scenes import ADA, BOB, DAY1, NOW, SURGERY, enroll, hand_off, reply


def ids(page: str) -> list[int]:
    return [int(found) for found in re.findall(r'data-enrollment="(\d+)"', page)]


@pytest.fixture
def two(console: Console) -> tuple[int, int]:
    """Ada (answered 8: an escalation, day 3 escalated next) and Bob (day 1 next)."""
    runtime = console.runtime
    ada, bob = enroll(runtime, ADA, "Ada"), enroll(runtime, BOB, "Bob")
    hand_off(runtime)
    reply(runtime, ADA, "8/10", sid="SM" + "1" * 32)
    console.runtime.clock = lambda: DAY1 + timedelta(hours=2)
    return ada, bob


def test_the_page_lists_enrollments_newest_first_with_their_next_step(
    console: Console, two: tuple[int, int]
) -> None:
    ada, bob = two
    page = console.sign_in("nurse").get(console.url + "/console/enrollments", timeout=10)
    assert page.status_code == 200
    assert ids(page.text) == [bob, ada]
    assert 'href="/console/contacts/+14155550100"' in page.text and "Ada" in page.text
    rows = dict(re.findall(r'data-enrollment="(\d+)">(.*?)</tr>', page.text, re.S))
    # day 1 went out (its SendAt passed); day 3 is next, on the patient's wall clock
    assert "day3<br>" in rows[str(ada)] and "2026-03-05 09:00 EST" in rows[str(ada)]
    assert "1 unresolved" in rows[str(ada)] and "1 unresolved" not in rows[str(bob)]
    assert "Unenroll" not in page.text  # a nurse is not offered it


@pytest.mark.parametrize(
    ("query", "who"),
    [
        ("sequence=postop", ["bob", "ada"]),
        ("state=active", ["bob", "ada"]),
        ("state=canceled", []),
        ("step=day3", ["bob", "ada"]),
        ("step=day1", []),  # both were asked already: day 1 is behind them
        ("alert=yes", ["ada"]),
        ("alert=no", ["bob"]),
        ("due=24h", []),
        ("sequence=postop&state=active&alert=yes&step=day3", ["ada"]),
    ],
)
def test_filters(console: Console, two: tuple[int, int], query: str, who: list[str]) -> None:
    ada, bob = two
    page = console.sign_in("nurse").get(console.url + f"/console/enrollments?{query}", timeout=10)
    assert page.status_code == 200
    assert ids(page.text) == [{"ada": ada, "bob": bob}[name] for name in who]


def test_a_bad_filter_is_a_page_naming_the_field(console: Console) -> None:
    browser = console.sign_in("nurse")
    for query, field in [("state=sleeping", "state"), ("alert=maybe", "alert"),
                         ("page=0", "page"), ("due=1y", "due")]:  # fmt: skip
        page = browser.get(console.url + f"/console/enrollments?{query}", timeout=10)
        assert page.status_code == 422, query
        assert f"{field}:" in page.text, query


def test_pages_of_fifty_in_a_stable_order(console: Console) -> None:
    requests_ = [
        (n, EnrollmentRequest(
            sequence="postop", phone=f"+1415555{n:04d}", timezone="America/New_York",
            attributes={"first_name": f"P{n}", "surgery_date": SURGERY},
        ))
        for n in range(1, 56)
    ]  # fmt: skip
    console.runtime.enroller.enroll_batch(requests_, now=NOW)
    browser = console.sign_in("nurse")
    first = browser.get(console.url + "/console/enrollments", timeout=10).text
    second = browser.get(console.url + "/console/enrollments?page=2", timeout=10).text
    assert len(ids(first)) == 50 and len(ids(second)) == 5
    assert ids(first) + ids(second) == sorted(ids(first) + ids(second), reverse=True)
    assert 'href="/console/enrollments?page=2">Next page' in first
    assert "Next page" not in second and 'href="/console/enrollments">Previous page' in second


def _state(console: Console, enrollment_id: int) -> str:
    with console.runtime.engine.connect() as connection:
        query = select(enrollments.c.state).where(enrollments.c.id == enrollment_id)
        return str(connection.execute(query).scalar_one())


def test_a_nurse_cannot_unenroll(console: Console, two: tuple[int, int]) -> None:
    ada, _ = two
    browser = console.sign_in("nurse")
    confirm = browser.get(console.url + f"/console/enrollments/{ada}/unenroll", timeout=10)
    assert confirm.status_code == 403
    answer = browser.post(
        console.url + f"/console/enrollments/{ada}/unenroll",
        data={"csrf_token": console.csrf(browser)}, allow_redirects=False, timeout=10,
    )  # fmt: skip
    assert answer.status_code == 403
    assert _state(console, ada) == "active"


def test_an_admin_unenrolls_after_confirming_and_it_is_audited(
    console: Console, two: tuple[int, int]
) -> None:
    ada, _ = two
    browser = console.sign_in("admin", email="ann@clinic.example")
    listing = browser.get(console.url + "/console/enrollments", timeout=10).text
    assert f'href="/console/enrollments/{ada}/unenroll"' in listing
    confirm = browser.get(console.url + f"/console/enrollments/{ada}/unenroll", timeout=10)
    assert confirm.status_code == 200 and "Unenroll enrollment" in confirm.text
    assert _state(console, ada) == "active"  # the confirm page changes nothing
    token = re.search(r'name="csrf_token" value="([^"]+)"', confirm.text).group(1)  # type: ignore[union-attr]
    refused = browser.post(
        console.url + f"/console/enrollments/{ada}/unenroll", allow_redirects=False, timeout=10
    )
    assert refused.status_code == 403 and _state(console, ada) == "active"
    answer = browser.post(
        console.url + f"/console/enrollments/{ada}/unenroll", data={"csrf_token": token},
        allow_redirects=False, timeout=10,
    )  # fmt: skip
    assert answer.status_code == 303
    assert _state(console, ada) == "canceled"
    with console.runtime.engine.connect() as connection:
        [event] = [e for e in recent(connection) if e.action != "sign_in"]
    assert (event.operator_email, event.action, event.subject) == (
        "ann@clinic.example", "unenroll", f"enrollment:{ada}",
    )  # fmt: skip
    again = browser.post(
        console.url + f"/console/enrollments/{ada}/unenroll", data={"csrf_token": token},
        allow_redirects=False, timeout=10,
    )  # fmt: skip
    assert again.status_code == 422 and "not active" in again.text
    missing = browser.get(console.url + "/console/enrollments/99999/unenroll", timeout=10)
    assert missing.status_code == 404
