"""Settings from the environment: names, durations, Twilio's own variables."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from dripsms.settings import Settings

DURATIONS = [n for n, f in Settings.model_fields.items() if f.annotation is timedelta]


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith(("DRIPSMS_", "TWILIO_")):
            monkeypatch.delenv(name)


def test_duration_settings_read_compact_durations(monkeypatch: pytest.MonkeyPatch) -> None:
    assert {"min_lead", "horizon", "window_margin", "lease", "reconcile_after"} <= set(DURATIONS)
    for name in DURATIONS:
        monkeypatch.setenv(f"DRIPSMS_{name.upper()}", "1d2h")
    settings = Settings()
    for name in DURATIONS:
        assert getattr(settings, name) == timedelta(days=1, hours=2), name


def test_twilio_credentials_use_twilios_names(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().uses_sandbox
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "1" * 32)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "tok-3f9a")
    settings = Settings()
    assert not settings.uses_sandbox
    assert settings.twilio_auth_token is not None
    assert settings.twilio_auth_token.get_secret_value() == "tok-3f9a"
    assert "tok-3f9a" not in repr(settings)


def test_a_bad_value_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIPSMS_HORIZON", "a week")
    with pytest.raises(ValidationError, match="horizon"):
        Settings()
