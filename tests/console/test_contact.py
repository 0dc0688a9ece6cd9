"""The contact page over HTTP: the thread, the chart, text shown as text, the audit, and its
actions (reply, pause, resume, unenroll) with their CSRF and role checks."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from sqlalchemy import insert, select, update

from dripsms.core.planning import EnrollmentRequest
from dripsms.store.tables import alerts, audit_events, contacts, enrollments, messages, replies
from tests.console.conftest import Console

ADA = "+14155550100"
SCRIPT = "<script>alert(1)</script>"
SVG = "<svg onload=alert(1)>"


def enroll_ada(console: Console) -> int:
    request = EnrollmentRequest(
        "postop", ADA, "America/New_York",
        {"first_name": "Ada", "surgery_date": "2026-03-01", "procedure": "knee"},
    )  # fmt: skip
    return console.runtime.enroller.enroll(request, now=console.clock.now).enrollment_id


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def populate(console: Console) -> int:
    """Ada answered 8 to day 1 (escalated, alerted), then wrote more, some of it markup."""
    enrollment_id = enroll_ada(console)
    engine = console.runtime.engine
    with engine.begin() as connection:
        day1 = {"state": "delivered", "body": "Hi Ada, how is your pain?", "sid": "SM" + "1" * 32,
                "sent_at": at(2, 14)}  # fmt: skip
        connection.execute(
            update(messages)
            .where(messages.c.enrollment_id == enrollment_id, messages.c.step_id == "day1")
            .values(**day1)
        )
        contact_id = connection.execute(select(contacts.c.id)).scalar_one()
        rows: list[dict[str, Any]] = [
            {"kind": "matched", "step_id": "day1", "body": "8/10", "value": 8, "at": at(2, 14, 5)},
            {"kind": "followup", "step_id": "day1", "body": "now 6", "value": 6,
             "at": at(2, 20)},
            {"kind": "unmatched", "step_id": None, "body": SCRIPT, "value": None,
             "at": at(3, 9)},
            {"kind": "late", "step_id": "day1", "body": SVG, "value": None, "at": at(4, 9)},
            {"kind": "unmatched", "step_id": None, "body": "please stop texting me",
             "value": None, "at": at(4, 10), "reason": "possible opt-out: review"},
        ]  # fmt: skip
        for n, row in enumerate(rows):
            connection.execute(
                insert(replies).values(
                    message_sid=f"SM{n:032d}", contact_id=contact_id,
                    enrollment_id=enrollment_id if row["step_id"] else None,
                    step_id=row["step_id"], kind=row["kind"], body=row["body"],
                    value=row["value"], received_at=row["at"], from_phone=ADA,
                    reason=row.get("reason"),
                )
            )  # fmt: skip
        connection.execute(
            insert(alerts).values(
                at=at(2, 14, 5), contact_id=contact_id, enrollment_id=enrollment_id,
                step_id="day1", target="care_team", reason="reply", rule="reply >= 7",
                answer="8/10", value=8,
            )
        )  # fmt: skip
    return enrollment_id


def page(console: Console, browser: requests.Session, phone: str = ADA) -> requests.Response:
    return browser.get(f"{console.url}/console/contacts/{phone}", timeout=10)


def audit_rows(console: Console) -> list[tuple[str, str]]:
    with console.runtime.engine.connect() as connection:
        rows = connection.execute(
            select(audit_events.c.action, audit_events.c.subject).order_by(audit_events.c.id)
        ).all()
    return [(row.action, row.subject) for row in rows if row.action != "sign_in"]


def outbox_texts(console: Console) -> list[Any]:
    with console.runtime.engine.connect() as connection:
        return list(connection.execute(select(messages).where(messages.c.kind == "text")))


def post(console: Console, browser: requests.Session, path: str, **form: str) -> requests.Response:
    token = console.csrf(browser, f"/console/contacts/{ADA}")
    return browser.post(
        f"{console.url}/console/contacts/{ADA}{path}", data={"csrf_token": token, **form},
        timeout=10, allow_redirects=False,
    )  # fmt: skip


def test_the_page_shows_the_conversation_chart_and_alerts_and_audits_the_view(
    console: Console,
) -> None:
    populate(console)
    nurse = console.sign_in("nurse")
    answer = page(console, nurse)
    assert answer.status_code == 200, answer.text
    html = answer.text
    # the thread, in the contact's local time, labelled
    assert "Hi Ada, how is your pain?" in html
    assert "2026-03-02 09:00 EST" in html  # day 1 went out at 14:00 UTC
    assert "delivered" in html and "value <strong>8</strong>" in html
    assert "late: its reply window had closed" in html
    assert "unmatched: no open question" in html
    assert "follow-up: after the answer" in html
    assert "possible opt-out in words: review" in html
    # the chart: one point per numeric answer, a text alternative with the values
    assert html.count('<circle class="point"') == 2
    assert '<title id="chart-svg-title">' in html
    assert re.search(r"<td>8(\.0)?</td>", html) and re.search(r"<td>6(\.0)?</td>", html)
    assert "days since the anchor (2026-03-01)" in html
    # attributes, enrollments, alerts
    assert "first_name" in html and "knee" in html
    assert "postop" in html and "next due" in html
    assert "rule: reply &gt;= 7" in html and "care_team" in html
    assert audit_rows(console) == [("view_contact", f"contact:{ADA}")]


def test_reply_bodies_holding_markup_are_shown_as_text(console: Console) -> None:
    populate(console)
    html = page(console, console.sign_in("nurse")).text
    assert SCRIPT not in html and SVG not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;svg onload=alert(1)&gt;" in html


def test_other_forms_of_the_number_redirect_and_unknown_ones_are_404_pages(
    console: Console,
) -> None:
    populate(console)
    nurse = console.sign_in("nurse")
    moved = nurse.get(
        f"{console.url}/console/contacts/(415) 555-0100", timeout=10, allow_redirects=False
    )
    assert moved.status_code == 308
    assert moved.headers["location"] == f"/console/contacts/{ADA}"
    unknown = page(console, nurse, "+14155550199")
    assert unknown.status_code == 404 and "No contact has that phone number" in unknown.text
    nonsense = page(console, nurse, "not-a-phone")
    assert nonsense.status_code == 404 and "<html" in nonsense.text
    assert audit_rows(console) == []  # nothing was viewed


def test_the_page_asks_to_sign_in(console: Console) -> None:
    populate(console)
    answer = console.browser().get(
        f"{console.url}/console/contacts/{ADA}", timeout=10, allow_redirects=False
    )
    assert answer.status_code == 303 and "/console/login" in answer.headers["location"]
    assert audit_rows(console) == []


def test_a_reply_goes_to_the_outbox_once_and_is_audited(console: Console) -> None:
    enrollment_id = populate(console)
    nurse = console.sign_in("nurse")
    answer = post(console, nurse, "/reply", body="  A nurse will call you at 3 pm.  ")
    assert answer.status_code == 303
    [text] = outbox_texts(console)
    assert (text.enrollment_id, text.state, text.body) == (
        enrollment_id, "planned", "A nurse will call you at 3 pm."
    )  # fmt: skip
    assert text.step_id.startswith("console#") and text.due_at == console.clock.now
    shown = nurse.get(console.url + answer.headers["location"], timeout=10).text
    assert "The text is in the outbox" in shown and "It takes 1 segment." in shown
    assert ("reply", f"contact:{ADA}") in audit_rows(console)
    post(console, nurse, "/reply", body="Second one")
    assert [t.body for t in outbox_texts(console)] == [text.body, "Second one"]


def test_a_reply_without_its_csrf_token_is_refused_and_writes_nothing(console: Console) -> None:
    populate(console)
    nurse = console.sign_in("nurse")
    answer = nurse.post(
        f"{console.url}/console/contacts/{ADA}/reply", data={"body": "hello"}, timeout=10,
        allow_redirects=False,
    )  # fmt: skip
    assert answer.status_code == 403
    assert outbox_texts(console) == []


def test_a_bad_reply_names_the_field_and_writes_nothing(console: Console) -> None:
    populate(console)
    nurse = console.sign_in("nurse")
    empty = post(console, nurse, "/reply", body="   ")
    assert empty.status_code == 422 and "body: write the text to send" in empty.text
    long = post(console, nurse, "/reply", body="x" * 1001)
    assert long.status_code == 422 and "body: at most 1000 characters" in long.text
    huge = post(console, nurse, "/reply", body="x" * 5000)
    assert huge.status_code == 422 and "Traceback" not in huge.text
    assert outbox_texts(console) == []


def test_an_opted_out_contact_cannot_be_texted(console: Console) -> None:
    populate(console)
    with console.runtime.engine.begin() as connection:
        connection.execute(update(contacts).values(opted_out_at=at(3, 12)))
    nurse = console.sign_in("nurse")
    assert "no reply can be sent" in page(console, nurse).text
    refused = post(console, nurse, "/reply", body="Are you there?")
    assert refused.status_code == 409 and "opted out" in refused.text
    assert outbox_texts(console) == []


def enrollment_row(console: Console, enrollment_id: int) -> Any:
    with console.runtime.engine.connect() as connection:
        return connection.execute(
            select(enrollments).where(enrollments.c.id == enrollment_id)
        ).one()


def test_pause_and_resume_from_the_page(console: Console) -> None:
    enrollment_id = populate(console)
    nurse = console.sign_in("nurse")
    paused = post(console, nurse, f"/enrollments/{enrollment_id}/pause")
    assert paused.status_code == 303
    assert paused.headers["location"] == f"/console/contacts/{ADA}?done=pause"
    assert enrollment_row(console, enrollment_id).paused_at == console.clock.now
    assert "paused since" in page(console, nurse).text
    again = post(console, nurse, f"/enrollments/{enrollment_id}/pause")
    assert again.status_code == 409
    resumed = post(console, nurse, f"/enrollments/{enrollment_id}/resume")
    assert resumed.status_code == 303
    assert enrollment_row(console, enrollment_id).paused_at is None
    actions = [a for a, _ in audit_rows(console) if a != "view_contact"]
    assert actions == ["pause", "resume"]


def test_audit_rows_are_on_the_real_clock_the_actions_on_the_engines(console: Console) -> None:
    """The sandbox's virtual clock moves the engine; an audit row says when a person acted."""
    enrollment_id = populate(console)
    engine_now = console.clock.now
    console.clock.advance(timedelta(hours=3))  # the real clock, apart from the engine's
    admin = console.sign_in("admin")
    page(console, admin)
    assert post(console, admin, "/reply", body="Call us").status_code == 303
    assert post(console, admin, f"/enrollments/{enrollment_id}/pause").status_code == 303
    assert post(console, admin, f"/enrollments/{enrollment_id}/resume").status_code == 303
    assert post(console, admin, f"/enrollments/{enrollment_id}/unenroll").status_code == 303
    [text] = outbox_texts(console)
    assert text.due_at == engine_now
    with console.runtime.engine.connect() as connection:
        rows = connection.execute(
            select(audit_events.c.action, audit_events.c.at).order_by(audit_events.c.id)
        ).all()
    acted = ["reply", "pause", "resume", "unenroll"]
    assert [action for action, _ in rows if action in acted] == acted
    assert "view_contact" in [action for action, _ in rows]
    mine = {at for action, at in rows if action in [*acted, "view_contact"]}
    assert mine == {console.clock.now}


