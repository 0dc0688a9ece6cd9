"""A hospital's outbound proxy: the provider goes through ``HTTPS_PROXY``/``HTTP_PROXY``
and around it for ``NO_PROXY`` hosts, as ``requests`` does, though it reads the
environment once per host rather than on every call (a fifth of a worker's CPU)."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from dripsms.provider.twilio import TwilioProvider
from dripsms.sandbox import (
    SANDBOX_ACCOUNT_SID,
    SANDBOX_MESSAGING_SERVICE_SID,
    Sandbox,
    SandboxServer,
    new_auth_token,
)

TO = "+14155550100"


class _Proxy(ThreadingHTTPServer):
    """A forward proxy for plain http: records each request line, then forwards it."""

    seen: list[str]


class _Forward(BaseHTTPRequestHandler):
    server: _Proxy

    def _forward(self) -> None:
        self.server.seen.append(f"{self.command} {self.path}")
        target = urlsplit(self.path)  # a proxy is sent the absolute URL
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        upstream = http.client.HTTPConnection(target.netloc, timeout=10)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "proxy-connection"}
        path = target.path + (f"?{target.query}" if target.query else "")
        upstream.request(self.command, path, body=body, headers=headers)
        answer = upstream.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        upstream.close()

    do_GET = do_POST = _forward

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[_Proxy]:
    server = _Proxy(("127.0.0.1", 0), _Forward)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _create_twice(monkeypatch: pytest.MonkeyPatch, proxy: _Proxy, no_proxy: str) -> list[str]:
    for name in ("http_proxy", "https_proxy", "no_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
    if no_proxy:
        monkeypatch.setenv("NO_PROXY", no_proxy)
    token = new_auth_token()
    with SandboxServer(Sandbox(auth_token=token, seed=0)) as sandbox:
        provider = TwilioProvider(
            account_sid=SANDBOX_ACCOUNT_SID, auth_token=token, api_base=sandbox.base_url
        )
        for body in ("first", "second"):  # the second from the settings read for the first
            provider.create(
                to=TO, body=body, messaging_service_sid=SANDBOX_MESSAGING_SERVICE_SID,
                send_at=None, status_callback=None,
            )  # fmt: skip
    return proxy.seen


def test_creates_go_through_the_proxy_the_environment_names(
    monkeypatch: pytest.MonkeyPatch, proxy: _Proxy
) -> None:
    seen = _create_twice(monkeypatch, proxy, no_proxy="")
    assert len(seen) == 2
    assert all(line.startswith("POST http://127.0.0.1:") for line in seen)
    assert all(line.endswith("/Messages.json") for line in seen)


def test_a_host_in_no_proxy_is_reached_directly(
    monkeypatch: pytest.MonkeyPatch, proxy: _Proxy
) -> None:
    assert _create_twice(monkeypatch, proxy, no_proxy="127.0.0.1") == []
