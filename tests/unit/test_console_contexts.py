"""The console's context builders, one per page: plain functions from store rows to what
the template shows, tested without HTTP or a database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dripsms.engine.inbound import REVIEW_OPT_OUT
from dripsms.errors import InvalidInput
from dripsms.store import inbox as store_inbox
from dripsms.store.enrollment_list import EnrollmentRow
from dripsms.store.inbox import InboxItem, ItemKind, ItemStatus
from dripsms.store.overview import Counts
from dripsms.web.console.enrollments import Choices, choices, enrollments_context
from dripsms.web.console.inbox import inbox_context, kinds_of
from dripsms.web.console.overview import Tally, day_start, overview_context
from dripsms.web.health import Check

AT = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)


def item(n: int, *, timezone: str | None = None, acknowledged: bool = False) -> InboxItem:
    return InboxItem(
        key=f"alert:{n}", kind=ItemKind.ESCALATION, at=AT, contact_id=1, phone="+14155550100",
        timezone=timezone, enrollment_id=1, step_id="day1", text="8/10", detail="reply >= 7",
        acknowledged_by="nina@clinic.example" if acknowledged else None,
        acknowledged_at=AT if acknowledged else None, resolved_by=None, resolved_at=None,
    )  # fmt: skip


def test_the_store_flags_the_same_reason_the_engine_writes() -> None:
    assert store_inbox.REVIEW_OPT_OUT == REVIEW_OPT_OUT


def test_an_inbox_entry_links_the_contact_and_takes_its_zone_or_the_clinics() -> None:
    context = inbox_context(
        [item(1, timezone="America/New_York"), item(2, acknowledged=True)],
        status=ItemStatus.ALL, kind="", offset=0, clinic_zone="Europe/Paris",
    )  # fmt: skip
    first, second = context["entries"]  # type: ignore[misc]
    assert first.contact_url == "/console/contacts/+14155550100"
    assert (first.zone, second.zone) == ("America/New_York", "Europe/Paris")
    assert (first.status, second.status) == ("open", "acknowledged")
    assert first.kind_label == "Escalation"


def test_the_inbox_pages_forward_only_when_more_follow() -> None:
    full = inbox_context(
        [item(n) for n in range(1, 4)], status=ItemStatus.OPEN, kind="alert", offset=2,
        clinic_zone="UTC", page_size=2,
    )  # fmt: skip
    assert len(full["entries"]) == 2  # type: ignore[arg-type]
    assert full["older"] == "/console/inbox?status=open&kind=alert&offset=4"
    assert full["newer"] == "/console/inbox?status=open&kind=alert&offset=0"
    last = inbox_context(
        [item(1)], status=ItemStatus.OPEN, kind="", offset=0, clinic_zone="UTC", page_size=2
    )
    assert (last["older"], last["newer"]) == (None, None)


def test_the_kind_filter_takes_a_kind_a_group_or_nothing() -> None:
    assert kinds_of("") is None
    assert kinds_of("failure") == [ItemKind.FAILURE]
    assert kinds_of("review") == [ItemKind.REPLY, ItemKind.OPT_OUT]
    with pytest.raises(InvalidInput, match=r"^kind: "):
        kinds_of("everything")


def _tally(**changes: int) -> Tally:
    values = {"scheduled": 10, "alerts_today": 0, "awaiting_review": 0} | changes
    return Tally(Counts(active_enrollments=1234, due_soon=5, failures_today=0), **values)


def _dispatcher(ok: bool = True) -> Check:
    return Check(ok=ok, detail="ok" if ok else "not running")


def _figures(context: dict[str, object]) -> dict[str, object]:
    return {f.label: f for f in context["figures"]}  # type: ignore[attr-defined]


def test_the_overview_shows_each_figure_with_its_link_and_tone() -> None:
    shown = _figures(overview_context(_tally(), _dispatcher(), budget=450_000, zone="UTC"))
    assert shown["Active enrollments"].value == "1,234"  # type: ignore[attr-defined]
    assert shown["Scheduled at Twilio"].note == "of a budget of 450,000 (0%)"  # type: ignore[attr-defined]
    assert {f.tone for f in shown.values()} == {"", "ok"}  # type: ignore[attr-defined]
    worried = _figures(
        overview_context(_tally(scheduled=95, alerts_today=2), _dispatcher(False), budget=100,
                         zone="UTC")
    )  # fmt: skip
    assert worried["Scheduled at Twilio"].tone == "warn"  # type: ignore[attr-defined]
    assert worried["Alerts today"].tone == "warn"  # type: ignore[attr-defined]
    assert worried["Dispatcher"].value == "not ok"  # type: ignore[attr-defined]
    assert worried["Dispatcher"].note == "not running"  # type: ignore[attr-defined]
    full = _figures(overview_context(_tally(scheduled=100), _dispatcher(), budget=100, zone="UTC"))
    assert full["Scheduled at Twilio"].tone == "bad"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("now", "start"),
    [
        # the day the clocks go forward in New York: it began at 05:00 UTC (EST)
        (datetime(2026, 3, 8, 20, 0, tzinfo=UTC), datetime(2026, 3, 8, 5, 0, tzinfo=UTC)),
        (datetime(2026, 3, 9, 3, 59, tzinfo=UTC), datetime(2026, 3, 8, 5, 0, tzinfo=UTC)),
        (datetime(2026, 3, 9, 4, 0, tzinfo=UTC), datetime(2026, 3, 9, 4, 0, tzinfo=UTC)),
    ],
)
def test_today_is_the_clinics_day(now: datetime, start: datetime) -> None:
    assert day_start(now, "America/New_York") == start


def row(n: int, state: str = "active") -> EnrollmentRow:
    return EnrollmentRow(
        id=n, contact_id=n, phone="+14155550100", first_name=None, sequence="postop",
        state=state, timezone="America/New_York", enrolled_at=AT, ended_at=None,
        end_reason=None, next_step="day3", next_due_at=AT, unresolved_alerts=0,
    )  # fmt: skip


def test_enrollments_offer_unenroll_to_an_admin_for_an_active_one_only() -> None:
    rows = [row(2), row(1, state="canceled")]
    for admin, expected in [(True, [True, False]), (False, [False, False])]:
        context = enrollments_context(rows, Choices(), sequences=[], steps=[], admin=admin)
        assert [e.may_unenroll for e in context["entries"]] == expected  # type: ignore[attr-defined]


def test_enrollment_pages_keep_the_filters() -> None:
    chosen = choices("postop", "active", "", "yes", "", 2)
    context = enrollments_context(
        [row(n) for n in range(3, 0, -1)], chosen, sequences=[], steps=[], admin=False,
        page_size=2,
    )  # fmt: skip
    assert context["previous"] == "/console/enrollments?sequence=postop&state=active&alert=yes"
    assert context["next"] == "/console/enrollments?sequence=postop&state=active&alert=yes&page=3"
    assert Choices().url() == "/console/enrollments"


@pytest.mark.parametrize(
    ("args", "field"),
    [(("", "asleep", "", "", "", 1), "state"), (("", "", "", "maybe", "", 1), "alert"),
     (("", "", "", "", "week", 1), "due")],
)  # fmt: skip
def test_a_bad_enrollment_filter_names_its_field(
    args: tuple[str, str, str, str, str, int], field: str
) -> None:
    with pytest.raises(InvalidInput, match=rf"^{field}: "):
        choices(*args)