def test_only_an_admin_unenrolls(console: Console) -> None:
    enrollment_id = populate(console)
    nurse = console.sign_in("nurse")
    assert f'enrollments/{enrollment_id}/unenroll"' not in page(console, nurse).text
    refused = post(console, nurse, f"/enrollments/{enrollment_id}/unenroll")
    assert refused.status_code == 403
    assert enrollment_row(console, enrollment_id).state == "active"
    admin = console.sign_in("admin")
    done = post(console, admin, f"/enrollments/{enrollment_id}/unenroll")
    assert done.status_code == 303
    row = enrollment_row(console, enrollment_id)
    assert (row.state, row.end_reason) == ("canceled", "unenroll")
    assert ("unenroll", f"enrollment:{enrollment_id}") in audit_rows(console)
    assert post(console, admin, f"/enrollments/{enrollment_id}/unenroll").status_code == 409
    assert post(console, admin, f"/enrollments/{enrollment_id}/explode").status_code == 404


def test_an_enrollment_of_another_contact_is_not_found(console: Console) -> None:
    enrollment_id = populate(console)
    other = EnrollmentRequest(
        "postop", "+14155550111", "America/New_York",
        {"first_name": "Bo", "surgery_date": "2026-03-01"},
    )  # fmt: skip
    console.runtime.enroller.enroll(other, now=console.clock.now)
    admin = console.sign_in("admin")
    token = console.csrf(admin, f"/console/contacts/{ADA}")
    answer = admin.post(
        f"{console.url}/console/contacts/+14155550111/enrollments/{enrollment_id}/unenroll",
        data={"csrf_token": token}, timeout=10, allow_redirects=False,
    )  # fmt: skip
    assert answer.status_code == 404
    assert enrollment_row(console, enrollment_id).state == "active"


