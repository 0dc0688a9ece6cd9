"""The contact page's context builder and its chart, from records, without HTTP."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dripsms.store.conversation_view import (
    AlertRecord,
    ContactRecord,
    ConversationRecord,
    EnrollmentRecord,
    InboundRecord,
    OutboundRecord,
)
from dripsms.web.console.chart import ChartPoint, layout
from dripsms.web.console.contacts import contact_page

ADA = "+14155550100"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def enrollment(**fields: Any) -> EnrollmentRecord:
    base: dict[str, Any] = {
        "id": 1, "sequence": "postop", "state": "active", "timezone": "America/New_York",
        "anchor": "2026-03-01", "external_id": "", "enrolled_at": at(1, 15), "ended_at": None,
        "end_reason": None, "paused_at": None,
    }  # fmt: skip
    return EnrollmentRecord(**{**base, **fields})


def out(id_: int, step: str, state: str, **fields: Any) -> OutboundRecord:
    base: dict[str, Any] = {
        "id": id_, "enrollment_id": 1, "step_id": step, "kind": "step", "state": state,
        "due_at": at(2, 14), "sent_at": None, "body": None, "error_code": None,
        "error_message": None,
    }  # fmt: skip
    return OutboundRecord(**{**base, **fields})


def reply(id_: int, kind: str, body: str, value: Any, received: datetime, **fields: Any) -> Any:
    base: dict[str, Any] = {
        "id": id_, "enrollment_id": 1, "step_id": "day1", "kind": kind, "body": body,
        "value": value, "received_at": received, "reason": None,
    }  # fmt: skip
    return InboundRecord(**{**base, **fields})


def record(**fields: Any) -> ConversationRecord:
    contact = ContactRecord(1, ADA, None, {"first_name": "Ada", "escalated": True}, None, at(1, 15))
    base: dict[str, Any] = {
        "contact": contact, "enrollments": [enrollment()], "outbound": [], "inbound": [],
        "alerts": [],
    }  # fmt: skip
    return ConversationRecord(**{**base, **fields})


def test_the_thread_interleaves_texts_in_time_on_the_contacts_clock() -> None:
    failed = {"due_at": at(4, 14), "sent_at": at(4, 14), "body": "Day 3", "error_code": 30006,
              "error_message": "Landline or unreachable carrier"}  # fmt: skip
    outbound = [
        out(1, "day1", "delivered", sent_at=at(2, 14), body="Pain 0-10?"),
        out(2, "day3", "failed", **failed),
        out(3, "day7", "scheduled", due_at=at(8, 14)),
        out(4, "console#1", "planned", kind="text", due_at=at(3, 9), body="Call you"),
    ]
    review = {"step_id": None, "enrollment_id": None, "reason": "possible opt-out: review"}
    inbound = [
        reply(1, "matched", "8", 8, at(2, 14, 5)),
        reply(2, "late", "still 8", 8, at(3, 20)),
        reply(3, "unmatched", "stop it", None, at(5, 1), **review),
    ]
    page = contact_page(record(outbound=outbound, inbound=inbound), clinic_timezone="Europe/Paris")
    assert page.zone == "America/New_York"  # the enrollment's, before the clinic's
    steps = [(i.direction, i.step) for i in page.thread]
    assert steps == [("out", "day1"), ("in", "day1"), ("in", "day1"), ("out", "day3"),
                     ("in", None)]  # fmt: skip
    assert page.thread[0].when == "2026-03-02 09:00 EST"
    assert page.thread[3].error == "30006 Landline or unreachable carrier"
    assert page.thread[2].marks == ["late: its reply window had closed"]
    assert page.thread[4].marks == [
        "unmatched: no open question", "possible opt-out in words: review"
    ]  # fmt: skip
    assert [i.step for i in page.upcoming] == ["console#1", "day7"]
    assert page.upcoming[0].by_console
    assert page.enrollments[0].next_due == "2026-03-08 10:00 EDT"  # steps only, not texts
    assert page.attributes == [("escalated", "yes"), ("first_name", "Ada")]
    assert page.can_reply


def test_a_contact_without_zone_or_enrollment_is_shown_in_the_clinics_zone() -> None:
    page = contact_page(record(enrollments=[]), clinic_timezone="Europe/Paris")
    assert page.zone == "Europe/Paris"
    assert not page.can_reply  # no enrollment to send under
    assert contact_page(record(enrollments=[])).zone == "UTC"


def test_an_opted_out_contact_cannot_be_replied_to() -> None:
    contact = ContactRecord(1, ADA, "America/Chicago", {}, at(3, 12), at(1, 15))
    page = contact_page(record(contact=contact))
    assert page.zone == "America/Chicago"
    assert page.opted_out == "2026-03-03 06:00 CST"
    assert not page.can_reply


def test_a_step_replaced_after_a_pause_is_shown_once() -> None:
    page = contact_page(
        record(
            outbound=[
                out(1, "day1~1", "canceled", kind="superseded"),
                out(2, "day1", "planned"),
            ]
        )
    )
    assert [(i.step, i.state) for i in page.upcoming] == [("day1", "planned")]
    assert page.thread == []


def test_the_chart_has_one_point_per_numeric_answer_in_days_since_the_anchor() -> None:
    page = contact_page(
        record(
            inbound=[
                reply(1, "matched", "8/10", 8, at(2, 14)),
                reply(2, "followup", "now 6", 6, at(3, 14)),
                reply(3, "matched", "yes", True, at(4, 14)),  # a yes/no answer is no number
                reply(4, "invalid", "ouch", None, at(4, 15)),
            ]
        )
    )
    chart = page.chart
    assert chart is not None
    assert [(p.day, p.value) for p in chart.points] == [(1.38, 8.0), (2.38, 6.0)]  # 09:00 EST
    assert chart.x_label == "days since the anchor (2026-03-01)"
    first, second = chart.points
    assert first.x < second.x and first.y < second.y  # 8 is drawn higher than 6
    assert chart.top <= first.y <= chart.bottom and chart.left <= first.x <= chart.right
    assert "= 8" in first.label


def test_answers_of_several_enrollments_are_charted_from_the_first_answer() -> None:
    page = contact_page(
        record(
            enrollments=[enrollment(), enrollment(id=2, sequence="meds")],
            inbound=[
                reply(1, "matched", "3", 3, at(2, 14)),
                reply(2, "matched", "4", 4, at(5, 2), enrollment_id=2),
            ],
        )
    )
    assert page.chart is not None
    assert page.chart.x_label.startswith("days since the first answer (2026-03-02")
    assert [p.day for p in page.chart.points] == [0.0, 2.5]


def test_no_numeric_answer_no_chart() -> None:
    assert contact_page(record()).chart is None
    assert layout([], x_label="d", y_label="v") is None


def test_ticks_are_round_and_cover_the_values() -> None:
    chart = layout(
        [ChartPoint(0.5, 3, "a"), ChartPoint(29.0, 10, "b")], x_label="days", y_label="v"
    )
    assert chart is not None
    assert [t.text for t in chart.y_ticks] == ["0", "2", "4", "6", "8", "10"]
    assert chart.x_ticks[0].text == "0" and float(chart.x_ticks[-1].text) >= 29
    assert len(chart.x_ticks) <= 9
    assert chart.polyline.count(",") == 2


def test_alerts_are_listed_with_their_reason() -> None:
    alert = AlertRecord(1, at(2, 14, 5), 1, "day1", "care_team", "reply", "reply >= 7", "8", 8)
    page = contact_page(record(alerts=[alert]))
    assert page.alerts[0]["when"] == "2026-03-02 09:05 EST"
    assert (page.alerts[0]["reason"], page.alerts[0]["rule"]) == ("reply", "reply >= 7")


def test_alerts_texted_to_staff_are_listed_apart_from_the_thread() -> None:
    staff = out(5, "day1#SM1#staff0", "delivered", kind="staff", body="dripsms alert ...")
    page = contact_page(record(outbound=[staff]))
    assert page.thread == [] and page.upcoming == []
    assert [t.body for t in page.staff_texts] == ["dripsms alert ..."]
