"""Replies filed right: one reply-window rule, a question answered once, no per-call state,
questions given up release what waits on them, enrollments complete, alerts say enough.

dripsms hands its messages to the sandbox through the real SDK; status callbacks go to a
port nothing listens on, so every test runs as if each callback were lost.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from tests.e2e.worlds import rows

from dripsms.core.planning import EnrollmentRequest
from dripsms.engine import conversations as conversations_module
from dripsms.engine.conversations import Conversations, Inbound, InboundResult
from dripsms.engine.status import StatusUpdate, apply_status
from dripsms.store.database import write
from dripsms.store.tables import contacts, enrollments, messages, replies
from dripsms.store.views import enrollment_view
from dripsms.testing import SandboxWorld, sandbox_world

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
ADA = "+14155550100"
BOB = "+14155550101"
NURSE = "+15555550123"

CHECK = """key: check
name: Pain check
timezone: America/New_York
attributes:
  first_name: {type: string}
  last_name: {type: string}
  worried: {type: boolean, default: false}
notify:
  nurse: {phones: ["+15555550123"]}
steps:
  - id: pain
    at: {minutes: 5}
    body: "How is your pain, 0 to 10?"
    expect_reply:
      type: integer
      min: 0
      max: 10
      window: 2h
      reprompt: "A number from 0 to 10, please."
      answers: ANSWERS
    on_reply:
      - if: reply >= 7
        then:
          - set: {worried: true}
          - notify: nurse
            message: >-
              {{ alert.who }}: pain {{ alert.value }}/10 on {{ alert.step }}
              ({{ alert.why }})
          - send: "A nurse will call you."
      - then:
          - send: "Thanks, noted {{ reply }}."
    on_no_reply:
      - notify: nurse
  - id: later
    at: {hours: 6}
    when: not worried
    body: "Glad you are well."
"""

ONE = """key: one
name: One question
timezone: America/New_York
attributes:
  first_name: {type: string}
steps:
  - id: mood
    at: {minutes: 5}
    body: "Feeling better? YES or NO"
    expect_reply: {type: yes_no, window: 1h}
