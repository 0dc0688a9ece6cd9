"""The console of a `dripsms run` in sandbox mode, for tests over HTTP and in a browser: a
virtual clock, a sandbox posting signed webhooks to the served app and, when asked, the
dispatcher's loop in a thread (each clock move wakes it, as in `dripsms run`)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine

from dripsms.clock import VirtualClock
from dripsms.engine.sandbox_session import SandboxSession
from dripsms.engine.supervisor import DispatcherHealth, Supervisor
from dripsms.runtime import Runtime
from dripsms.sandbox import SANDBOX_MESSAGING_SERVICE_SID, Sandbox, SandboxServer, new_auth_token
from dripsms.settings import Settings
from dripsms.testing import free_port, serve_app
from dripsms.web.app import create_app
from tests.console.conftest import NOW, REPO, Console, RealClock


@contextmanager
def serve_sandboxed(
    engine: Engine, *, dispatching: bool = False
) -> Iterator[tuple[Console, SandboxSession]]:
    """A served console in sandbox mode and its session (clock, sandbox); with
    ``dispatching``, a dispatcher runs a pass on every clock move (and every second)."""
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    config = Settings(
        database_url=engine.url.render_as_string(hide_password=False),
        sequences_dir=REPO / "sequences", public_url=public,
    )  # fmt: skip
    token = new_auth_token()
    clock = VirtualClock(NOW, lambda: 0.0)
    with SandboxServer(Sandbox(now=NOW, auth_token=token)) as server:
        runtime = Runtime(config, clock, sandbox_url=server.base_url, sandbox_auth_token=token)
        session = SandboxSession(clock, server.sandbox, runtime.engine, "control")
        runtime.sandbox_session = session
        server.sandbox.set_inbound_url(SANDBOX_MESSAGING_SERVICE_SID, f"{public}/twilio/inbound")
        app = create_app(runtime)
        app.state.services.session_clock = RealClock(NOW)
        with serve_app(app, port=port) as url, _dispatcher(runtime, session, dispatching):
            console = Console(url, runtime, app.state.services, app.state.services.session_clock)
            yield console, session
            for browser in console.sessions:
                browser.close()
        runtime.engine.dispose()


@contextmanager
def _dispatcher(runtime: Runtime, session: SandboxSession, running: bool) -> Iterator[None]:
    """`dripsms run`'s dispatcher loop in a thread, woken by the clock's moves."""
    if not running:
        yield
        return
    dispatcher = runtime.dispatcher()
    stop = threading.Event()
    dispatcher.stopping = stop
    supervisor = Supervisor(
        dispatcher.tick, runtime.clock, DispatcherHealth(lambda: NOW), stop, 1.0,
        wake=session.wake,
    )  # fmt: skip
    thread = threading.Thread(target=supervisor.run, name="dispatcher", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        session.wake.set()  # the loop waits on it, not on stop
        thread.join(timeout=30)
        dispatcher.close()
