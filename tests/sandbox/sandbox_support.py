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


@dataclass(frozen=True)
class Answer:
    """How the receiver answers one request.

    ``hold`` makes it wait for that event first; ``before`` runs first (say, an API call
    the application makes while handling the webhook).
    """

    status: int = 204
    body: str = ""
    content_type: str = "text/xml"
    hold: threading.Event | None = None
    before: Callable[[], object] | None = None


def twiml(*messages: str) -> Answer:
    """A 200 TwiML answer with a ``<Message>`` per text (none: ``<Response/>``)."""
    verbs = "".join(f"<Message>{text}</Message>" for text in messages)
    document = f'<?xml version="1.0" encoding="UTF-8"?><Response>{verbs}</Response>'
    return Answer(200, document if messages else "<Response/>")


class Receiver:
    """A tiny webhook endpoint on 127.0.0.1, queuing what it receives.

    It answers each request with the next queued :class:`Answer` (``answer()``), by default
    ``204 No Content``.
    """

    def __init__(self) -> None:
        self.received: queue.Queue[Received] = queue.Queue()
        self._answers: queue.Queue[Answer] = queue.Queue()
        received, answers = self.received, self._answers

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                params = dict(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
                host, port = self.server.server_address[:2]
                url = f"http://{host!s}:{port}{self.path}"
                received.put(Received(url, dict(self.headers.items()), params))
                try:
                    answer = answers.get_nowait()
                except queue.Empty:
                    answer = Answer()
                if answer.before is not None:
                    answer.before()
                if answer.hold is not None:
                    answer.hold.wait(10)
                payload = answer.body.encode()
                try:
                    self.send_response(answer.status)
                    if payload:
                        self.send_header("Content-Type", answer.content_type)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the sandbox stopped waiting for this answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,))
        self._thread.start()

    def answer(self, *answers: Answer) -> None:
        """Answer the next requests with ``answers``, in order."""
        for answer in answers:
            self._answers.put(answer)

    def collect(self, count: int, timeout: float = 5.0) -> list[Received]:
        """The next ``count`` requests, waiting up to ``timeout`` seconds for each."""
        return [self.received.get(timeout=timeout) for _ in range(count)]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