"""


def world_with(engine: Engine, tmp_path: Path, answers: str = "once", **settings: Any) -> Any:
    folder = tmp_path / "sequences"
    folder.mkdir(exist_ok=True)
    (folder / "check.yaml").write_text(CHECK.replace("ANSWERS", answers))
    (folder / "one.yaml").write_text(ONE)
    url = engine.url.render_as_string(hide_password=False)
    return sandbox_world(
        url, folder, T0, public_url="http://127.0.0.1:9", rate_limit=10_000, **settings
    )


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> Iterator[SandboxWorld]:
    with world_with(engine, tmp_path) as world:
        yield world


def enroll(world: SandboxWorld, phone: str = ADA, key: str = "check", **attributes: str) -> int:
    request = EnrollmentRequest(key, phone, "America/New_York", attributes or {"first_name": "Ada"})
    return world.runtime.enroller.enroll(request, now=world.now).enrollment_id


def text(
    world: SandboxWorld, body: str, *, phone: str = ADA, at: timedelta = timedelta(minutes=1)
) -> InboundResult:
    """A text from ``phone``, ``at`` after T0, through the shared Conversations service."""
    sid = f"SM{abs(hash((body, phone, at))):032x}"[:34]
    inbound = Inbound(sid, phone, body, T0 + at)
    return world.runtime.conversations.receive(inbound)


def staff(world: SandboxWorld) -> list[Any]:
    return [r for r in rows(world).values() if r.kind == "staff"]


def enrollment_state(world: SandboxWorld, enrollment_id: int) -> str:
    with world.engine.connect() as connection:
        state = connection.execute(
            select(enrollments.c.state).where(enrollments.c.id == enrollment_id)
        ).scalar_one()
    return str(state)


def send_now(world: SandboxWorld) -> None:
    """The question is due in 5 minutes, inside the minimum lead: it goes out at once."""
    world.tick()
    question = rows(world)["pain"]
    assert question.state == "queued" and question.send_at is None
    assert question.sent_at is None  # no callback ever comes
    assert question.due_at > T0 + timedelta(minutes=1)  # still "ahead" when the reply comes


# -- one rule: the window opens at the handoff ------------------------------------------


def test_a_reply_to_a_message_sent_now_matches_before_any_callback(world: SandboxWorld) -> None:
    enroll(world)
    send_now(world)
    result = text(world, "3")  # a minute after the handoff, before its due time
    assert (result.kind, result.step_id, result.value) == ("matched", "pain", 3)
    assert result.answers == ["Thanks, noted 3."]


def test_the_no_reply_timer_counts_the_window_from_the_handoff(world: SandboxWorld) -> None:
    enroll(world)
    send_now(world)
    world.at(T0 + timedelta(hours=2) - timedelta(seconds=1))
    assert world.tick().no_reply == 0  # handed off at T0: open until T0 + 2h
    assert text(world, "4", at=timedelta(hours=2) - timedelta(seconds=1)).kind == "matched"


def test_the_window_closes_for_matching_and_for_the_timer_at_the_same_instant(
    world: SandboxWorld,
) -> None:
    enroll(world)
    send_now(world)
    closes = T0 + timedelta(hours=2)
    assert text(world, "9", at=timedelta(hours=2)).kind == "late"  # not an answer any more
    world.at(closes)
    report = world.tick()
    assert report.no_reply == 1  # the same instant: the timer ran on_no_reply
    assert "did not answer pain: no reply after 2 hours." in staff(world)[0].body


# -- a question is answered once ------------------------------------------------------


def test_later_texts_are_follow_ups_that_fire_no_rule(world: SandboxWorld) -> None:
    enrollment_id = enroll(world)
    send_now(world)
    first = text(world, "8")
    assert first.kind == "matched"
    assert first.answers == ["A nurse will call you."]
    again = [text(world, body, at=timedelta(minutes=n)) for n, body in ((2, "9"), (3, "hurts"))]
    assert [(r.kind, r.value, r.answers) for r in again] == [
        ("followup", 9, []),
        ("followup", None, []),
    ]
    [alert] = staff(world)  # one alert, not one per text; worded by the step's message
    assert alert.body == "Ada (+1415***0100): pain 8/10 on pain (rule matched: reply >= 7)"
    with world.engine.connect() as connection:
        view = enrollment_view(connection, enrollment_id)
    assert view is not None
    [pain] = [m for m in view.messages if m["step"] == "pain"]
    assert (pain["reply"]["kind"], pain["reply"]["value"]) == ("matched", 8)
    assert [f["body"] for f in pain["reply"]["followups"]] == ["9", "hurts"]


def test_a_step_with_answers_many_runs_its_rules_for_each_answer(
    engine: Engine, tmp_path: Path
) -> None:
    with world_with(engine, tmp_path, answers="many") as world:
        enroll(world)
        send_now(world)
        assert text(world, "8").kind == "matched"
        assert text(world, "9", at=timedelta(minutes=2)).kind == "matched"
        assert len(staff(world)) == 2


# -- services hold no per-call state ----------------------------------------------------


def test_a_webhook_and_a_recovery_at_once_each_deliver_their_own_way(
    world: SandboxWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The webhook answers in TwiML; recovery puts answers in the outbox. Both threads are
    held until each has entered ``receive`` (at its transaction, which on SQLite runs in
    whichever thread leads the write queue), so a flag kept on the shared service by one
    would be read by the other."""
    ada, bob = enroll(world), enroll(world, BOB, first_name="Bob")
    send_now_both(world)
    barrier = threading.Barrier(2, timeout=10)

    def held_write(engine: Engine, work: Any) -> Any:
        barrier.wait()
        return write(engine, work)

    monkeypatch.setattr(conversations_module, "write", held_write)
    results: dict[str, InboundResult] = {}
    conversations: Conversations = world.runtime.conversations

    def run(name: str, phone: str, immediate: bool) -> None:
        inbound = Inbound(f"SM{name:0>32}", phone, "3", T0 + timedelta(minutes=1))
        results[name] = conversations.receive(inbound, immediate=immediate)

    threads = [
        threading.Thread(target=run, args=("webhook", ADA, True), name="inbound-webhook"),
        threading.Thread(target=run, args=("recovery", BOB, False), name="inbound-recovery"),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert results["webhook"].answers == ["Thanks, noted 3."]
    assert results["recovery"].answers == ["Thanks, noted 3."]
    with world.engine.connect() as connection:
        queued = {
            r.enrollment_id: r.body
            for r in connection.execute(select(messages).where(messages.c.kind == "text"))
        }
    assert queued == {bob: "Thanks, noted 3."}  # only the recovered reply used the outbox
    assert ada not in queued


def send_now_both(world: SandboxWorld) -> None:
    world.tick()
    with world.engine.connect() as connection:
        states = connection.execute(
            select(messages.c.state).where(messages.c.step_id == "pain")
        ).scalars()
        assert set(states) == {"queued"}


# -- reprompts, revocations ---------------------------------------------------------------


def test_when_reprompts_run_out_waiting_steps_are_released_at_once(world: SandboxWorld) -> None:
    enroll(world)
    send_now(world)
    assert rows(world)["later"].state == "blocked"  # waits on pain's reply (worried)
    first, second = text(world, "ouch"), text(world, "ugh", at=timedelta(minutes=2))
    assert first.answers == second.answers == ["A number from 0 to 10, please."]
    third = text(world, "bad", at=timedelta(minutes=3))
    assert (third.kind, third.answers) == ("invalid", [])
    assert rows(world)["later"].state == "planned"  # released now, not in 2 hours
    [alert] = staff(world)
    assert alert.body == (
        "dripsms alert (Pain check): Ada (+1415***0100) gave no readable answer to pain "
        'after 3 tries (last: "bad"). http://127.0.0.1:9/console/c/1'
    )
    world.at(T0 + timedelta(hours=3))
    assert world.tick().no_reply == 0  # on_no_reply ran once, when the reprompts ran out
    assert len(staff(world)) == 1


@pytest.mark.parametrize("body", ["please stop texting me", "stop texting", "unsubscribe me"])
def test_a_revocation_in_words_is_flagged_and_never_reprompted(
    world: SandboxWorld, body: str
) -> None:
    enroll(world)
    send_now(world)
    result = text(world, body)
    assert (result.kind, result.answers) == ("invalid", [])
    assert result.reason == "possible opt-out: review"
    assert text(world, "x", at=timedelta(minutes=2)).answers == [
        "A number from 0 to 10, please."
    ]  # the flagged text did not count as an unreadable try


def test_a_revocation_in_words_is_a_stop_with_free_text_opt_out(
    engine: Engine, tmp_path: Path
) -> None:
    with world_with(engine, tmp_path, free_text_opt_out=True) as world:
        enrollment_id = enroll(world)
        send_now(world)
        result = text(world, "please stop texting me")
        assert (result.kind, result.answers) == ("opt_out", [])
        assert enrollment_state(world, enrollment_id) == "exited"


# -- inbound From ---------------------------------------------------------------------


def test_a_national_form_of_the_sender_reaches_the_patient(world: SandboxWorld) -> None:
    enroll(world)
    send_now(world)
    result = text(world, "2", phone="(415) 555-0100")
    assert (result.kind, result.value) == ("matched", 2)
    with world.engine.connect() as connection:
        stored = connection.execute(select(replies.c.from_phone)).scalar_one()
    assert stored == ADA


@pytest.mark.parametrize("sender", ["12345", "CLINIC", "not a phone", "+1", "x" * 40])
def test_a_sender_that_is_not_a_phone_creates_no_contact(world: SandboxWorld, sender: str) -> None:
    world.runtime.settings  # noqa: B018  (the same runtime)
    for n, body in enumerate(["STOP", "hello", "8"]):
        result = text(world, body, phone=sender, at=timedelta(minutes=n))
        assert (result.kind, result.answers) == ("unmatched", [])
        assert result.reason == "the sender is not a phone number"
    with world.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(contacts)).scalar_one() == 0
        assert connection.execute(select(func.count()).select_from(replies)).scalar_one() == 3


