"""Helpers shared by the sandbox tests (a module, not conftest, so its name is unique)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from twilio.rest import Client

START = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
"""The sandbox clock at the start of every test."""

Connect = Callable[..., Client]
"""The ``connect`` fixture: builds SDK clients pointed at the sandbox."""


@dataclass(frozen=True)
class Received:
    """One request the receiver got: the full URL, its headers and form parameters."""

    url: str
    headers: dict[str, str]
    params: dict[str, str]


class Receiver:
    """A tiny status-callback endpoint on 127.0.0.1, queuing what it receives."""

    def __init__(self) -> None:
        self.received: queue.Queue[Received] = queue.Queue()
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                params = dict(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
                host, port = self.server.server_address[:2]
                url = f"http://{host!s}:{port}{self.path}"
                received.put(Received(url, dict(self.headers.items()), params))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,))
        self._thread.start()

    def collect(self, count: int, timeout: float = 5.0) -> list[Received]:
        """The next ``count`` requests, waiting up to ``timeout`` seconds for each."""
        return [self.received.get(timeout=timeout) for _ in range(count)]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
