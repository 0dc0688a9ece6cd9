from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from sqlalchemy import Engine

from dripsms.runtime import Runtime
from dripsms.settings import Settings
from dripsms.testing import serve_app
from dripsms.web.app import create_app

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)
TOKEN = "test-token-7f3a9c"
AUTH_TOKEN = "twilio-auth-token-for-tests"


@dataclass
class Served:
    url: str
    runtime: Runtime
    session: requests.Session

    def api(self, method: str, path: str, **kwargs: object) -> requests.Response:
        headers = {"Authorization": f"Bearer {TOKEN}", **kwargs.pop("headers", {})}  # type: ignore[dict-item]
        return self.session.request(method, self.url + path, headers=headers, timeout=10, **kwargs)  # type: ignore[arg-type]


def served(engine: Engine, **settings: object) -> Iterator[Served]:
    config = Settings(
        database_url=engine.url.render_as_string(hide_password=False),
        sequences_dir=REPO / "sequences",
        api_tokens=[TOKEN, "second-token"],
        twilio_account_sid="AC" + "a" * 32,
        twilio_auth_token=AUTH_TOKEN,
        **settings,  # type: ignore[arg-type]
    )
    runtime = Runtime(config, lambda: NOW)
    with serve_app(create_app(runtime)) as url, requests.Session() as session:
        yield Served(url, runtime, session)
    runtime.engine.dispose()


@pytest.fixture
def app(engine: Engine) -> Iterator[Served]:
    yield from served(engine)
