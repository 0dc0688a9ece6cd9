"""``dripsms sandbox --fresh-token``: the printed token opens the account, the published one
does not."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from dripsms.sandbox import SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN, SANDBOX_MESSAGING_SERVICE_SID
from dripsms.testing import free_port


def client(base_url: str, token: str) -> Client:
    sdk = Client(SANDBOX_ACCOUNT_SID, token, http_client=TwilioHttpClient(timeout=10))
    sdk.api.base_url = base_url
    return sdk


def test_fresh_token_prints_what_to_set_and_only_it_opens_the_account(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DRIPSMS_", "TWILIO_"))}
    with subprocess.Popen(
        [sys.executable, "-m", "dripsms", "sandbox", "--fresh-token", "--port", str(port)],
        cwd=tmp_path, env={**env, "COLUMNS": "200"}, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
    ) as process:  # fmt: skip
        try:
            assert process.stderr is not None
            exported: dict[str, str] = {}
            for line in process.stderr:  # the banner ends with "Ctrl-C stops"
                if line.strip().startswith("export "):
                    name, _, value = line.strip().removeprefix("export ").partition("=")
                    exported[name] = value
                if "Ctrl-C stops" in line:
                    break
            token, base_url = exported["TWILIO_AUTH_TOKEN"], exported["DRIPSMS_TWILIO_API_BASE"]
            assert token != SANDBOX_AUTH_TOKEN
            assert exported["TWILIO_ACCOUNT_SID"] == SANDBOX_ACCOUNT_SID
            send = {"to": "+14155550100", "body": "hi",
                    "messaging_service_sid": SANDBOX_MESSAGING_SERVICE_SID}  # fmt: skip
            assert client(base_url, token).messages.create(**send).sid.startswith("SM")
            with pytest.raises(TwilioRestException) as refused:
                client(base_url, SANDBOX_AUTH_TOKEN).messages.create(**send)
            assert refused.value.status == 401
        finally:
            process.send_signal(signal.SIGINT)
            process.communicate(timeout=30)
