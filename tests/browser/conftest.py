"""The console in a real browser: Playwright driving Debian's Chromium (``/usr/bin/chromium``,
never a browser Playwright downloads), against a console served on localhost.

``ui`` is a served console (SQLite, like ``tests/console``'s) and a fresh browser context;
``ui.page_of(path)`` opens a page, ``ui.navigate(action)`` follows a click or a submit, and
each saves a full-page screenshot to ``artifacts/screenshots/<test>-<page>.png``. Without
Chromium the tests are skipped with the reason, except under CI (``CI`` set), where a
missing browser fails them: `make test` and `.ci/run` install it.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from dripsms.store.database import connect, upgrade
from tests.console.conftest import PASSWORD, Console, serve_console

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Response

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "artifacts" / "screenshots"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
"""Without the background-networking ones, Chromium keeps trying to reach Google's hosts."""


def chromium_path() -> Path | None:
    """Debian's Chromium, or the one ``DRIPSMS_CHROMIUM`` names; ``None`` when neither is."""
    named = os.environ.get("DRIPSMS_CHROMIUM")
    for candidate in (named, "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


def _unavailable(reason: str) -> NoReturn:
    """Skip, except in CI, where every browser test must run."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: browser tests may not be skipped)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """One headless Chromium per module (each test gets its own context).

    Not for the session: Playwright's sync API keeps an event loop in the main thread while
    it runs, and tests after these start servers with ``asyncio.run`` there.
    """
    executable = chromium_path()
    if executable is None:
        _unavailable("no Chromium: install Debian's `chromium` (make test does, as root/sudo)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed: pip install -e '.[test]'")
    with sync_playwright() as playwright:
        # Playwright gives the browser a new, empty profile directory of its own.
        browser = playwright.chromium.launch(
            executable_path=str(executable), headless=True, args=CHROMIUM_FLAGS
        )
        yield browser
        browser.close()


def _slug(text: str, keep: str = "") -> str:
    return re.sub(rf"[^A-Za-z0-9{keep}]+", "-", text).strip("-")[:80] or "page"


@dataclass
class BrowserConsole:
    """A served console and a browser on it; every page it shows is screenshot."""

    console: Console
    browser: Browser
    test_name: str
    contexts: list[BrowserContext] = field(default_factory=list)
    screenshots: list[Path] = field(default_factory=list)
    page: Page = field(init=False)

    def __post_init__(self) -> None:
        self.page = self.new_page()

    @property
    def url(self) -> str:
        """The console's server."""
        return self.console.url

    def new_page(self) -> Page:
        """A page in a new browser context: a second person, with no cookies."""
        context = self.browser.new_context(viewport={"width": 1024, "height": 768})
        context.set_default_timeout(15_000)
        self.contexts.append(context)
        return context.new_page()

    def screenshot(self, page: Page | None = None, label: str | None = None) -> Path:
        """A full-page screenshot of what ``page`` (default: the main one) shows now, named
        after the test and the page's path (or ``label``)."""
        shown = page or self.page
        name = label or _slug(shown.url.removeprefix(self.url).split("?")[0])
        path = SCREENSHOTS / f"{self.test_name}-{name}.png"
        n = 2
        while path in self.screenshots:
            path = SCREENSHOTS / f"{self.test_name}-{name}-{n}.png"
            n += 1
        path.parent.mkdir(parents=True, exist_ok=True)
        shown.screenshot(path=str(path), full_page=True)
        self.screenshots.append(path)
        return path

    def page_of(self, path: str, page: Page | None = None) -> Response:
        """Open ``path`` of the console (and screenshot it); the answer, with its status."""
        shown = page or self.page
        response = shown.goto(self.url + path)
        assert response is not None
        self.screenshot(shown)
        return response

    def navigate(self, action: Callable[[], Any], page: Page | None = None) -> Response:
        """Do ``action`` (a click, a submit), wait for the page it leads to, screenshot it."""
        shown = page or self.page
        with shown.expect_navigation() as navigation:
            action()
        response = navigation.value
        assert response is not None
        self.screenshot(shown)
        return response

    def sign_in(self, email: str, password: str = PASSWORD, page: Page | None = None) -> Response:
        """Sign in through the form, as a person would (mouse and keyboard)."""
        shown = page or self.page
        self.page_of("/console/login", shown)
        shown.get_by_label("Email").fill(email)
        shown.get_by_label("Password").fill(password)
        return self.navigate(lambda: shown.get_by_role("button", name="Sign in").click(), shown)

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def console_settings() -> dict[str, object]:
    """Settings of the served console beyond ``tests/console``'s (override this fixture in
    a test module, e.g. ``{"clinic_timezone": "America/New_York"}``)."""
    return {}


@pytest.fixture
def browser_console(tmp_path: Path, console_settings: dict[str, object]) -> Iterator[Console]:
    """A console served on a fresh SQLite database (the browser tests need one backend)."""
    engine = connect(f"sqlite:///{tmp_path / 'dripsms.db'}")
    upgrade(engine)
    yield from serve_console(engine, **console_settings)
    engine.dispose()


@pytest.fixture
def ui(
    chromium: Browser, browser_console: Console, request: pytest.FixtureRequest
) -> Iterator[BrowserConsole]:
    """The console in Chromium; the last page each browser shows is screenshot at the end."""
    name = _slug(request.node.name, keep="_")
    for stale in SCREENSHOTS.glob(f"{name}-*.png"):  # from an earlier run of this test
        stale.unlink()
    driven = BrowserConsole(browser_console, chromium, name)
    yield driven
    for context in driven.contexts:
        for page in context.pages:
            if page.url.startswith(driven.url):
                driven.screenshot(page, "last")
    driven.close()
