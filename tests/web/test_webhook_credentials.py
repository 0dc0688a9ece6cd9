"""Webhook signatures are checked only with a real key, in every credential configuration.

Without an auth token (API key only, or no credentials and no sandbox of this process),
``/twilio/*`` answer 503 saying what to set and process nothing; a request signed with an
empty key or with the sandbox's published token never gets in.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
import requests
from sqlalchemy import Engine, func, select
from twilio.request_validator import RequestValidator

from dripsms.core.planning import EnrollmentRequest
from dripsms.engine.callbacks import status_callback_url
from dripsms.runtime import Runtime
from dripsms.sandbox import SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN, new_auth_token
from dripsms.settings import Settings
from dripsms.store.tables import messages, replies, status_callbacks
from dripsms.testing import serve_app
from dripsms.web.app import create_app

from .conftest import NOW, REPO

PUBLIC = "https://clinic.example.org/dripsms"
SID = "AC" + "a" * 32
KEY, SECRET = "SK" + "b" * 32, "api-secret-for-tests"
TOKEN = "auth-token-for-tests"
RUN_TOKEN = new_auth_token()
PHONE = "+14155550100"
MESSAGE_SID = "SM" + "2" * 32


@dataclass
class Config:
    credentials: dict[str, str]
    sandbox_auth_token: str | None = None

    @property
    def account(self) -> str:
        return self.credentials.get("twilio_account_sid", SANDBOX_ACCOUNT_SID)


CONFIGS = {
    "none": Config({}),
    "sandbox with the published token": Config({}, SANDBOX_AUTH_TOKEN),
    "sandbox of dripsms run": Config({}, RUN_TOKEN),
    "sid+token": Config({"twilio_account_sid": SID, "twilio_auth_token": TOKEN}),
    "sid+key+secret": Config(
        {"twilio_account_sid": SID, "twilio_api_key": KEY, "twilio_api_secret": SECRET}
    ),
    "sid+key+secret+token": Config(
        {
            "twilio_account_sid": SID,
            "twilio_api_key": KEY,
            "twilio_api_secret": SECRET,
            "twilio_auth_token": TOKEN,
        }
    ),
}
KEY_OF = {  # the key webhooks are checked with; None: they answer 503
    "none": None,
    "sandbox with the published token": None,
    "sandbox of dripsms run": RUN_TOKEN,
    "sid+token": TOKEN,
    "sid+key+secret": None,
    "sid+key+secret+token": TOKEN,
}


@dataclass
class App:
    url: str
    runtime: Runtime
    config: Config


@contextmanager
def app_with(engine: Engine, config: Config) -> Iterator[App]:
    settings = Settings(
        database_url=engine.url.render_as_string(hide_password=False),
        sequences_dir=REPO / "sequences", public_url=PUBLIC, **config.credentials,  # type: ignore[arg-type]
    )  # fmt: skip
    runtime = Runtime(settings, lambda: NOW, sandbox_auth_token=config.sandbox_auth_token)
    scheduled_message(runtime)  # so that an accepted status callback would be recorded
    try:
        with serve_app(create_app(runtime)) as url:
            yield App(url, runtime, config)
    finally:
        runtime.engine.dispose()


@pytest.fixture(params=list(CONFIGS))
def app(request: pytest.FixtureRequest, engine: Engine) -> Iterator[App]:
    with app_with(engine, CONFIGS[request.param]) as served:
        yield served


def scheduled_message(runtime: Runtime) -> int:
    request = EnrollmentRequest(
        "postop", PHONE, "America/New_York", {"first_name": "Ada"}, "2026-03-07"
    )
    runtime.enroller.enroll(request, now=NOW)
    with runtime.engine.begin() as connection:
        message_id = connection.execute(
            select(messages.c.id).where(messages.c.step_id == "day1")
        ).scalar_one()
        connection.execute(
            messages.update()
            .where(messages.c.id == message_id)
            .values(state="scheduled", sid=MESSAGE_SID)
        )
    return int(message_id)


def post(
    app: App, path: str, params: dict[str, str], key: str | None, query: str = ""
) -> requests.Response:
    suffix = f"?{query}" if query else ""
    headers = {}
    if key is not None:
        signature = RequestValidator(key).compute_signature(f"{PUBLIC}{path}{suffix}", params)
        headers["X-Twilio-Signature"] = signature
    return requests.post(f"{app.url}{path}{suffix}", data=params, headers=headers, timeout=10)


def inbound(account: str) -> dict[str, str]:
    return {"MessageSid": "SM" + "1" * 32, "AccountSid": account, "From": PHONE,
            "To": "+15005550006", "Body": "STOP"}  # fmt: skip


def status(account: str) -> dict[str, str]:
    return {"MessageSid": MESSAGE_SID, "MessageStatus": "delivered", "AccountSid": account,
            "To": PHONE}  # fmt: skip


def stored(engine: Engine) -> int:
    with engine.connect() as connection:
        return sum(
            connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (replies, status_callbacks)
        )


def configuration(app: App) -> str:
    return next(name for name, config in CONFIGS.items() if config is app.config)


def test_forgeries_never_get_in(app: App) -> None:
    """Signed with an empty key, the published sandbox token, or the API secret: refused."""
    engine = app.runtime.engine
    expected = 503 if KEY_OF[configuration(app)] is None else 403
    for forged_with in ("", SANDBOX_AUTH_TOKEN, SECRET, None):
        for path, params in (("/twilio/inbound", inbound(app.config.account)),
                             ("/twilio/status", status(app.config.account))):  # fmt: skip
            answer = post(app, path, params, forged_with)
            assert answer.status_code == expected, (forged_with, path, answer.text)
    assert stored(engine) == 0


def test_only_the_real_key_gets_in_and_without_one_the_answer_says_what_to_set(
    app: App,
) -> None:
    key = KEY_OF[configuration(app)]
    if key is None:
        for path in ("/twilio/inbound", "/twilio/status"):
            answer = post(app, path, inbound(app.config.account), "")
            assert answer.status_code == 503
            message = answer.json()["error"]["message"]
            assert "TWILIO_AUTH_TOKEN" in message
            if app.runtime.settings.uses_sandbox:
                assert "dripsms run" in message
            else:
                assert "API key cannot check" in message
        assert app.runtime.webhook_problem is not None
        assert stored(app.runtime.engine) == 0
        return
    assert app.runtime.webhook_problem is None
    assert post(app, "/twilio/inbound", inbound(app.config.account), key).status_code == 200
    assert post(app, "/twilio/status", status(app.config.account), key).status_code == 204
    assert stored(app.runtime.engine) == 2


def test_a_status_callback_about_another_accounts_message_is_refused(engine: Engine) -> None:
    with app_with(engine, CONFIGS["sid+token"]) as app:
        other = "AC" + "c" * 32
        answer = post(app, "/twilio/status", status(other), TOKEN)
        assert answer.status_code == 403
        assert stored(engine) == 0


def test_the_callback_urls_token_is_no_proof_without_the_signature(engine: Engine) -> None:
    """A callback URL with a valid message id and token, but no valid signature: refused."""
    with app_with(engine, CONFIGS["sid+key+secret+token"]) as app:
        with engine.connect() as connection:
            message_id = connection.execute(select(messages.c.id)).scalars().first()
        assert message_id is not None
        url = status_callback_url(PUBLIC, app.runtime.callback_secret, message_id)
        query = url.split("?", 1)[1]
        answer = post(app, "/twilio/status", status(SID), SECRET, query=query)
        assert answer.status_code == 403
        assert post(app, "/twilio/status", status(SID), TOKEN, query=query).status_code == 204