def test_the_link_of_a_staff_sms_leads_to_the_page(console: Console) -> None:
    populate(console)
    nurse = console.sign_in("nurse")
    with console.runtime.engine.connect() as connection:
        contact_id = connection.execute(select(contacts.c.id)).scalar_one()
    moved = nurse.get(f"{console.url}/console/c/{contact_id}", timeout=10, allow_redirects=False)
    assert (moved.status_code, moved.headers["location"]) == (303, f"/console/contacts/{ADA}")
    assert nurse.get(f"{console.url}/console/c/999", timeout=10).status_code == 404
    assert (
        console.browser()
        .get(f"{console.url}/console/c/{contact_id}", timeout=10, allow_redirects=False)
        .status_code
        == 303
    )  # to the sign-in page: the number is shown to operators only


def test_odd_input_gets_a_page_never_a_server_error(console: Console) -> None:
    populate(console)
    admin = console.sign_in("admin")
    token = console.csrf(admin, f"/console/contacts/{ADA}")
    for path in ["9" * 40, "%00", "+1" + "0" * 300, "%2B14155550100%20x", "..%2F..%2Fetc"]:
        answer = admin.get(f"{console.url}/console/contacts/{path}", timeout=10)
        assert answer.status_code in (200, 404), (path, answer.status_code)
        assert "Traceback" not in answer.text
    for enrollment in ["abc", "99999999999999999999999", "-1", "0"]:
        for action in ["pause", "unenroll"]:
            answer = admin.post(
                f"{console.url}/console/contacts/{ADA}/enrollments/{enrollment}/{action}",
                data={"csrf_token": token}, timeout=10, allow_redirects=False,
            )  # fmt: skip
            assert answer.status_code in (404, 409, 422), (enrollment, answer.status_code)
    for contact_id in ["abc", "99999999999999999999999"]:
        answer = admin.get(f"{console.url}/console/c/{contact_id}", timeout=10)
        assert answer.status_code in (404, 422), (contact_id, answer.status_code)
