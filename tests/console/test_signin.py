"""Signing in to the console: passwords, sessions, CSRF, roles, expiry."""

from __future__ import annotations

from datetime import timedelta

import requests
from sqlalchemy import Engine, select

from dripsms.store.tables import console_sessions
from tests.console.conftest import CSRF, PASSWORD, Console, serve_console


def test_a_page_without_a_session_leads_to_the_sign_in_page_and_back(console: Console) -> None:
    browser = console.browser()
    answer = browser.get(console.url + "/console/?since=today", allow_redirects=False, timeout=10)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/login?next=/console/%3Fsince%3Dtoday"
    console.add_operator("ada@clinic.example")
    page = browser.get(console.url + answer.headers["location"], timeout=10)
    form = {"email": "Ada@Clinic.Example ", "password": "correct horse battery",
            "csrf_token": CSRF.search(page.text).group(1), "next": "/console/?since=today"}  # type: ignore[union-attr]  # fmt: skip
    signed = browser.post(
        console.url + "/console/login", data=form, allow_redirects=False, timeout=10
    )
    assert signed.status_code == 303
    assert signed.headers["location"] == "/console/?since=today"


def _session_cookie(answer: requests.Response) -> str:
    """The ``Set-Cookie`` line of the session cookie alone (the sign-in answer also clears the
    sign-in form's cookie, whose attributes must not stand in for the session's)."""
    lines = [
        c for c in answer.raw.headers.getlist("set-cookie") if c.startswith("dripsms_session=")
    ]
    assert len(lines) == 1, answer.headers.get("set-cookie")
    return str(lines[0])


def test_the_session_cookie_is_httponly_and_samesite_lax(console: Console) -> None:
    console.add_operator("ada@clinic.example")
    answer = console.login(console.browser(), "ada@clinic.example")
    cookie = _session_cookie(answer)
    assert "dripsms_session=" in cookie
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain http on localhost; behind https it is Secure


def test_the_cookie_is_secure_when_dripsms_is_reached_over_https(engine: Engine) -> None:
    for console in serve_console(engine, public_url="https://dripsms.clinic.example"):
        console.add_operator("ada@clinic.example")
        browser = console.browser()
        login = browser.get(console.url + "/console/login", timeout=10)
        assert "Secure" in login.headers["set-cookie"]  # the sign-in form's cookie too
        # The browser reaches dripsms over https (a proxy ends TLS); this client speaks plain
        # http, so it would keep the Secure cookie to itself and the sign-in would be refused.
        for cookie in browser.cookies:
            cookie.secure = False
        form = {"email": "ada@clinic.example", "password": PASSWORD, "next": "/console/",
                "csrf_token": CSRF.search(login.text).group(1)}  # type: ignore[union-attr]  # fmt: skip
        answer = browser.post(
            console.url + "/console/login", data=form, allow_redirects=False, timeout=10
        )
        assert answer.status_code == 303  # signed in
        assert "Secure" in _session_cookie(answer)


def test_a_wrong_password_or_unknown_email_gets_the_same_answer(console: Console) -> None:
    console.add_operator("ada@clinic.example")
    wrong = console.login(console.browser(), "ada@clinic.example", "not her password")
    unknown = console.login(console.browser(), "eve@clinic.example", "not her password")
    assert wrong.status_code == unknown.status_code == 401
    assert "do not match an active operator" in wrong.text
    assert "do not match an active operator" in unknown.text
    assert "dripsms_session" not in wrong.headers.get("set-cookie", "")


def test_sign_in_without_the_forms_csrf_token_is_refused(console: Console) -> None:
    console.add_operator("ada@clinic.example")
    browser = console.browser()
    browser.get(console.url + "/console/login", timeout=10)
    form = {"email": "ada@clinic.example", "password": "correct horse battery", "csrf_token": "x"}
    answer = browser.post(
        console.url + "/console/login", data=form, allow_redirects=False, timeout=10
    )
    assert answer.status_code == 403
    assert "dripsms_session" not in answer.headers.get("set-cookie", "")


