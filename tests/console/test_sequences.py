"""The Sequences pages and the replies export, over HTTP, on SQLite and PostgreSQL: the
list, one sequence's timeline, funnels and reply values, and the audited CSV."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from dripsms.core.planning import EnrollmentRequest
from dripsms.core.sequence.loader import parse_sequence
from dripsms.core.states import ReplyKind
from dripsms.engine.inbound import Inbound
from dripsms.store.replies import store_reply
from dripsms.store.tables import audit_events, messages
from tests.console.conftest import NOW, Console

PATIENTS = {  # phone: (day1's state at Twilio, what the patient texts back)
    "+14155550101": ("delivered", "8"),
    "+14155550102": ("delivered", "8/10"),
    "+14155550103": ("sent", "3"),
    "+14155550104": ("scheduled", '=HYPERLINK("http://x")'),
    "+14155550105": ("failed", None),
}
INJECTED = '=HYPERLINK("http://x")'


def _enroll_and_reply(console: Console) -> None:
    """Five patients on postop; day1 in various states; four texts back, through the engine."""
    runtime = console.runtime
    for n, (phone, (state, text)) in enumerate(PATIENTS.items()):
        request = EnrollmentRequest(
            sequence="postop", phone=phone, timezone="America/New_York",
            attributes={"first_name": f"P{n}", "surgery_date": "2026-03-01"},
        )  # type: ignore[call-arg]  # fmt: skip
        enrolled = runtime.enroller.enroll(request, now=NOW)
        m = messages.c
        with runtime.engine.begin() as connection:
            due = connection.execute(
                select(m.due_at).where(
                    m.enrollment_id == enrolled.enrollment_id, m.step_id == "day1"
                )
            ).scalar_one()
            connection.execute(
                update(messages)
                .where(m.enrollment_id == enrolled.enrollment_id, m.step_id == "day1")
                .values(
                    state=state, sid=None if state == "failed" else f"SM{n:032d}",
                    send_at=due, sent_at=due,
                )
            )  # fmt: skip
        if text is not None:
            runtime.conversations.receive(
                Inbound(f"SMin{n:030d}", phone, text, due + timedelta(hours=1))
            )


def _funnel(html: str, step: str) -> list[str]:
    """The counts of a step's funnel, as the page shows them."""
    table = html.split(f'id="step-{step}"')[1].split("</table>")[0]
    return [cell.split("<")[0] for cell in table.split('class="count">')[1:]]


def test_the_list_shows_each_sequence_with_its_enrollments(console: Console) -> None:
    _enroll_and_reply(console)
    browser = console.sign_in("nurse")
    page = browser.get(console.url + "/console/sequences", timeout=10)
    assert page.status_code == 200, page.text
    assert "Post-surgery follow-up" in page.text
    assert 'href="/console/sequences/postop"' in page.text
    assert "5</span> of 5" in page.text  # active of total


def test_one_sequence_shows_its_steps_funnels_and_reply_values(console: Console) -> None:
    _enroll_and_reply(console)
    browser = console.sign_in("nurse")
    page = browser.get(console.url + "/console/sequences/postop", timeout=10)
    assert page.status_code == 200, page.text
    text = page.text
    assert "day 1 at 09:00 local" in text
    assert "reply &gt;= 7" in text and "notify care_team" in text
    assert "Please answer with a number" in text  # the reprompt
    assert '<svg class="timeline"' in text
    version = console.runtime.library.current("postop").version
    assert version in text and version not in text.split("<footer")[1]  # dripsms's version
    # day1: 5 planned, 4 handed to Twilio, 3 sent, 2 delivered, 1 failed, 3 answered
    assert _funnel(text, "day1") == ["5", "4", "3", "2", "1", "3"]
    values = text.split('id="step-day1"')[1].split("by value")[1].split("</table>")[0]
    assert '<th scope="row">8</th>\n      <td class="count">2</td>' in values
    assert '<th scope="row">3</th>\n      <td class="count">1</td>' in values
    assert '<th scope="row">0</th>\n      <td class="count">0</td>' in values


def test_an_unknown_sequence_is_a_404_page(console: Console) -> None:
    browser = console.sign_in("nurse")
    page = browser.get(console.url + "/console/sequences/nope", timeout=10)
    assert page.status_code == 404
    assert "nope" in page.text and "<html" in page.text
    export = browser.get(console.url + "/console/sequences/nope/replies.csv", timeout=10)
    assert export.status_code == 404


@pytest.mark.parametrize("path", ["/console/sequences/a%20b", "/console/sequences/" + "x" * 65])
def test_a_bad_key_is_refused_with_a_page(console: Console, path: str) -> None:
    browser = console.sign_in("nurse")
    page = browser.get(console.url + path, timeout=10)
    assert page.status_code == 422
    assert "<html" in page.text


