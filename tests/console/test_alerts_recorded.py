"""Every ``notify`` keeps one ``alerts`` row, in the transaction of the rule that ran it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from twilio.request_validator import RequestValidator

from dripsms.runtime import Runtime
from dripsms.settings import Settings
from dripsms.store.tables import alerts
from tests.console.conftest import Console
from tests.console.scenes import ADA, BOB, DAY1, NOW, close_windows, enroll, hand_off, reply

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def runtime(engine: Engine) -> Iterator[Runtime]:
    settings = Settings(
        database_url=engine.url.render_as_string(hide_password=False),
        sequences_dir=REPO / "sequences",
        twilio_account_sid="AC" + "a" * 32,
        twilio_auth_token="twilio-auth-token-for-tests",
    )  # type: ignore[call-arg]
    runtime = Runtime(settings, lambda: NOW)
    yield runtime
    runtime.engine.dispose()


def _alerts(runtime: Runtime) -> list[dict[str, object]]:
    with runtime.engine.connect() as connection:
        rows = connection.execute(select(alerts).order_by(alerts.c.id))
        return [dict(row._mapping) for row in rows]


def test_a_high_pain_score_writes_one_alert_and_a_repeated_webhook_none(
    runtime: Runtime,
) -> None:
    ada = enroll(runtime, ADA, "Ada")
    hand_off(runtime)
    first = reply(runtime, ADA, "8/10", sid="SM" + "1" * 32)
    assert first.kind == "matched"
    again = reply(runtime, ADA, "8/10", sid="SM" + "1" * 32)  # Twilio delivers it twice
    assert again.kind == "duplicate"
    [alert] = _alerts(runtime)
    assert alert["enrollment_id"] == ada
    assert (alert["step_id"], alert["target"], alert["reason"]) == ("day1", "care_team", "reply")
    assert (alert["answer"], alert["value"], alert["rule"]) == ("8/10", 8, "reply >= 7")
    assert alert["at"] == DAY1.replace(hour=15)


def test_a_window_closing_unanswered_writes_one_alert_once(runtime: Runtime) -> None:
    bob = enroll(runtime, BOB, "Bob")
    hand_off(runtime)
    assert close_windows(runtime) == 1
    assert close_windows(runtime) == 0  # the next pass finds it closed
    [alert] = _alerts(runtime)
    assert (alert["enrollment_id"], alert["reason"], alert["answer"]) == (bob, "no_reply", None)


def test_a_low_score_writes_no_alert(runtime: Runtime) -> None:
    enroll(runtime, ADA, "Ada")
    hand_off(runtime)
    assert reply(runtime, ADA, "3", sid="SM" + "2" * 32).kind == "matched"
    assert _alerts(runtime) == []


def test_a_repeated_inbound_webhook_writes_no_second_alert(console: Console) -> None:
    """Twilio delivers the same signed webhook twice: one reply, one alert."""
    runtime = console.runtime
    enroll(runtime, ADA, "Ada")
    hand_off(runtime)
    runtime.clock = lambda: DAY1 + timedelta(hours=1)
    sid = "SM" + "3" * 32
    params = {
        "MessageSid": sid, "SmsSid": sid, "AccountSid": "AC" + "a" * 32, "From": ADA,
        "To": "+15005550006", "Body": "8/10", "NumMedia": "0", "ApiVersion": "2010-04-01",
    }  # fmt: skip
    token = runtime.settings.twilio_auth_token
    assert token is not None
    signature = RequestValidator(token.get_secret_value()).compute_signature(
        console.services.public_url + "/twilio/inbound", params
    )
    browser = console.browser()
    answers = [
        browser.post(
            console.url + "/twilio/inbound",
            data=params,
            headers={"X-Twilio-Signature": signature},
            timeout=10,
        )
        for _ in range(2)
    ]
    assert [a.status_code for a in answers] == [200, 200]
    assert "a nurse will call you" in answers[0].text
    assert "<Message>" not in answers[1].text  # a repeat is answered with nothing
    [alert] = _alerts(runtime)
    assert (alert["reason"], alert["answer"], alert["value"]) == ("reply", "8/10", 8)
