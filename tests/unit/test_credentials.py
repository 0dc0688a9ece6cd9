"""Twilio credentials fail closed: any one set means Twilio, an incomplete set refuses to
start naming what is missing, and nothing falls back to the sandbox silently."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from dripsms.sandbox import SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN
from dripsms.settings import Settings, read_credentials, settings_problems

SID = "AC" + "1" * 32
KEY = "SK" + "2" * 32


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for name in list(os.environ):
        if name.startswith(("DRIPSMS_", "TWILIO_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]  # no dripsms.toml


def settings_from(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


def refusal(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    with pytest.raises(ValidationError) as caught:
        settings_from(monkeypatch, **env)
    return "; ".join(settings_problems(caught.value))


def test_no_credentials_is_the_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_from(monkeypatch)
    assert settings.uses_sandbox
    assert settings.credentials_given.kind == "none"


def test_blank_variables_are_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_from(monkeypatch, TWILIO_ACCOUNT_SID="", TWILIO_AUTH_TOKEN=" ")
    assert settings.uses_sandbox


@pytest.mark.parametrize(
    ("env", "kind"),
    [
        ({"TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": "tok"}, "account SID + auth token"),
        (
            {"TWILIO_ACCOUNT_SID": SID, "TWILIO_API_KEY": KEY, "TWILIO_API_SECRET": "sec"},
            "account SID + API key + secret",
        ),
        (
            {
                "TWILIO_ACCOUNT_SID": SID,
                "TWILIO_API_KEY": KEY,
                "TWILIO_API_SECRET": "sec",
                "TWILIO_AUTH_TOKEN": "tok",
            },
            "account SID + API key + secret + auth token",
        ),
    ],
    ids=["sid+token", "sid+key+secret", "sid+key+secret+token"],
)
def test_a_complete_set_is_twilio(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], kind: str
) -> None:
    settings = settings_from(monkeypatch, **env)
    assert not settings.uses_sandbox
    assert settings.credentials_given.kind == kind


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"TWILIO_AUTH_TOKEN": "tok"}, "TWILIO_AUTH_TOKEN is set but TWILIO_ACCOUNT_SID is not"),
        ({"TWILIO_API_KEY": KEY}, "TWILIO_API_KEY is set but TWILIO_ACCOUNT_SID is not"),
        ({"TWILIO_API_KEY": KEY}, "TWILIO_API_KEY is set but TWILIO_API_SECRET is not"),
        (
            {"TWILIO_API_KEY": KEY, "TWILIO_API_SECRET": "sec"},
            "TWILIO_API_KEY and TWILIO_API_SECRET are set but TWILIO_ACCOUNT_SID is not",
        ),
        (
            {"TWILIO_ACCOUNT_SID": SID},
            "TWILIO_ACCOUNT_SID is set but neither TWILIO_AUTH_TOKEN nor TWILIO_API_KEY",
        ),
        (
            {"TWILIO_ACCOUNT_SID": SID, "TWILIO_API_SECRET": "sec"},
            "TWILIO_API_SECRET is set but TWILIO_API_KEY is not",
        ),
        ({"TWILIO_ACCOUNT_SID": "AC123", "TWILIO_AUTH_TOKEN": "tok"}, "AC followed by 32 hex"),
        (
            {"TWILIO_ACCOUNT_SID": SID, "TWILIO_API_KEY": "key", "TWILIO_API_SECRET": "s"},
            "TWILIO_API_KEY must be SK followed by 32 hex",
        ),
    ],
    ids=[
        "token only",
        "key only",
        "key without secret",
        "key+secret only",
        "sid only",
        "secret without key",
        "bad sid",
        "bad key",
    ],
)
def test_an_incomplete_set_refuses_to_start_naming_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str
) -> None:
    assert named in refusal(monkeypatch, **env)


def test_the_sandboxs_published_token_is_refused_as_a_credential(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = refusal(
        monkeypatch, TWILIO_ACCOUNT_SID=SANDBOX_ACCOUNT_SID, TWILIO_AUTH_TOKEN=SANDBOX_AUTH_TOKEN
    )
    assert "TWILIO_AUTH_TOKEN is the sandbox's published token" in message


def test_credentials_in_dripsms_toml_are_checked_too(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    from pathlib import Path

    Path(str(tmp_path), "dripsms.toml").write_text('twilio_auth_token = "tok"\n')
    assert "TWILIO_ACCOUNT_SID is not" in refusal(monkeypatch)
    assert read_credentials().auth_token == "tok"


def test_credentials_are_read_even_when_another_setting_is_bad(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DRIPSMS_HORIZON", "a week")
    monkeypatch.setenv("TWILIO_API_KEY", KEY)
    assert "horizon" in refusal(monkeypatch)
    given = read_credentials()
    assert (given.api_key, given.account_sid) == (KEY, None)
