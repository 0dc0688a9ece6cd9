"""``dripsms doctor`` per credential configuration, as a user runs it (a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dripsms.sandbox import SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN
from dripsms.store.database import connect, upgrade

REPO = Path(__file__).resolve().parents[2]
SID = "AC" + "1" * 32
KEY = "SK" + "2" * 32
SERVICE = "MG" + "3" * 32


def doctor(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DRIPSMS_", "TWILIO_"))}
    base.update(
        COLUMNS="300",
        DRIPSMS_DATABASE_URL=f"sqlite:///{cwd / 'dripsms.db'}",
        DRIPSMS_SEQUENCES_DIR=str(REPO / "sequences"),
    )
    return subprocess.run(
        [sys.executable, "-m", "dripsms", "doctor", *args], cwd=cwd, env={**base, **env},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def checks(cwd: Path, **env: str) -> tuple[int, dict[str, dict[str, Any]]]:
    done = doctor(cwd, "--json", **env)
    report = json.loads(done.stdout)
    assert report["ok"] == (done.returncode == 0), done.stdout
    return done.returncode, {check["name"]: check for check in report["checks"]}


@pytest.fixture
def migrated(tmp_path: Path) -> Path:
    engine = connect(f"sqlite:///{tmp_path / 'dripsms.db'}")
    upgrade(engine)
    engine.dispose()
    return tmp_path


TWILIO = {"DRIPSMS_MESSAGING_SERVICE_SID": SERVICE, "DRIPSMS_PUBLIC_URL": "https://c.example.org"}


def test_no_credentials_is_the_sandbox_and_all_good(migrated: Path) -> None:
    code, found = checks(migrated)
    assert code == 0
    assert "sandbox" in found["credentials"]["detail"]
    assert found["provider"]["detail"].startswith("the dripsms sandbox at")
    # Only `dripsms run`, which starts the sandbox, knows its token: a warning, not a failure.
    assert found["webhook signatures"]["warning"]
    assert "dripsms run" in found["webhook signatures"]["detail"]
    assert found["database"]["ok"] and found["sequences"]["ok"]
    text = doctor(migrated)
    assert text.returncode == 0 and "all good" in text.stdout


def test_sid_and_token_is_twilio_with_signatures_checked(migrated: Path) -> None:
    code, found = checks(migrated, TWILIO_ACCOUNT_SID=SID, TWILIO_AUTH_TOKEN="tok", **TWILIO)
    assert code == 0, found
    assert found["provider"]["detail"] == "Twilio at https://api.twilio.com"
    assert found["webhook signatures"] == {
        "name": "webhook signatures", "ok": True, "warning": False,
        "detail": "checked with the auth token",
    }  # fmt: skip
    assert not any(check["warning"] for check in found.values())


def test_an_api_key_alone_cannot_check_signatures(migrated: Path) -> None:
    code, found = checks(
        migrated, TWILIO_ACCOUNT_SID=SID, TWILIO_API_KEY=KEY, TWILIO_API_SECRET="s", **TWILIO
    )
    assert code == 1
    assert found["credentials"]["ok"]
    webhooks = found["webhook signatures"]
    assert not webhooks["ok"]
    assert "503" in webhooks["detail"] and "set TWILIO_AUTH_TOKEN" in webhooks["detail"]


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({"TWILIO_AUTH_TOKEN": "tok"}, "TWILIO_AUTH_TOKEN is set but TWILIO_ACCOUNT_SID is not"),
        ({"TWILIO_API_KEY": KEY}, "TWILIO_API_KEY is set but TWILIO_ACCOUNT_SID is not"),
        (
            {"TWILIO_ACCOUNT_SID": SANDBOX_ACCOUNT_SID, "TWILIO_AUTH_TOKEN": SANDBOX_AUTH_TOKEN},
            "the sandbox's published token",
        ),
    ],
    ids=["token only", "key only", "the sandbox's published token"],
)
def test_an_unusable_set_fails_naming_what_is_missing(
    migrated: Path, env: dict[str, str], missing: str
) -> None:
    code, found = checks(migrated, **env)
    assert code == 1
    assert not found["settings"]["ok"]
    assert not found["credentials"]["ok"]
    assert missing in found["credentials"]["detail"]
    assert "provider" not in found  # nothing falls back to the sandbox
    # The commands that would send refuse to start, with the same words.
    refused = subprocess.run(
        [sys.executable, "-m", "dripsms", "tick"], cwd=migrated, capture_output=True, text=True,
        env={**{k: v for k, v in os.environ.items() if not k.startswith(("DRIPSMS_", "TWILIO_"))},
             "DRIPSMS_DATABASE_URL": f"sqlite:///{migrated / 'dripsms.db'}", "COLUMNS": "300",
             **env},
        timeout=60, check=False,
    )  # fmt: skip
    assert refused.returncode == 2
    assert missing in " ".join(refused.stderr.split())


def test_twilio_without_a_messaging_service_or_https_is_reported(migrated: Path) -> None:
    code, found = checks(
        migrated, TWILIO_ACCOUNT_SID=SID, TWILIO_AUTH_TOKEN="tok",
        DRIPSMS_PUBLIC_URL="http://127.0.0.1:8000",
    )  # fmt: skip
    assert code == 1
    assert not found["messaging service"]["ok"]
    public = found["public URL"]
    assert public["ok"] and public["warning"]
    assert "not https" in public["detail"] and "Twilio cannot reach it" in public["detail"]


def test_an_unmigrated_database_and_broken_sequences_fail(tmp_path: Path) -> None:
    sequences = tmp_path / "sequences"
    sequences.mkdir()
    (sequences / "bad.yaml").write_text("key: bad\nsteps: 3\n")
    code, found = checks(tmp_path, DRIPSMS_SEQUENCES_DIR=str(sequences))
    assert code == 1
    assert "dripsms db upgrade" in found["database"]["detail"]
    assert not (tmp_path / "dripsms.db").exists()  # doctor creates nothing
    assert "bad.yaml" in found["sequences"]["detail"]
