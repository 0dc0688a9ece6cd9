"""Fixtures: a sandbox on a fixed clock, served over real HTTP, and SDK clients pointed at it."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sandbox_support import START, Connect, Receiver
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from dripsms.sandbox import SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN, Sandbox, SandboxServer

REPO = Path(__file__).resolve().parents[2]
OPENAPI_PACKAGE = "@twilio-alpha/mcp@0.7.0"
OPENAPI_MEMBER = "package/twilio-oai/spec/json/twilio_api_v2010.json"
OPENAPI_CACHE = REPO / ".cache" / "twilio-oai"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(now=START) as sandbox:
        yield sandbox


@pytest.fixture
def server(sandbox: Sandbox) -> Iterator[SandboxServer]:
    with SandboxServer(sandbox) as server:
        yield server


@pytest.fixture
def connect(server: SandboxServer) -> Iterator[Connect]:
    """Build SDK clients talking to the sandbox (closing their HTTP sessions afterwards)."""
    made: list[TwilioHttpClient] = []

    def connect(
        username: str = SANDBOX_ACCOUNT_SID,
        password: str = SANDBOX_AUTH_TOKEN,
        *,
        account_sid: str | None = None,
        timeout: float = 5.0,
    ) -> Client:
        http = TwilioHttpClient(timeout=timeout)
        made.append(http)
        client = Client(username, password, account_sid=account_sid, http_client=http)
        # An edge or region from the environment would rewrite the host: not for a sandbox.
        client.edge = client.region = None
        client.api.base_url = server.base_url
        return client

    yield connect
    for http in made:
        assert http.session is not None
        http.session.close()


@pytest.fixture
def client(connect: Connect) -> Client:
    return connect()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="session")
def twilio_openapi(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Twilio's official ``twilio_api_v2010.json``, fetched once from npm into ``.cache/``.

    Fails (never skips) when it cannot be fetched: the check it enables must not vanish.
    """
    spec = OPENAPI_CACHE / "twilio_api_v2010.json"
    stamp = OPENAPI_CACHE / "package.txt"
    if not (spec.exists() and stamp.exists() and stamp.read_text().strip() == OPENAPI_PACKAGE):
        _fetch_openapi(tmp_path_factory.mktemp("npm"), spec, stamp)
    return dict(json.loads(spec.read_text()))


def _fetch_openapi(work: Path, spec: Path, stamp: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail(f"npm is needed to fetch Twilio's OpenAPI description ({OPENAPI_PACKAGE})")
    try:
        done = subprocess.run(
            [npm, "pack", OPENAPI_PACKAGE, "--pack-destination", str(work), "--loglevel=error"],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"npm pack {OPENAPI_PACKAGE} timed out: is the npm registry reachable?")
    tarballs = sorted(work.glob("*.tgz"))
    if done.returncode != 0 or not tarballs:
        pytest.fail(
            f"could not fetch Twilio's OpenAPI description: npm pack {OPENAPI_PACKAGE} "
            f"failed (is the npm registry reachable?):\n{done.stderr.strip()}"
        )
    with tarfile.open(tarballs[0]) as archive:
        try:
            member = archive.extractfile(OPENAPI_MEMBER)
        except KeyError:
            member = None
        if member is None:
            pytest.fail(f"{OPENAPI_PACKAGE} no longer ships {OPENAPI_MEMBER}")
        data = member.read()
    OPENAPI_CACHE.mkdir(parents=True, exist_ok=True)
    partial = spec.with_suffix(".part")
    partial.write_bytes(data)
    partial.replace(spec)
    stamp.write_text(OPENAPI_PACKAGE + "\n")
