"""The browser tests' own rules: never skipped under CI; screenshots named after the test."""

from __future__ import annotations

import pytest

from tests.browser.conftest import SCREENSHOTS, BrowserConsole, _unavailable


def test_a_missing_browser_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no Chromium"):
        _unavailable("no Chromium")


def test_a_missing_browser_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="may not be skipped"):
        _unavailable("no Chromium")


def test_every_page_visited_is_saved_as_a_screenshot(ui: BrowserConsole) -> None:
    ui.page_of("/console/login")
    ui.page_of("/console/login")
    assert ui.screenshots == [
        SCREENSHOTS / "test_every_page_visited_is_saved_as_a_screenshot-console-login.png",
        SCREENSHOTS / "test_every_page_visited_is_saved_as_a_screenshot-console-login-2.png",
    ]
    assert all(path.stat().st_size > 1000 for path in ui.screenshots)


@pytest.fixture
def console_settings() -> dict[str, object]:
    return {"clinic_timezone": "Europe/Rome"}


def test_a_module_can_give_the_console_its_settings(ui: BrowserConsole) -> None:
    assert ui.console.runtime.settings.clinic_timezone == "Europe/Rome"
    ui.console.add_operator("ada@clinic.example", "admin")
    ui.sign_in("ada@clinic.example")
    ui.page_of("/console/audit")
    assert "Time (Europe/Rome)" in ui.page.locator("table.audit").inner_text()
    assert "2026-03-01 16:00:00 CET" in ui.page.locator("table.audit").inner_text()
