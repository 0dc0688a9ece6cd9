"""Helpers for testing code that uses dripsms: sequences from dicts, a frozen clock, and a
world where dripsms and the sandbox share one clock that the test moves."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from dripsms.clock import Clock, fixed_clock, parse_instant
from dripsms.core.sequence.loader import LoadedSequence, parse_sequence
from dripsms.core.sequence.model import Sequence

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from dripsms.engine.outcomes import TickReport
    from dripsms.runtime import Runtime
    from dripsms.sandbox import Sandbox

ALWAYS_OPEN = {"start": "00:00", "end": "24:00"}
"""A send window with no quiet hours."""


def sequence_data(steps: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    """A minimal sequence as data: key ``test``, the given steps, any other fields."""
    return {"key": "test", "name": "Test", "steps": steps, **fields}


def make_sequence(steps: list[dict[str, Any]], **fields: Any) -> Sequence:
    """A fully checked :class:`Sequence` from data (through the same loader as files)."""
    return load_data(sequence_data(steps, **fields)).sequence


def load_data(data: dict[str, Any]) -> LoadedSequence:
    """Dump ``data`` to YAML and load it, so tests exercise the file path."""
    return parse_sequence(yaml.safe_dump(data, sort_keys=False), "test.yaml")


def frozen_clock(instant: str | datetime) -> Clock:
    """A clock stopped at ``instant`` (an aware datetime or ISO 8601 text)."""
    if isinstance(instant, str):
        instant = parse_instant(instant)
    return fixed_clock(instant)


@dataclass
class SandboxWorld:
    """dripsms and the sandbox sharing one clock that the test moves."""

    sandbox: Sandbox
    runtime: Runtime
    now: datetime
    reports: list[TickReport] = field(default_factory=list)

    @property
    def engine(self) -> Engine:
        """The database."""
        return self.runtime.engine

    def at(self, instant: datetime) -> None:
        """Set both clocks."""
        self.now = instant
        self.sandbox.set_now(instant)

    def tick(self) -> TickReport:
        """One dispatcher pass at the current time."""
        dispatcher = self.runtime.dispatcher()
        try:
            report = dispatcher.tick(self.now)
        finally:
            dispatcher.close()
        self.reports.append(report)
        return report

    def walk(self, until: datetime, step: timedelta) -> None:
        """Tick, then move both clocks on, until ``until``."""
        while self.now <= until:
            self.tick()
            self.at(self.now + step)


@contextmanager
def sandbox_world(
    database_url: str, sequences: Path, start: datetime, **settings: Any
) -> Iterator[SandboxWorld]:
    """A :class:`SandboxWorld` at ``start`` on a migrated database, as a context manager."""
    from dripsms.runtime import Runtime
    from dripsms.sandbox import Sandbox, SandboxServer, new_auth_token
    from dripsms.settings import Settings

    # A fresh token, as ``dripsms run`` gives its sandbox: webhooks signed with it are
    # accepted; dripsms refuses the published one.
    token = new_auth_token()
    sandbox = Sandbox(auth_token=token, seed=0)
    sandbox.set_now(start)
    with SandboxServer(sandbox) as server:
        config = Settings(database_url=database_url, sequences_dir=sequences, **settings)
        worlds: list[SandboxWorld] = []
        # The server's clock (webhooks, API) is the world's: it moves with ``at``.
        runtime = Runtime(
            config, lambda: worlds[0].now if worlds else start,
            sandbox_url=server.base_url, sandbox_auth_token=token,
        )  # fmt: skip
        worlds.append(SandboxWorld(sandbox, runtime, start))
        try:
            yield worlds[0]
        finally:
            runtime.engine.dispose()


@contextmanager
def serve_app(app: Any, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve an ASGI app with uvicorn in a thread (``port=0``: a free one); yields its URL."""
    import threading
    import time

    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="dripsms-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (to give a server its public URL in advance)."""
    import socket

    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])
