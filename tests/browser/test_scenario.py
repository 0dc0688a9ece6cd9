"""Issue 9's acceptance, in Chromium: a nurse follows a patient through the console of a
sandbox-mode server (virtual clock, the sandbox posting signed webhooks, the dispatcher's
loop), from enrollment to an acknowledged escalation; hostile replies show as text; every
console page is screenshot, at desktop and at phone width."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import Engine

from dripsms.core.planning import EnrollmentRequest
from dripsms.engine.sandbox_session import SandboxSession
from dripsms.store.database import connect, upgrade
from tests.browser.conftest import BrowserConsole
from tests.console.conftest import NOW, Console
from tests.console.sandboxed import serve_sandboxed

if TYPE_CHECKING:
    from playwright.sync_api import Dialog, Page

ADA = "+14155550100"
NURSE, ADMIN = "nia@clinic.example", "ada@clinic.example"
HOSTILE = ("<script>alert(1)</script>", "<svg onload=alert(1)>")


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = connect(f"sqlite:///{tmp_path / 'dripsms.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sandboxed(sqlite_engine: Engine) -> Iterator[tuple[Console, SandboxSession]]:
    with serve_sandboxed(sqlite_engine, dispatching=True) as served:
        yield served


@pytest.fixture
def browser_console(sandboxed: tuple[Console, SandboxSession]) -> Console:
    """``ui`` drives the sandbox-mode console (overrides tests/browser's)."""
    return sandboxed[0]


def _no_dialogs(page: Page) -> list[str]:
    """Any dialog (an injected script's ``alert``) is recorded, dismissed, and fails the test."""
    fired: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        fired.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return fired


def _enroll_ada(console: Console) -> None:
    """Ada in the post-op example, in New York, operated on March 1."""
    console.runtime.enroller.enroll(
        EnrollmentRequest("postop", ADA, "America/New_York", {"first_name": "Ada"}, "2026-03-01"),
        now=NOW,
    )


def _text_from_phone(ui: BrowserConsole, text: str) -> None:
    ui.page_of(f"/console/sandbox?phone={ADA}")
    ui.page.get_by_label("Text from this phone").fill(text)
    answer = ui.navigate(lambda: ui.page.get_by_role("button", name="Send from the phone").click())
    assert answer.status == 200
    assert ui.page.get_by_role("alert").count() == 0  # the webhook answered 2xx


def test_a_nurse_follows_a_patient_to_an_acknowledged_escalation(
    ui: BrowserConsole, sandboxed: tuple[Console, SandboxSession]
) -> None:
    console, session = sandboxed
    fired = _no_dialogs(ui.page)
    _enroll_ada(console)
    console.add_operator(NURSE, "nurse")
    signed = ui.sign_in(NURSE)
    assert signed.status == 200 and ui.page.url == ui.url + "/console/"

    contact = ui.page_of(f"/console/contacts/{ADA}")
    assert contact.status == 200
    assert ui.page.get_by_text("No numeric answer yet.").is_visible()

    # The clock, from the Sandbox page, until day 1 is delivered to the phone.
    ui.navigate(lambda: ui.page.get_by_role("link", name="Sandbox").click())
    ui.page.get_by_label("Contact").select_option(ADA)
    ui.navigate(lambda: ui.page.get_by_role("button", name="Show phone").click())
    for _ in range(3):
        if session.sandbox.conversation(ADA):
            break
        ui.navigate(lambda: ui.page.get_by_role("button", name="To the next due message").click())
    from playwright.sync_api import expect

    screen = ui.page.locator(".phone-screen")
    deadline = time.monotonic() + 20  # the dispatcher's pass runs on the move, in its thread
    while "how is your pain" not in screen.inner_text() and time.monotonic() < deadline:
        ui.page.reload()  # a server-rendered page: each reload is a fresh look
    expect(screen).to_contain_text("how is your pain")
    assert any(m.status.value == "delivered" for m in session.sandbox.conversation(ADA))
    ui.screenshot(label="day1-delivered")

    # Ada answers 8: an escalation.
    _text_from_phone(ui, "8")
    expect(ui.page.locator(".phone-screen")).to_contain_text("A score of 8 is high")
    ui.navigate(lambda: ui.page.get_by_role("link", name="Inbox").click())
    item = ui.page.locator(".inbox-item.kind-escalation")
    expect(item).to_have_count(1)
    assert ADA in item.inner_text() and "8" in item.locator(".inbox-text").inner_text()

    ui.page_of(f"/console/contacts/{ADA}")
    assert ui.page.locator("svg.chart circle.point").count() == 1  # one point more than none
    values = ui.page.locator("table.values tbody tr")
    expect(values).to_have_count(1)
    assert values.first.locator("td").nth(1).inner_text() == "8.0"

    # Acknowledged in the Inbox: who and when.
    ui.page_of("/console/inbox")
    acked = ui.navigate(
        lambda: (
            ui.page.locator(".inbox-item.kind-escalation")
            .get_by_role("button", name="Acknowledge")
            .click()
        )
    )
    assert acked.status == 200
    ui.page_of("/console/inbox?status=acknowledged")
    note = ui.page.locator(".inbox-item.kind-escalation .inbox-ack")
    expect(note).to_contain_text(f"Acknowledged by {NURSE}")
    assert note.locator("time").get_attribute("datetime")

    # Markup typed on the phone is text on the contact page; no script runs.
    for text in HOSTILE:
        _text_from_phone(ui, text)
    ui.page_of(f"/console/contacts/{ADA}")
    assert fired == []  # no injected script ran
    bodies = ui.page.locator(".thread .msg.in .body").all_inner_texts()
    for text in HOSTILE:
        assert text in bodies
    assert ui.page.locator(".thread script, .thread svg").count() == 0
    assert fired == []

    # A nurse may not open the users page; a form without its CSRF token is refused.
    refused = ui.page_of("/console/users")
    assert refused.status == 403
    ui.page_of(f"/console/contacts/{ADA}")
    ui.page.evaluate(
        "() => document.querySelectorAll('input[name=csrf_token]').forEach(f => f.remove())"
    )
    ui.page.get_by_label("Text (sent now", exact=False).fill("We will call you.")
    forged = ui.navigate(lambda: ui.page.get_by_role("button", name="Send", exact=True).click())
    assert forged.status == 403
    assert "security token" in ui.page.get_by_role("alert").inner_text()
    assert "We will call you." not in str(session.sandbox.conversation(ADA))
    assert fired == []


PAGES = (
    "/console/", "/console/inbox", "/console/enrollments", "/console/sequences",
    "/console/sequences/postop", f"/console/contacts/{ADA}", f"/console/sandbox?phone={ADA}",
    "/console/users", "/console/audit",
)  # fmt: skip


WIDER_THAN_THE_PAGE = """() => {
  const width = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth <= width) return [];
  const scrolls = e => e.parentElement && e.parentElement.closest(".table-wrap, .timeline-figure")
    && getComputedStyle(e).position !== "absolute";  // an absolute one may escape its box
  return [...document.querySelectorAll("body *")]
    .filter(e => e.getBoundingClientRect().right > width + 1 && !scrolls(e))
    .map(e => e.tagName.toLowerCase() + (e.className ? "." + e.className : "")
              + (e.id ? "#" + e.id : ""))
    .slice(0, 8);
}"""
"""What sticks out of a page wider than the window (empty when nothing does)."""


@pytest.mark.parametrize("width", [1024, 390])
def test_every_console_page_is_screenshot(
    ui: BrowserConsole, sandboxed: tuple[Console, SandboxSession], width: int
) -> None:
    console, session = sandboxed
    fired = _no_dialogs(ui.page)
    _enroll_ada(console)
    session.reply(ADA, HOSTILE[1])
    console.add_operator(ADMIN, "admin")
    ui.page.set_viewport_size({"width": width, "height": 800})
    login = ui.page_of("/console/login")
    assert login.status == 200
    ui.sign_in(ADMIN)
    for path in PAGES:
        shown = ui.page_of(path)
        assert shown.status == 200, path
        assert ui.page.locator("h1").count() == 1, path
        if width < 500:
            wide = ui.page.evaluate(WIDER_THAN_THE_PAGE)
            assert wide == [], path  # nothing wider than a phone (tables scroll in their box)
    assert len(ui.screenshots) >= len(PAGES) + 2
    assert fired == []
