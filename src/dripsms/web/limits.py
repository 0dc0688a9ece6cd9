"""Bounded before read: every request body is refused past its route's limit, and a JSON
body past a nesting depth, before anything parses it or checks its signature.

A pure ASGI middleware, so nothing is buffered on the way: a ``Content-Length`` over the
limit is answered 413 at once, without reading a byte of the body; a body without one
(chunked) or longer than it said is counted as the app reads it, and the read that passes
the limit raises a 413 instead of handing the bytes on. The server then closes the
connection, so what the client still sends is never read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

WEBHOOK_BODY_BYTES = 64 * 1024
"""Twilio's webhook bodies are a few KiB (a message body is at most 1,600 characters)."""
MAX_JSON_DEPTH = 32
"""How deep a JSON body may nest; an enrollment needs 2."""

_JSON_TOKENS = re.compile(rb'["\\\[\]{}]')
_OPEN = frozenset(b"[{")
_CLOSE = frozenset(b"]}")
_CLOSE_CONNECTION = {"Connection": "close"}


class BodyRefused(HTTPException):
    """A body over its limit (413) or nested too deep (400), in the usual error shape."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(status_code, detail, headers=_CLOSE_CONNECTION)


def too_large(limit: int) -> BodyRefused:
    """The 413 for a body over ``limit`` bytes."""
    return BodyRefused(413, f"the body is larger than {limit} bytes")


@dataclass(frozen=True, slots=True)
class RouteLimit:
    """The largest body accepted under a path prefix."""

    prefix: str
    max_bytes: int


@dataclass(slots=True)
class JsonDepth:
    """Tracks the nesting depth of a JSON text fed in chunks, strings and escapes aside."""

    limit: int
    depth: int = 0
    in_string: bool = False
    skip: int = 0  # how many bytes at the start of the next chunk an escape covers

    def feed(self, chunk: bytes) -> None:
        """Scan one chunk; raise :class:`BodyRefused` once the depth passes the limit."""
        skip_before = self.skip
        for match in _JSON_TOKENS.finditer(chunk):
            at = match.start()
            if at < skip_before:
                continue
            byte = chunk[at]
            if self.in_string:
                if byte == 0x5C:  # backslash: the next byte is escaped
                    skip_before = at + 2
                elif byte == 0x22:
                    self.in_string = False
            elif byte == 0x22:
                self.in_string = True
            elif byte in _OPEN:
                self.depth += 1
                if self.depth > self.limit:
                    raise BodyRefused(400, f"the JSON body nests deeper than {self.limit} levels")
            elif byte in _CLOSE:
                self.depth -= 1
        self.skip = max(0, skip_before - len(chunk))


class BodyLimits:
    """ASGI middleware: per-route body limits and a JSON depth limit, enforced while reading."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: Sequence[RouteLimit],
        default_bytes: int,
        max_json_depth: int = MAX_JSON_DEPTH,
    ) -> None:
        self.app = app
        self.routes = sorted(routes, key=lambda r: len(r.prefix), reverse=True)
        self.default_bytes = default_bytes
        self.max_json_depth = max_json_depth

    def limit_for(self, path: str) -> int:
        """The body limit of a path: the longest matching prefix's, else the default."""
        for route in self.routes:
            if path.startswith(route.prefix):
                return route.max_bytes
        return self.default_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _answer(send, too_large(limit) if declared.isdigit() else _bad_length())
            return
        kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        json_like = kind == b"application/json" or kind.endswith(b"+json")
        depth = JsonDepth(self.max_json_depth) if json_like else None
        await self.app(scope, _counted(receive, limit, depth), send)


def _counted(receive: Receive, limit: int, depth: JsonDepth | None) -> Receive:
    read = 0

    async def counted() -> Message:
        nonlocal read
        message = await receive()
        if message["type"] == "http.request":
            chunk: bytes = message.get("body", b"")
            read += len(chunk)
            if read > limit:
                raise too_large(limit)
            if depth is not None:
                depth.feed(chunk)
        return message

    return counted


def _bad_length() -> BodyRefused:
    return BodyRefused(400, "Content-Length must be a whole number of bytes")


async def _answer(send: Send, refused: BodyRefused) -> None:
    body = json.dumps({"error": {"field": None, "message": refused.detail}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": refused.status_code,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
