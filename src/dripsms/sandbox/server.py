"""Running the sandbox: in a background thread for tests, or blocking for ``dripsms sandbox``."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from dripsms.clock import Clock
from dripsms.sandbox.app import create_app
from dripsms.sandbox.faults import ABORT_EXTENSION
from dripsms.sandbox.ids import DEFAULT_PORT
from dripsms.sandbox.state import Sandbox
from dripsms.sockets import listening_socket

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0


class _AbortableH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, offering the app a way to reset the connection (a fault).

    ASGI gives an app no handle on its connection, and uvicorn answers 500 when an app
    fails before responding; so the server hands the app an ``abort`` as a scope extension.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # uvicorn's access logger is process-wide: beside `dripsms run`'s own server the
        # sandbox would log every API call dripsms makes to it. The sandbox logs none.
        self.access_log = False
        app = self.app

        def reset() -> None:
            # Linger 0 turns the close into a TCP reset, as a crashed peer or proxy sends.
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()

        async def with_abort(scope: Any, receive: Any, send: Any) -> None:
            scope["extensions"] = {
                **(scope.get("extensions") or {}),
                ABORT_EXTENSION: {"abort": reset},
            }
            await app(scope, receive, send)

        self.app = with_abort


def _config(sandbox: Sandbox) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(sandbox),
        http=_AbortableH11Protocol,
        ws="none",
        lifespan="off",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=2,
        # Keep-alive longer than a dispatcher's poll interval, as Twilio's edge does: a
        # pooled connection closed under a client's feet is a failure the sandbox would
        # otherwise inject at random.
        timeout_keep_alive=75,
    )


def _listen(host: str, port: int) -> socket.socket:
    return listening_socket(host, port, backlog=128)


def _base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class _RealTimeTicker:
    """Moves the sandbox clock with the machine's clock, so a demo's scheduled texts go out."""

    def __init__(
        self, sandbox: Sandbox, every: float = TICK_SECONDS, follow: Clock | None = None
    ) -> None:
        self._sandbox = sandbox
        self._every = every
        self._follow = follow
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dripsms-sandbox-clock", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(self._every):
            if self._follow is not None:  # another clock (dripsms run's virtual clock) leads
                self._sandbox.advance_to(self._follow())
                continue
            now = time.monotonic()
            self._sandbox.advance(now - last)
            last = now


class SandboxServer:
    """The sandbox over real HTTP on a background thread; ``start()`` returns its base URL.

    ``port=0`` picks a free port. With ``follow_real_time`` the sandbox clock advances with
    the machine's (each second); with ``follow`` it keeps up with that clock (each second,
    forward only: ``dripsms run``'s virtual clock); by default it moves only when told.
    """

    def __init__(
        self,
        sandbox: Sandbox | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        follow_real_time: bool = False,
        follow: Clock | None = None,
    ) -> None:
        self.sandbox = sandbox or Sandbox()
        self._host, self._port = host, port
        self._ticker = (
            _RealTimeTicker(self.sandbox, follow=follow)
            if follow_real_time or follow is not None
            else None
        )
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._base_url = ""

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``: what to set as the Twilio client's ``api.base_url``."""
        if not self._base_url:
            raise RuntimeError("the sandbox server is not running; call start()")
        return self._base_url

    def start(self, timeout: float = 10.0) -> str:
        """Start serving (returns once it accepts connections) and return the base URL."""
        if self._server is not None:
            return self.base_url
        sock = _listen(self._host, self._port)
        server = uvicorn.Server(_config(self.sandbox))
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="dripsms-sandbox", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                thread.join(timeout)
                sock.close()
                raise RuntimeError("the sandbox server did not start")
            time.sleep(0.005)
        self._server, self._thread, self._base_url = server, thread, _base_url(sock)
        if self._ticker is not None:
            self._ticker.start()
        return self._base_url

    def stop(self) -> None:
        """Stop serving, deliver the pending status callbacks, and stop their worker."""
        if self._ticker is not None:
            self._ticker.stop()
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join()
        self._server = self._thread = None
        self._base_url = ""
        self.sandbox.close()

    def __enter__(self) -> SandboxServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def serve(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    sandbox: Sandbox | None = None,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve a sandbox until interrupted (Ctrl-C), its clock following real time.

    ``ready`` is called with the base URL once the socket listens (connections made before
    the server runs wait in the backlog).
    """
    sandbox = sandbox or Sandbox()
    sock = _listen(host, port)
    server = uvicorn.Server(_config(sandbox))
    ticker = _RealTimeTicker(sandbox)
    ticker.start()
    if ready is not None:
        ready(_base_url(sock))
    try:
        server.run(sockets=[sock])
    finally:
        ticker.stop()
        sandbox.close()
