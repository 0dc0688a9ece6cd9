"""``/docs`` and ``/redoc`` work offline: every script, stylesheet and icon they load is
served by dripsms itself (from the installed ``fastapi-offline`` package), never a CDN."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest

from tests.web.conftest import Served

_CONTENT_TYPES = {
    ".js": "javascript",
    ".css": "text/css",
    ".png": "image/png",
    ".json": "application/json",
}


class _Refs(HTMLParser):
    """Every URL a page loads: src/href attributes and quoted URLs in inline scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_script = tag == "script"
        for name, value in attrs:
            if name in {"src", "href"} and value:
                self.urls.append(value)

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            # url: '/openapi.json', oauth2RedirectUrl: window.location.origin + '/docs/...'
            self.urls += re.findall(r"""['"]((?:https?:)?//[^'"]+|/[^'"\s]*)['"]""", data)


def _references(html: str) -> list[str]:
    parser = _Refs()
    parser.feed(html)
    return parser.urls


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_api_docs_load_nothing_from_another_host(app: Served, page: str) -> None:
    answer = app.session.get(app.url + page, timeout=10)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    refs = _references(answer.text)
    assert refs, "the page references its assets"
    external = [r for r in refs if urlsplit(urljoin(app.url + page, r)).netloc
                != urlsplit(app.url).netloc]  # fmt: skip
    assert external == [], f"{page} loads from another host: {external}"
    assert "cdn" not in answer.text.lower()
    assets = {urljoin(app.url + page, r) for r in refs}
    for url in assets:
        got = app.session.get(url, timeout=10)
        assert got.status_code == 200, url
        suffix = "." + urlsplit(url).path.rsplit(".", 1)[-1]
        if suffix in _CONTENT_TYPES:
            assert _CONTENT_TYPES[suffix] in got.headers["content-type"], (url, got.headers)
        if suffix == ".js":
            assert len(got.content) > 100_000, f"{url} is the real bundle"


def test_swagger_ui_is_given_the_schema_with_the_api_security_schemes(app: Served) -> None:
    page = app.session.get(app.url + "/docs", timeout=10).text
    assert "SwaggerUIBundle" in page and "/openapi.json" in page
    assert "/docs/assets/swagger-ui-bundle.js" in page
    assert "/docs/assets/swagger-ui.css" in page
    schema = app.session.get(app.url + "/openapi.json", timeout=10).json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes, "the API declares how to authenticate (Swagger UI's Authorize button)"
    protected = schema["paths"]["/v1/enrollments"]["post"]
    assert protected.get("security"), "Authorize applies to /v1"
    # The OAuth2 redirect page Swagger UI's Authorize dialog returns to is served too.
    redirect = app.session.get(app.url + "/docs/oauth2-redirect", timeout=10)
    assert redirect.status_code == 200


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (.ci/run installs it)")
@pytest.mark.parametrize(
    ("page", "rendered"),
    [
        # Swagger UI drew the operations and the Authorize button (the security schemes).
        ("/docs", ['class="btn authorize', 'opblock-summary-method">POST', "/v1/enrollments"]),
        ("/redoc", ["api-content", "Enroll a contact"]),
    ],
)
def test_the_docs_render_in_a_browser_that_reaches_no_other_host(
    app: Served, page: str, rendered: list[str]
) -> None:
    assert CHROMIUM is not None
    done = subprocess.run(
        [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
            # every host but this one fails to resolve: a CDN script could not load
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--virtual-time-budget=15000", "--dump-dom", app.url + page,
        ],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    for mark in rendered:
        assert mark in done.stdout, f"{page} did not render {mark!r}"
