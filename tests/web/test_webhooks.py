"""Twilio's webhooks over real HTTP, signed with the SDK's own RequestValidator."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, select, text
from twilio.request_validator import RequestValidator

from dripsms.core.planning import EnrollmentRequest
from dripsms.engine.callbacks import status_callback_url
from dripsms.store.tables import messages, replies, status_callbacks

from .conftest import AUTH_TOKEN, NOW, Served, served

PUBLIC = "https://clinic.example.org:8443/dripsms"
PHONE = "+14155550100"


@pytest.fixture
def proxied(engine: Engine) -> Iterator[Served]:
    """dripsms behind a TLS proxy: Twilio signs the public URL, the app hears plain http."""
    yield from served(engine, public_url=PUBLIC)


def signed_post(app: Served, path: str, params: dict[str, str], *, token: str = AUTH_TOKEN,
                query: str = "") -> object:  # fmt: skip
    public = f"{PUBLIC}{path}" + (f"?{query}" if query else "")
    signature = RequestValidator(token).compute_signature(public, params)
    local = f"{app.url}{path}" + (f"?{query}" if query else "")
    return app.session.post(
        local, data=params, headers={"X-Twilio-Signature": signature}, timeout=10
    )


def inbound(body: str, sid: str = "SM" + "1" * 32, phone: str = PHONE) -> dict[str, str]:
    return {
        "MessageSid": sid, "SmsSid": sid, "AccountSid": "AC" + "a" * 32, "From": phone,
        "To": "+15005550006", "Body": body, "NumMedia": "0", "ApiVersion": "2010-04-01",
    }  # fmt: skip


def count(engine: Engine, table: object) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_a_signed_inbound_text_is_stored_and_answered_with_twiml(proxied: Served) -> None:
    answer = signed_post(proxied, "/twilio/inbound", inbound("hello"))
    assert answer.status_code == 200  # type: ignore[attr-defined]
    assert answer.headers["content-type"].startswith("application/xml")  # type: ignore[attr-defined]
    assert answer.text.startswith("<?xml")  # type: ignore[attr-defined]
    assert count(proxied.runtime.engine, replies) == 1


@pytest.mark.parametrize(
    "forgery",
    ["wrong token", "tampered", "unsigned", "signed for the local url"],
)
def test_forged_tampered_or_unsigned_requests_are_refused_and_store_nothing(
    proxied: Served, forgery: str
) -> None:
    params = inbound("8")
    if forgery == "wrong token":
        answer = signed_post(proxied, "/twilio/inbound", params, token="not-the-token")
    elif forgery == "tampered":
        signature = RequestValidator(AUTH_TOKEN).compute_signature(
            f"{PUBLIC}/twilio/inbound", params
        )
        answer = proxied.session.post(
            f"{proxied.url}/twilio/inbound", data={**params, "Body": "2"},
            headers={"X-Twilio-Signature": signature}, timeout=10,
        )  # fmt: skip
    elif forgery == "unsigned":
        answer = proxied.session.post(f"{proxied.url}/twilio/inbound", data=params, timeout=10)
    else:
        local = f"{proxied.url}/twilio/inbound"
        signature = RequestValidator(AUTH_TOKEN).compute_signature(local, params)
        answer = proxied.session.post(
            local, data=params, headers={"X-Twilio-Signature": signature}, timeout=10
        )
    assert answer.status_code == 403  # type: ignore[attr-defined]
    assert count(proxied.runtime.engine, replies) == 0


def test_a_replayed_inbound_is_processed_once(proxied: Served) -> None:
    for _ in range(3):
        assert signed_post(proxied, "/twilio/inbound", inbound("hi")).status_code == 200  # type: ignore[attr-defined]
    assert count(proxied.runtime.engine, replies) == 1


def test_a_json_body_is_checked_with_body_sha256(proxied: Served) -> None:
    body = json.dumps({"MessageSid": "SM" + "2" * 32, "From": PHONE, "Body": "hello"})
    digest = hashlib.sha256(body.encode()).hexdigest()
    query = f"bodySHA256={digest}"
    public = f"{PUBLIC}/twilio/inbound?{query}"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(public, {})
    good = proxied.session.post(
        f"{proxied.url}/twilio/inbound?{query}", data=body,
        headers={"X-Twilio-Signature": signature, "Content-Type": "application/json"}, timeout=10,
    )  # fmt: skip
    assert good.status_code == 200
    bad = proxied.session.post(
        f"{proxied.url}/twilio/inbound?{query}", data=body.replace("hello", "hellp"),
        headers={"X-Twilio-Signature": signature, "Content-Type": "application/json"}, timeout=10,
    )  # fmt: skip
    assert bad.status_code == 403
    assert count(proxied.runtime.engine, replies) == 1


def _scheduled_message(app: Served) -> int:
    request = EnrollmentRequest(
        "postop", PHONE, "America/New_York", {"first_name": "Ada"}, "2026-03-07"
    )
    app.runtime.enroller.enroll(request, now=NOW)
    with app.runtime.engine.begin() as connection:
        message_id = connection.execute(
            select(messages.c.id).where(messages.c.step_id == "day1")
        ).scalar_one()
        connection.execute(
            messages.update().where(messages.c.id == message_id).values(state="handing_off")
        )
    return int(message_id)


def status(sid: str, value: str) -> dict[str, str]:
    return {"MessageSid": sid, "SmsSid": sid, "MessageStatus": value, "SmsStatus": value,
            "AccountSid": "AC" + "a" * 32, "To": PHONE}  # fmt: skip


def test_status_callbacks_tie_a_lost_sid_and_only_move_forward(proxied: Served) -> None:
    message_id = _scheduled_message(proxied)
    url = status_callback_url(PUBLIC, proxied.runtime.callback_secret, message_id)
    query = url.split("?", 1)[1]
    sid = "SM" + "3" * 32
    for value in ("scheduled", "delivered", "sent", "delivered", "queued"):
        answer = signed_post(proxied, "/twilio/status", status(sid, value), query=query)
        assert answer.status_code == 204  # type: ignore[attr-defined]
    with proxied.runtime.engine.connect() as connection:
        row = connection.execute(select(messages).where(messages.c.id == message_id)).one()
    assert (row.sid, row.state) == (sid, "delivered")
    assert row.sent_at == NOW
    assert count(proxied.runtime.engine, status_callbacks) == 4  # the repeat was dropped


def test_a_callback_url_with_a_bad_token_ties_nothing(proxied: Served) -> None:
    message_id = _scheduled_message(proxied)
    query = f"m={message_id}&t=0000"
    answer = signed_post(proxied, "/twilio/status", status("SM" + "4" * 32, "sent"), query=query)
    assert answer.status_code == 204  # type: ignore[attr-defined]
    with proxied.runtime.engine.connect() as connection:
        row = connection.execute(select(messages).where(messages.c.id == message_id)).one()
    assert (row.sid, row.state) == (None, "handing_off")


def test_a_database_failure_answers_503_never_200(proxied: Served) -> None:
    with proxied.runtime.engine.begin() as connection:
        connection.execute(text("DROP TABLE replies"))
    answer = signed_post(proxied, "/twilio/inbound", inbound("8"))
    assert answer.status_code == 503  # type: ignore[attr-defined]