def test_five_failures_lock_the_email_for_a_while(console: Console) -> None:
    console.add_operator("ada@clinic.example")
    for _ in range(5):
        assert (
            console.login(console.browser(), "ada@clinic.example", "guess guess").status_code == 401
        )
    locked = console.login(console.browser(), "ada@clinic.example")  # the right password
    assert locked.status_code == 429
    console.clock.advance(timedelta(minutes=16))
    assert console.login(console.browser(), "ada@clinic.example").status_code == 303


def test_a_form_posted_without_its_csrf_token_is_refused(console: Console) -> None:
    browser = console.sign_in("nurse")
    answer = browser.post(
        console.url + "/console/logout", data={}, allow_redirects=False, timeout=10
    )
    assert answer.status_code == 403
    assert "security token" in answer.text
    assert (
        browser.get(console.url + "/console/", allow_redirects=False, timeout=10).status_code == 200
    )
    token = console.csrf(browser)
    out = browser.post(console.url + "/console/logout", data={"csrf_token": token},
                       allow_redirects=False, timeout=10)  # fmt: skip
    assert out.status_code == 303
    assert (
        browser.get(console.url + "/console/", allow_redirects=False, timeout=10).status_code == 303
    )


def test_signing_out_ends_the_session_on_the_server_not_only_in_the_browser(
    console: Console,
) -> None:
    browser = console.sign_in("nurse")
    stolen = browser.cookies.get("dripsms_session")
    browser.post(
        console.url + "/console/logout", data={"csrf_token": console.csrf(browser)}, timeout=10
    )
    thief = console.browser()
    thief.cookies.set("dripsms_session", stolen)
    assert (
        thief.get(console.url + "/console/", allow_redirects=False, timeout=10).status_code == 303
    )


def test_the_database_keeps_only_a_hash_of_the_session_token(console: Console) -> None:
    browser = console.sign_in("nurse")
    token = browser.cookies.get("dripsms_session")
    with console.runtime.engine.connect() as connection:
        ids = connection.execute(select(console_sessions.c.id)).scalars().all()
    assert ids and token not in ids


def test_sessions_end_after_idling_and_after_their_lifetime(console: Console) -> None:
    browser = console.sign_in("nurse")
    console.clock.advance(timedelta(minutes=29))
    assert (
        browser.get(console.url + "/console/", allow_redirects=False, timeout=10).status_code == 200
    )
    console.clock.advance(timedelta(minutes=31))  # idle for more than 30 minutes
    assert (
        browser.get(console.url + "/console/", allow_redirects=False, timeout=10).status_code == 303
    )

    busy = console.sign_in("nurse")
    for _ in range(12 * 3):  # used every 20 minutes, for 12 hours
        console.clock.advance(timedelta(minutes=20))
        answer = busy.get(console.url + "/console/", allow_redirects=False, timeout=10)
    assert answer.status_code == 303


def test_a_disabled_operator_is_signed_out_at_once(console: Console) -> None:
    from dripsms.store import operators

    browser = console.sign_in("nurse", email="bo@clinic.example")
    with console.runtime.engine.begin() as connection:
        operators.disable(connection, "bo@clinic.example", console.clock())
    assert (
        browser.get(console.url + "/console/", allow_redirects=False, timeout=10).status_code == 303
    )
    assert console.login(console.browser(), "bo@clinic.example").status_code == 401


def test_the_sign_in_page_sends_nobody_elsewhere(console: Console) -> None:
    console.add_operator("ada@clinic.example")
    browser = console.browser()
    page = browser.get(console.url + "/console/login?next=https://evil.example/", timeout=10)
    assert "https://evil.example" not in page.text
    form = {"email": "ada@clinic.example", "password": "correct horse battery",
            "csrf_token": CSRF.search(page.text).group(1), "next": "//evil.example/x"}  # type: ignore[union-attr]  # fmt: skip
    answer = browser.post(
        console.url + "/console/login", data=form, allow_redirects=False, timeout=10
    )
    assert answer.headers["location"] == "/console/"


def test_console_pages_are_not_cached_and_run_no_foreign_script(console: Console) -> None:
    browser = console.sign_in("nurse")
    page = browser.get(console.url + "/console/", timeout=10)
    assert page.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    css = browser.get(console.url + "/console/static/console.css", timeout=10)
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


def test_an_unknown_console_page_is_a_page_not_json(console: Console) -> None:
    browser = console.sign_in("nurse")
    answer = browser.get(console.url + "/console/no-such-page", timeout=10)
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
