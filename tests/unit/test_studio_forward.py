"""DRIPSMS_STUDIO_FLOW_URL and what a forward carries (the end-to-end routes are in
tests/e2e/test_studio_one_number.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from dripsms.engine.inbound import Call, Inbound
from dripsms.engine.studio import forward_parameters
from dripsms.settings import Settings


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith(("DRIPSMS_", "TWILIO_")):
            monkeypatch.delenv(name)


def test_the_flow_url_is_optional_and_blank_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().studio_flow_url is None
    monkeypatch.setenv("DRIPSMS_STUDIO_FLOW_URL", "  ")
    assert Settings().studio_flow_url is None
    url = "https://webhooks.twilio.com/v1/Accounts/AC1/Flows/FW1"
    monkeypatch.setenv("DRIPSMS_STUDIO_FLOW_URL", f" {url} ")
    assert Settings().studio_flow_url == url


@pytest.mark.parametrize("bad", ["FW123", "ftp://example.org/flow", "webhooks.twilio.com/v1"])
def test_a_flow_url_that_is_not_http_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    monkeypatch.setenv("DRIPSMS_STUDIO_FLOW_URL", bad)
    with pytest.raises(ValidationError, match="studio_flow_url"):
        Settings()


def _call(params: tuple[tuple[str, str], ...]) -> Call:
    at = datetime(2026, 3, 1, tzinfo=UTC)
    inbound = Inbound("SM1", "+14155550100", "hi", at, to="+14155550000", params=params)
    return Call(inbound, "+14155550100")


def test_a_forward_carries_twilios_parameters_as_received() -> None:
    params = (("MessageSid", "SM1"), ("From", "+14155550100"), ("Body", "hi"), ("ToZip", ""))
    assert forward_parameters(_call(params)) == dict(params)


def test_a_recovered_text_is_forwarded_with_what_dripsms_knows() -> None:
    assert forward_parameters(_call(())) == {
        "MessageSid": "SM1", "SmsSid": "SM1", "From": "+14155550100", "To": "+14155550000",
        "Body": "hi", "NumMedia": "0",
    }  # fmt: skip