# -- enrollments complete ---------------------------------------------------------------


def test_an_enrollment_completes_in_the_timer_pass_when_its_last_window_closes(
    world: SandboxWorld,
) -> None:
    enrollment_id = enroll(world, key="one")
    world.tick()
    world.at(T0 + timedelta(minutes=59))
    assert world.tick().completed == 0  # the window is still open
    assert enrollment_state(world, enrollment_id) == "active"
    world.at(T0 + timedelta(hours=1))
    assert world.tick().completed == 1
    assert enrollment_state(world, enrollment_id) == "completed"


def test_an_enrollment_completes_when_a_reply_closes_its_last_window(world: SandboxWorld) -> None:
    enrollment_id = enroll(world, key="one")
    world.tick()
    assert text(world, "yes").kind == "matched"
    assert enrollment_state(world, enrollment_id) == "completed"


def test_an_enrollment_with_a_step_still_to_send_does_not_complete(world: SandboxWorld) -> None:
    enrollment_id = enroll(world)
    send_now(world)
    assert text(world, "2").kind == "matched"  # "later" is still to come
    assert enrollment_state(world, enrollment_id) == "active"


# -- logs -----------------------------------------------------------------------------


def test_inbound_outcomes_are_logged_without_phone_or_body(
    world: SandboxWorld, caplog: pytest.LogCaptureFixture
) -> None:
    enroll(world)
    send_now(world)
    with caplog.at_level(logging.INFO):
        text(world, "secret pain 8")
        text(world, "8", at=timedelta(minutes=2))
        text(world, "STOP", phone=BOB, at=timedelta(minutes=3))
    inbound = [r for r in caplog.records if getattr(r, "action", None) == "inbound"]
    assert [r.outcome for r in inbound] == ["invalid", "matched", "opt_out"]  # type: ignore[attr-defined]
    assert inbound[1].message_id == rows(world)["pain"].id  # type: ignore[attr-defined]
    for record in caplog.records:
        shown = f"{record.getMessage()} {record.__dict__}"
        for secret in ("4155550100", "4155550101", "secret pain"):
            assert secret not in shown


