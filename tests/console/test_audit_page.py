"""The Audit page (admins only): newest first, in the clinic's zone, from a chosen time on."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from dripsms.store.audit import AuditAction, record
from tests.console.conftest import NOW, Console, serve_console


@pytest.fixture
def clinic(engine: Engine) -> Iterator[Console]:
    """The console of a clinic in New York."""
    yield from serve_console(engine, clinic_timezone="America/New_York")


def _record(console: Console, hours_ago: float, subject: str) -> None:
    with console.runtime.engine.begin() as connection:
        record(
            connection, at=NOW - timedelta(hours=hours_ago), operator_email="nia@clinic.example",
            action=AuditAction.VIEW_CONTACT, subject=subject,
        )  # fmt: skip


def test_a_nurse_cannot_read_the_audit_log(console: Console) -> None:
    nurse = console.sign_in("nurse")
    assert nurse.get(console.url + "/console/audit", timeout=10).status_code == 403


def test_rows_are_newest_first_in_the_clinics_zone_labelled(clinic: Console) -> None:
    _record(clinic, 2, "contact:older")
    _record(clinic, 1, "contact:newer")
    admin = clinic.sign_in("admin", "ada@clinic.example")
    page = admin.get(clinic.url + "/console/audit", timeout=10)
    assert page.status_code == 200
    text = page.text
    assert text.index("contact:newer") < text.index("contact:older")
    assert "2026-03-01 09:00:00 EST" in text  # 14:00 UTC, on the clinic's wall clock
    assert "Time (America/New_York)" in text
    assert "view contact" in text and "nia@clinic.example" in text
    assert "sign in" in text  # the admin's own sign-in, on top


def test_since_filters_by_duration_date_or_instant(clinic: Console) -> None:
    _record(clinic, 30, "contact:yesterday")
    _record(clinic, 1, "contact:recent")
    admin = clinic.sign_in("admin", "ada@clinic.example")
    for since in ("24h", "2026-03-01", "2026-03-01T05:00:00Z"):
        page = admin.get(clinic.url + "/console/audit", params={"since": since}, timeout=10)
        assert page.status_code == 200, since
        assert "contact:recent" in page.text and "contact:yesterday" not in page.text, since
    page = admin.get(clinic.url + "/console/audit", params={"since": "2d"}, timeout=10)
    assert "contact:yesterday" in page.text


@pytest.mark.parametrize("query", [{"since": "yesterday"}, {"since": "2026-03-01T05:00"},
                                   {"page": "0"}, {"page": "x"}, {"page": "9" * 40},
                                   {"since": "999999w"},
                                   {"since": "<script>alert(1)</script>"}])  # fmt: skip
def test_a_bad_filter_is_a_422_page_naming_the_field(
    console: Console, query: dict[str, str]
) -> None:
    admin = console.sign_in("admin")
    page = admin.get(console.url + "/console/audit", params=query, timeout=10)
    assert page.status_code == 422
    assert f"{next(iter(query))}:" in page.text
    assert "<script>alert(1)" not in page.text


def test_the_log_is_paginated(console: Console) -> None:
    for n in range(105):
        _record(console, 200 - n, f"contact:n{n:03}")
    admin = console.sign_in("admin")
    first = admin.get(console.url + "/console/audit", timeout=10)
    assert "contact:n104" in first.text and "contact:n006" in first.text  # and the sign-in
    assert "contact:n005" not in first.text
    assert "Older" in first.text and "Newer" not in first.text
    second = admin.get(console.url + "/console/audit?page=2", timeout=10)
    assert "contact:n005" in second.text and "contact:n000" in second.text
    assert "contact:n006" not in second.text
    assert "Newer" in second.text and "Older" not in second.text