def test_the_export_is_a_csv_of_every_reply_neutralised_and_audited(console: Console) -> None:
    _enroll_and_reply(console)
    browser = console.sign_in("nurse", email="nia@clinic.example")
    answer = browser.get(console.url + "/console/sequences/postop/replies.csv", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert len(rows) == 4  # one per reply
    by_phone = {row["phone"]: row for row in rows}
    assert set(by_phone) == {p for p, (_, text) in PATIENTS.items() if text}
    injected = by_phone["+14155550104"]
    assert injected["body"] == "'" + INJECTED
    assert injected["kind"] == "invalid"
    ada = by_phone["+14155550101"]
    assert (ada["step"], ada["kind"], ada["value"], ada["body"]) == ("day1", "matched", "8", "8")
    assert ada["received_at_utc"] == "2026-03-02T15:00:00Z"
    assert ada["received_at_local"] == "2026-03-02T10:00:00-05:00"
    assert ada["timezone"] == "America/New_York"
    a = audit_events.c
    with console.runtime.engine.connect() as connection:
        audited = connection.execute(select(a.operator_email, a.action, a.subject)).all()
    assert ("nia@clinic.example", "export", "sequence:postop") in audited


def test_the_pages_and_the_export_need_a_signed_in_operator(console: Console) -> None:
    browser = console.browser()
    for path in ("/console/sequences", "/console/sequences/postop",
                 "/console/sequences/postop/replies.csv"):  # fmt: skip
        answer = browser.get(console.url + path, timeout=10, allow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/console/login")
    a = audit_events.c
    with console.runtime.engine.connect() as connection:
        assert connection.execute(select(a.id)).all() == []


def test_a_broken_file_and_a_sequence_known_only_from_the_database(
    console: Console, tmp_path: Path
) -> None:
    _enroll_and_reply(console)
    # The folder changes: postop.yaml is gone, survey.yaml does not load.
    (tmp_path / "survey.yaml").write_text("key: survey\nname: Survey\nsteps: []\n")
    library = console.runtime.library
    library.directory = tmp_path
    library.reload()
    browser = console.sign_in("nurse")
    page = browser.get(console.url + "/console/sequences", timeout=10)
    assert page.status_code == 200
    listed = page.text
    assert "no file: stored versions only" in listed and "5</span> of 5" in listed
    assert "This file did not load" in listed and "survey.yaml:3:" in listed
    one = browser.get(console.url + "/console/sequences/postop", timeout=10)
    assert one.status_code == 200
    assert "newest stored version: no current file" in one.text
    assert _funnel(one.text, "day1")[0] == "5"
    broken = browser.get(console.url + "/console/sequences/survey", timeout=10)
    assert broken.status_code == 404
    assert "survey.yaml" in broken.text and "dripsms validate" in broken.text


def test_a_large_export_is_streamed_and_parses_back_row_for_row(console: Console) -> None:
    request = EnrollmentRequest(
        sequence="postop", phone="+14155550109", timezone="Europe/Paris",
        attributes={"first_name": "Zoé", "surgery_date": "2026-03-01"},
    )  # type: ignore[call-arg]  # fmt: skip
    enrolled = console.runtime.enroller.enroll(request, now=NOW)
    count = 1234
    with console.runtime.engine.begin() as connection:
        for n in range(count):
            store_reply(
                connection, message_sid=f"SMbulk{n:028d}", contact_id=None,
                enrollment_id=enrolled.enrollment_id, step_id="day1", kind=ReplyKind.FOLLOWUP,
                body=f"@note {n}, \"quoted\"\nsecond line", value=None,
                received_at=NOW + timedelta(minutes=n), from_phone="+14155550109",
            )  # fmt: skip
    browser = console.sign_in("nurse")
    with browser.get(
        console.url + "/console/sequences/postop/replies.csv", timeout=30, stream=True
    ) as answer:
        assert answer.headers.get("transfer-encoding") == "chunked"  # not built in memory
        text = answer.content.decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == count
    assert rows[0]["body"] == '\'@note 0, "quoted"\nsecond line'
    assert rows[0]["received_at_local"] == "2026-03-01T16:00:00+01:00"
    assert rows[-1]["body"].startswith(f"'@note {count - 1},")


FEEDBACK = """key: feedback
name: Feedback
steps:
  - id: ask
    at: {minutes: 0}
    body: "Anything to tell us?"
    expect_reply: {type: text, window: 2d}
"""


def test_a_free_text_answer_shows_as_text_in_the_reply_values(console: Console) -> None:
    console.runtime.library.add(parse_sequence(FEEDBACK, "feedback.yaml"))
    phone, hostile = "+14155550110", "<script>alert(1)</script>"
    request = EnrollmentRequest(sequence="feedback", phone=phone, timezone="UTC")  # type: ignore[call-arg]
    enrolled = console.runtime.enroller.enroll(request, now=NOW)
    with console.runtime.engine.begin() as connection:
        connection.execute(
            update(messages)
            .where(messages.c.enrollment_id == enrolled.enrollment_id)
            .values(state="delivered", sid="SM" + "f" * 32, send_at=NOW, sent_at=NOW)
        )
    console.runtime.conversations.receive(
        Inbound("SMin" + "f" * 30, phone, hostile, NOW + timedelta(minutes=5))
    )
    page = console.sign_in("nurse").get(console.url + "/console/sequences/feedback", timeout=10)
    assert page.status_code == 200
    assert hostile not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert _funnel(page.text, "ask")[-1] == "1"  # replied
    assert '<th scope="row">&lt;script&gt;alert(1)&lt;/script&gt;</th>' in page.text
