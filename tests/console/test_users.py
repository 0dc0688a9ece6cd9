"""The Users page (admins only): listing, adding and disabling operators, audited."""

from __future__ import annotations

import re

from dripsms.engine.operators import authenticate
from dripsms.engine.users import audit_log, list_users
from tests.console.conftest import Console


def _emails(console: Console) -> set[str]:
    return {row.email for row in list_users(console.runtime.engine)}


def _actions(console: Console) -> list[tuple[str, str, str]]:
    events = audit_log(console.runtime.engine)
    return [(e.operator_email, e.action, e.subject) for e in events]


def test_a_nurse_cannot_open_or_post_to_the_users_page(console: Console) -> None:
    nurse = console.sign_in("nurse", "nia@clinic.example")
    page = nurse.get(console.url + "/console/users", timeout=10)
    assert page.status_code == 403
    assert "this page is for admins" in page.text
    assert 'href="/console/users"' not in page.text  # not in a nurse's navigation
    token = console.csrf(nurse)
    form = {"csrf_token": token, "email": "eve@clinic.example", "role": "admin",
            "password": "correct horse battery"}  # fmt: skip
    posted = nurse.post(console.url + "/console/users", data=form, timeout=10)
    assert posted.status_code == 403
    assert "eve@clinic.example" not in _emails(console)


def test_an_admin_sees_every_operator(console: Console) -> None:
    console.add_operator("nia@clinic.example", "nurse")
    admin = console.sign_in("admin", "ada@clinic.example")
    page = admin.get(console.url + "/console/users", timeout=10)
    assert page.status_code == 200
    assert "nia@clinic.example" in page.text and "ada@clinic.example" in page.text
    assert "(you)" in page.text
    assert "2026-03-01 15:00 UTC" in page.text  # added, labelled with the clinic's zone


def test_an_admin_adds_a_nurse_who_can_then_sign_in(console: Console) -> None:
    admin = console.sign_in("admin", "ada@clinic.example")
    form = {"csrf_token": console.csrf(admin), "email": " Bo@Clinic.Example", "role": "nurse",
            "password": "a long enough secret"}  # fmt: skip
    page = admin.post(console.url + "/console/users", data=form, timeout=10)
    assert page.status_code == 200
    assert "Added nurse" in page.text and "bo@clinic.example" in page.text
    assert "a long enough secret" not in page.text
    signed = console.login(console.browser(), "bo@clinic.example", "a long enough secret")
    assert signed.status_code == 303
    assert ("ada@clinic.example", "add_operator", "operator:bo@clinic.example") in _actions(console)


def test_a_generated_password_is_shown_once_and_works(console: Console) -> None:
    admin = console.sign_in("admin", "ada@clinic.example")
    form = {"csrf_token": console.csrf(admin), "email": "cy@clinic.example", "role": "admin",
            "password": "", "generate": "yes"}  # fmt: skip
    page = admin.post(console.url + "/console/users", data=form, timeout=10)
    assert page.status_code == 200
    found = re.search(r'id="new-password">([^<]+)<', page.text)
    assert found, page.text
    password = found.group(1)
    operator = authenticate(console.runtime.engine, "cy@clinic.example", password)
    assert operator is not None and operator.is_admin
    again = admin.get(console.url + "/console/users", timeout=10)
    assert password not in again.text


def test_bad_input_names_the_field_and_writes_nothing(console: Console) -> None:
    admin = console.sign_in("admin", "ada@clinic.example")
    token = console.csrf(admin)
    cases = [
        ({"email": "not-an-email", "role": "nurse", "password": "long enough pw"}, 422, "email:"),
        ({"email": "x@clinic.example", "role": "boss", "password": "long enough pw"}, 422,
         "role:"),
        ({"email": "x@clinic.example", "role": "nurse", "password": "short"}, 422, "password:"),
        ({"email": "ada@clinic.example", "role": "nurse", "password": "long enough pw"}, 409,
         "exists already"),
        ({"email": "x" * 5000, "role": "nurse"}, 422, "email:"),
        ({"email": "a\x00b@clinic.example", "role": "nurse", "password": "long enough pw"}, 422,
         "email:"),
        ({}, 422, "email:"),
    ]  # fmt: skip
    before = (_emails(console), len(_actions(console)))
    for fields, status, message in cases:
        page = admin.post(
            console.url + "/console/users", data={"csrf_token": token, **fields}, timeout=10
        )
        assert page.status_code == status, (fields, page.text)
        assert message in page.text
    assert (_emails(console), len(_actions(console))) == before
    # A NUL in a password is a character like another (only its hash is stored).
    fields = {"email": "x@clinic.example", "role": "nurse", "password": "long\x00enough pw"}
    page = admin.post(console.url + "/console/users", data={"csrf_token": token, **fields})
    assert page.status_code == 200 and "Added nurse" in page.text


