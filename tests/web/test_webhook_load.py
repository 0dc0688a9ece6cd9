"""Many signed replies at once on SQLite, through the served app over real HTTP: every one is
answered 200 and stored exactly once (Twilio's retries racing the first delivery included)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import select, update
from twilio.request_validator import RequestValidator

from dripsms.core.planning import EnrollmentRequest
from dripsms.store.database import connect, upgrade
from dripsms.store.tables import messages, replies

from .conftest import AUTH_TOKEN, NOW, Served, served

PUBLIC = "https://clinic.example.org/dripsms"
PATIENTS = 48
THREADS = 16


def phone(i: int) -> str:
    return f"+1415555{i:04d}"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Served]:
    engine = connect(f"sqlite:///{tmp_path / 'dripsms.db'}")
    upgrade(engine)
    engine.dispose()
    yield from served(engine, public_url=PUBLIC)


def asked(app: Served) -> None:
    """Every patient enrolled in postop, their day-1 pain question sent a minute ago."""
    batch = [
        (i + 1, EnrollmentRequest(
            "postop", phone(i), "America/New_York", {"first_name": "Ann"}, "2026-03-01"
        ))
        for i in range(PATIENTS)
    ]  # fmt: skip
    report = app.runtime.enroller.enroll_batch(batch, now=NOW)
    assert not report.refused
    sent = NOW - timedelta(minutes=1)
    with app.runtime.engine.begin() as connection:
        connection.execute(
            update(messages)
            .where(messages.c.step_id == "day1")
            .values(state="sent", send_at=sent, attempt_started_at=sent, sent_at=sent)
        )


def reply(i: int) -> tuple[dict[str, str], str]:
    sid = f"SM{i:032d}"
    params = {
        "MessageSid": sid, "SmsSid": sid, "AccountSid": "AC" + "a" * 32, "From": phone(i),
        "To": "+15005550006", "Body": str(i % 11), "NumMedia": "0", "ApiVersion": "2010-04-01",
    }  # fmt: skip
    signature = RequestValidator(AUTH_TOKEN).compute_signature(f"{PUBLIC}/twilio/inbound", params)
    return params, signature


def test_many_signed_replies_at_once_are_all_answered_and_stored_exactly_once(
    app: Served,
) -> None:
    asked(app)
    # each reply twice, side by side: Twilio's retry racing the first delivery
    work = [i for i in range(PATIENTS) for _ in (1, 2)]
    start = threading.Barrier(THREADS)
    answers: list[tuple[int, int, str]] = []
    lock = threading.Lock()

    def poster(k: int) -> None:
        start.wait()
        with requests.Session() as session:
            for i in work[k::THREADS]:
                params, signature = reply(i)
                answer = session.post(
                    f"{app.url}/twilio/inbound", data=params,
                    headers={"X-Twilio-Signature": signature}, timeout=30,
                )  # fmt: skip
                with lock:
                    answers.append((i, answer.status_code, answer.text))

    threads = [threading.Thread(target=poster, args=(k,)) for k in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(answers) == 2 * PATIENTS
    assert {status for _, status, _ in answers} == {200}
    with app.runtime.engine.connect() as connection:
        stored = connection.execute(select(replies.c.message_sid, replies.c.kind)).all()
    assert sorted(sid for sid, _ in stored) == sorted(f"SM{i:032d}" for i in range(PATIENTS))
    assert {kind for _, kind in stored} == {"matched"}
    # one of each pair answered the patient; its twin, a duplicate, answered nothing
    thanked = [i for i, _, text in answers if "<Message>" in text]
    assert sorted(thanked) == list(range(PATIENTS))
