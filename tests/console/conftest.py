"""The console served over HTTP on a migrated database, and operators signed in to it.

``console`` is a live dripsms app (uvicorn in a thread, a real database, Twilio credentials
so that no sandbox is involved unless a test builds one); ``console.sign_in("nurse")``
creates an operator and signs a fresh ``requests.Session`` in through the login form, as a
browser would (the CSRF cookie and field included).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import Engine

from dripsms.engine.operators import add_operator
from dripsms.runtime import Runtime
from dripsms.settings import Settings
from dripsms.testing import serve_app
from dripsms.web.app import create_app
from dripsms.web.dependencies import Services

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class RealClock:
    """The sessions' clock, movable by a test (sessions never use the engine's clock)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class Console:
    url: str
    runtime: Runtime
    services: Services
    clock: RealClock
    sessions: list[requests.Session] = field(default_factory=list)

    def browser(self) -> requests.Session:
        """A browser with no session."""
        session = requests.Session()
        self.sessions.append(session)
        return session

    def add_operator(self, email: str, role: str = "nurse", password: str = PASSWORD) -> None:
        add_operator(self.runtime.engine, email, role, password, now=NOW)

    def login(
        self, browser: requests.Session, email: str, password: str = PASSWORD
    ) -> requests.Response:
        """Post the sign-in form as a browser would (GET it first for its CSRF token)."""
        page = browser.get(self.url + "/console/login", timeout=10)
        token = CSRF.search(page.text)
        assert token, page.text
        form = {"email": email, "password": password, "csrf_token": token.group(1),
                "next": "/console/"}  # fmt: skip
        return browser.post(
            self.url + "/console/login", data=form, timeout=10, allow_redirects=False
        )

    def sign_in(self, role: str = "nurse", email: str | None = None) -> requests.Session:
        """A browser signed in as a new operator with ``role``."""
        address = email or f"{role}{len(self.sessions)}@clinic.example"
        self.add_operator(address, role)
        browser = self.browser()
        answer = self.login(browser, address)
        assert answer.status_code == 303, answer.text
        return browser

    def csrf(self, browser: requests.Session, path: str = "/console/") -> str:
        """The CSRF token of ``browser``'s session, read off a page as a form would carry it."""
        token = CSRF.search(browser.get(self.url + path, timeout=10).text)
        assert token
        return token.group(1)


def serve_console(engine: Engine, **settings: object) -> Iterator[Console]:
    config = Settings(
        database_url=engine.url.render_as_string(hide_password=False),
        sequences_dir=REPO / "sequences",
        twilio_account_sid="AC" + "a" * 32,
        twilio_auth_token="twilio-auth-token-for-tests",
        **settings,  # type: ignore[arg-type]
    )
    runtime = Runtime(config, lambda: NOW)
    app = create_app(runtime)
    services = app.state.services
    clock = RealClock(NOW)
    services.session_clock = clock
    with serve_app(app) as url:
        console = Console(url, runtime, services, clock)
        yield console
        for session in console.sessions:
            session.close()
    runtime.engine.dispose()


@pytest.fixture
def console(engine: Engine) -> Iterator[Console]:
    """The console on each database backend."""
    yield from serve_console(engine)