DIARY = """key: diary
name: Diary
timezone: America/New_York
attributes:
  first_name: {type: string}
steps:
  - id: note
    at: {minutes: 5}
    body: "Anything to tell us?"
    expect_reply: {type: text, window: 1h}
    on_reply:
      - then:
          - send: "Thanks for telling us."
"""


def test_a_revocation_to_a_text_question_is_its_answer_but_runs_no_rule(
    world: SandboxWorld, tmp_path: Path
) -> None:
    (tmp_path / "sequences" / "diary.yaml").write_text(DIARY)
    world.runtime.library.reload()
    enroll(world, key="diary", first_name="Ada")
    world.tick()
    result = text(world, "please stop texting me")
    assert (result.kind, result.value, result.answers) == (
        "matched",
        "please stop texting me",
        [],
    )
    assert result.reason == "possible opt-out: review"
    assert text(world, "ok", at=timedelta(minutes=2)).kind == "followup"


NOTE = """key: note
name: A note
timezone: America/New_York
attributes:
  first_name: {type: string}
steps:
  - id: hello
    at: {minutes: 5}
    body: "Your appointment is confirmed."
"""


def test_an_enrollment_that_asks_nothing_completes_once_its_text_went_out(
    world: SandboxWorld, tmp_path: Path
) -> None:
    """No window ever opens for it: the pass that hands its text off completes it, as it
    records Twilio's answer (and the next pass finds nothing more to do)."""
    (tmp_path / "sequences" / "note.yaml").write_text(NOTE)
    world.runtime.library.reload()
    enrollment_id = enroll(world, key="note", first_name="Ada")
    report = world.tick()
    assert (report.sent_now, report.completed) == (1, 1)
    assert enrollment_state(world, enrollment_id) == "completed"
    assert world.tick().completed == 0


def test_an_enrollment_settled_by_a_path_that_checks_nothing_completes_in_the_rolling_scan(
    world: SandboxWorld,
) -> None:
    """Its only text failed at Twilio (a status, not a reply): nothing closes a window for
    it, so the rolling scan over active enrollments finds it, once a minute, not every pass."""
    enrollment_id = enroll(world, key="one")
    assert world.tick().sent_now == 1
    sid = rows(world)["mood"].sid
    outcome = apply_status(world.engine, StatusUpdate(sid, "failed", error_code=30003), now=T0)
    assert outcome.state is not None and outcome.state.value == "failed"
    assert world.tick().completed == 0  # the scan ran on the first pass: not again so soon
    assert enrollment_state(world, enrollment_id) == "active"
    world.at(T0 + timedelta(minutes=1))
    assert world.tick().completed == 1
    assert enrollment_state(world, enrollment_id) == "completed"
