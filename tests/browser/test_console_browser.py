"""The console's sign-in, roles and forms in Chromium: what a person at a browser sees."""

from __future__ import annotations

from dripsms.engine.users import list_users
from tests.browser.conftest import BrowserConsole
from tests.console.conftest import PASSWORD


def _emails(ui: BrowserConsole) -> set[str]:
    return {row.email for row in list_users(ui.console.runtime.engine)}


def test_sign_in_through_the_form(ui: BrowserConsole) -> None:
    ui.console.add_operator("ada@clinic.example", "admin")
    first = ui.page_of("/console/users")
    assert "/console/login?next=/console/users" in ui.page.url  # sent to sign in first
    assert first.status == 200
    ui.page.get_by_label("Email").fill("ada@clinic.example")
    ui.page.get_by_label("Password").fill("not her password")
    wrong = ui.navigate(lambda: ui.page.get_by_role("button", name="Sign in").click())
    assert wrong.status == 401
    assert ui.page.get_by_role("alert").inner_text().startswith("That email and password")
    ui.page.get_by_label("Password").fill(PASSWORD)
    signed = ui.navigate(lambda: ui.page.get_by_role("button", name="Sign in").click())
    assert signed.status == 200
    assert ui.page.url == ui.url + "/console/users"  # back where they were going
    assert ui.page.get_by_role("heading", name="Users").is_visible()


def test_a_nurse_cannot_open_the_users_page(ui: BrowserConsole) -> None:
    ui.console.add_operator("nia@clinic.example", "nurse")
    ui.sign_in("nia@clinic.example")
    assert ui.page.get_by_role("link", name="Users").count() == 0  # not offered
    refused = ui.page_of("/console/users")
    assert refused.status == 403
    assert ui.page.get_by_role("heading", name="Not allowed").is_visible()
    assert "this page is for admins" in ui.page.get_by_role("alert").inner_text()


def test_a_form_posted_without_its_csrf_token_is_refused(ui: BrowserConsole) -> None:
    ui.console.add_operator("ada@clinic.example", "admin")
    ui.sign_in("ada@clinic.example")
    ui.page_of("/console/users")
    removed = ui.page.evaluate(
        "() => { const fields = document.querySelectorAll('input[name=csrf_token]');"
        " fields.forEach(f => f.remove()); return fields.length; }"
    )
    assert removed >= 2  # the add form's and each disable form's (and sign-out's)
    ui.page.get_by_label("Email").fill("eve@clinic.example")
    ui.page.get_by_label("Password", exact=False).first.fill("correct horse battery")
    refused = ui.navigate(lambda: ui.page.get_by_role("button", name="Add user").click())
    assert refused.status == 403
    assert "security token" in ui.page.get_by_role("alert").inner_text()
    assert "eve@clinic.example" not in _emails(ui)


def test_an_admin_adds_a_user_who_then_signs_in(ui: BrowserConsole) -> None:
    ui.console.add_operator("ada@clinic.example", "admin")
    ui.sign_in("ada@clinic.example")
    ui.navigate(lambda: ui.page.get_by_role("link", name="Users").click())
    ui.page.get_by_label("Email").fill("bo@clinic.example")
    ui.page.get_by_label("Role").select_option("nurse")
    ui.page.get_by_label("Generate a password instead").check()
    added = ui.navigate(lambda: ui.page.get_by_role("button", name="Add user").click())
    assert added.status == 200
    assert "Added nurse bo@clinic.example" in ui.page.get_by_role("status").inner_text()
    password = ui.page.locator("#new-password").inner_text()
    assert len(password) >= 10
    nurse = ui.new_page()
    signed = ui.sign_in("bo@clinic.example", password, page=nurse)
    assert signed.status == 200 and nurse.url == ui.url + "/console/"
    assert "bo@clinic.example (nurse)" in nurse.locator(".who").inner_text()
    ui.page_of("/console/audit")
    log = ui.page.locator("table.audit").inner_text()
    assert "add operator" in log and "operator:bo@clinic.example" in log


def test_keyboard_only_sign_in(ui: BrowserConsole) -> None:
    ui.console.add_operator("nia@clinic.example", "nurse")
    ui.page_of("/console/login")
    page = ui.page
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "email":
            break
    assert page.evaluate("document.activeElement.id") == "email"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # the focus can be seen
    page.keyboard.type("nia@clinic.example")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "password"
    page.keyboard.type(PASSWORD)
    signed = ui.navigate(lambda: page.keyboard.press("Enter"))
    assert signed.status == 200
    assert page.url == ui.url + "/console/"
    assert "nia@clinic.example (nurse)" in page.locator(".who").inner_text()


def test_the_users_and_audit_pages_fit_a_phone(ui: BrowserConsole) -> None:
    ui.console.add_operator("ada@clinic.example", "admin")
    ui.console.add_operator("a.very.long.name.for.a.nurse@clinic.example", "nurse")
    ui.page.set_viewport_size({"width": 360, "height": 740})
    ui.sign_in("ada@clinic.example")
    for path in ("/console/users", "/console/audit"):
        ui.page_of(path)
        overflow = ui.page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, path  # wide tables scroll inside their box, not the page
        assert ui.page.get_by_role("button", name="Sign out").is_visible()