def test_sign_in_with_unstorable_text_is_a_plain_refusal(console: Console) -> None:
    for email in ("a\x00b@clinic.example", "\x00", "ada@clinic.example\x00"):
        answer = console.login(console.browser(), email, "pass\x00word")
        assert answer.status_code == 401, answer.text


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(console: Console) -> None:
    console.add_operator("nia@clinic.example", "nurse")
    admin = console.sign_in("admin", "ada@clinic.example")
    other = console.sign_in("admin", "bo@clinic.example")
    add = {"email": "eve@clinic.example", "role": "admin", "password": "correct horse battery"}
    for token in (None, "", console.csrf(other)):
        form = dict(add, **({"csrf_token": token} if token is not None else {}))
        assert admin.post(console.url + "/console/users", data=form, timeout=10).status_code == 403
        gone = {"email": "nia@clinic.example", **({"csrf_token": token} if token else {})}
        answer = admin.post(console.url + "/console/users/disable", data=gone, timeout=10)
        assert answer.status_code == 403
    assert "eve@clinic.example" not in _emails(console)
    assert all(r.disabled_at is None for r in list_users(console.runtime.engine))


def test_disabling_an_operator_ends_their_sessions_and_is_audited(console: Console) -> None:
    nurse = console.sign_in("nurse", "nia@clinic.example")
    assert nurse.get(console.url + "/console/", timeout=10).status_code == 200
    admin = console.sign_in("admin", "ada@clinic.example")
    form = {"csrf_token": console.csrf(admin), "email": "nia@clinic.example"}
    page = admin.post(console.url + "/console/users/disable", data=form, timeout=10)
    assert page.status_code == 200
    assert "Disabled" in page.text
    kicked = nurse.get(console.url + "/console/", allow_redirects=False, timeout=10)
    assert kicked.status_code == 303 and "/console/login" in kicked.headers["location"]
    assert console.login(console.browser(), "nia@clinic.example").status_code == 401
    assert ("ada@clinic.example", "disable_operator", "operator:nia@clinic.example") in _actions(
        console
    )


def test_an_admin_cannot_disable_themselves(console: Console) -> None:
    admin = console.sign_in("admin", "ada@clinic.example")
    form = {"csrf_token": console.csrf(admin), "email": "ADA@clinic.example"}
    page = admin.post(console.url + "/console/users/disable", data=form, timeout=10)
    assert page.status_code == 409
    assert "cannot disable your own account" in page.text
    assert admin.get(console.url + "/console/users", timeout=10).status_code == 200
    assert "Disable ada@clinic.example" not in page.text  # no button for oneself either


def test_disabling_nobody_is_a_clear_404(console: Console) -> None:
    admin = console.sign_in("admin", "ada@clinic.example")
    form = {"csrf_token": console.csrf(admin), "email": "ghost@clinic.example"}
    page = admin.post(console.url + "/console/users/disable", data=form, timeout=10)
    assert page.status_code == 404
    assert "no operator" in page.text


def test_sign_in_and_sign_out_are_audited(console: Console) -> None:
    admin = console.sign_in("admin", "ada@clinic.example")
    token = console.csrf(admin)
    out = admin.post(
        console.url + "/console/logout", data={"csrf_token": token}, allow_redirects=False,
        timeout=10,
    )  # fmt: skip
    assert out.status_code == 303
    actions = [a for a in _actions(console) if a[0] == "ada@clinic.example"]
    assert actions == [
        ("ada@clinic.example", "sign_out", "operator:ada@clinic.example"),
        ("ada@clinic.example", "sign_in", "operator:ada@clinic.example"),
    ]


def test_an_email_with_markup_is_shown_as_text(console: Console) -> None:
    console.add_operator("<b>x</b>@clinic.example", "nurse")
    admin = console.sign_in("admin", "ada@clinic.example")
    page = admin.get(console.url + "/console/users", timeout=10)
    assert "&lt;b&gt;x&lt;/b&gt;@clinic.example" in page.text
    assert "<b>x</b>" not in page.text
