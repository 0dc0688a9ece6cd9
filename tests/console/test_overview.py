"""The overview over HTTP: each figure counted from what the engine wrote, on the clinic's
day, and linked to the page that lists it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from tests.console.conftest import Console, serve_console
from tests.console.scenes import ADA, BOB, DAY1, close_windows, enroll, hand_off, reply

CY = "+14155550102"
LATER = DAY1 + timedelta(hours=25)
"""2026-03-04 15:00 UTC: 10:00 in New York, the clinic's zone here."""


@pytest.fixture
def clinic(engine: Engine) -> Iterator[Console]:
    yield from serve_console(engine, clinic_timezone="America/New_York")


def figures(page: str) -> dict[str, tuple[str, str]]:
    """label → (value, link)."""
    found = re.findall(
        r'<a href="([^"]+)">\s*<span class="figure">([^<]*)</span>\s*'
        r'<span class="figure-label">([^<]*)</span>',
        page,
    )
    return {label: (value, link.replace("&amp;", "&")) for link, value, label in found}


def test_the_overview_counts_todays_alerts_failures_and_what_waits(clinic: Console) -> None:
    runtime = clinic.runtime
    enroll(runtime, ADA, "Ada")
    enroll(runtime, BOB, "Bob")
    hand_off(runtime)
    reply(runtime, ADA, "8/10", sid="SM" + "1" * 32)  # yesterday: not today's alert
    close_windows(runtime, LATER)  # Bob never answered: today's alert
    enroll(runtime, CY, "Cy", surgery="2026-03-03")
    hand_off(runtime, LATER, refused=1)  # Cy's day 1 is refused for good: today's failure
    reply(runtime, "+14155550199", "who is this?", sid="SM" + "2" * 32, at=LATER)
    runtime.clock = lambda: LATER
    page = clinic.sign_in("nurse").get(clinic.url + "/console/", timeout=10)
    assert page.status_code == 200
    shown = figures(page.text)
    assert shown["Active enrollments"] == ("3", "/console/enrollments?state=active")
    assert shown["Alerts today"] == ("1", "/console/inbox?status=all&kind=alert")
    assert shown["Failures today"] == ("1", "/console/inbox?status=all&kind=failure")
    assert shown["Replies awaiting review"] == ("1", "/console/inbox?kind=review")
    due, link = shown["Texts due in the next 24 h"]  # day 3 of Ada and of Bob
    assert due == "2" and link == "/console/enrollments?state=active&due=24h"
    assert shown["Scheduled at Twilio"][1] == "/console/sequences"
    assert "of a budget of 450,000" in page.text
    assert shown["Dispatcher"] == ("ok", "/healthz")
    assert "America/New_York" in page.text
    # the due figure's link lists those enrollments
    listed = clinic.sign_in("nurse").get(clinic.url + link, timeout=10).text
    assert len(re.findall(r'data-enrollment="', listed)) == 2  # Ada and Bob: day 3 tomorrow


def test_an_empty_database_shows_zeros(console: Console) -> None:
    page = console.sign_in("nurse").get(console.url + "/console/", timeout=10)
    assert page.status_code == 200
    shown = figures(page.text)
    assert shown["Active enrollments"][0] == "0" and shown["Alerts today"][0] == "0"
    assert 'class="count"' not in page.text  # nothing open: no count in the navigation
