"""Helpers for testing code that uses dripsms: sequences from dicts, a frozen clock, a
world where dripsms and the sandbox share one clock that the test moves, and
:class:`FakeProvider`, the provider port in memory (no HTTP) with scripted failures."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from dripsms.clock import Clock, fixed_clock, parse_instant
from dripsms.core.sequence.loader import LoadedSequence, parse_sequence
from dripsms.core.sequence.model import Sequence
from dripsms.provider.base import (
    Handoff,
    ProviderError,
    ProviderMessage,
    http_error,
    no_answer_error,
)

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


# -- an in-process provider ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scripted:
    """How one call of a :class:`FakeProvider` goes wrong (see :meth:`FakeProvider.script`).

    ``status`` is the HTTP status answered, or None for no answer at all (a timeout);
    ``carried_out``: the call takes effect before it fails (a create creates), as after a
    500 or a timeout that comes once the request was processed.
    """

    status: int | None
    code: int | None = None
    message: str = ""
    carried_out: bool = False
    retry_after: float | None = None

    @classmethod
    def server_error(cls, *, after: bool = False) -> Scripted:
        """HTTP 500 (20500), before the call is processed or ``after`` it."""
        return cls(500, 20500, "Internal server error", carried_out=after)

    @classmethod
    def rate_limited(cls, retry_after: float = 1.0) -> Scripted:
        """HTTP 429 (20429) with ``Retry-After``; the call is not processed."""
        return cls(429, 20429, "Too Many Requests", retry_after=retry_after)

    @classmethod
    def timeout_after(cls) -> Scripted:
        """The call is processed, then no answer comes back (the client gives up)."""
        return cls(None, carried_out=True)

    @classmethod
    def twilio(cls, code: int, status: int = 400, message: str = "") -> Scripted:
        """A Twilio error answer: 21610 (opted out), 21614 (not a mobile), 30409, 20404…"""
        return cls(status, code, message or f"error {code}")

    def error(self, *, creates: bool) -> ProviderError:
        """The error the SDK path raises for this answer (the same mapping, not a copy)."""
        if self.status is None:
            return no_answer_error("ReadTimeout", creates=creates)
        return http_error(
            self.status, self.code, self.message, creates=creates, retry_after=self.retry_after
        )


@dataclass(frozen=True, slots=True)
class ProviderCall:
    """One call a :class:`FakeProvider` received."""

    method: str
    args: dict[str, Any]


_OPTED_OUT = Scripted.twilio(21610, message="Attempt to send to an unsubscribed recipient")


class FakeProvider:
    """The provider port in memory: records calls, answers like Twilio, fails as scripted.

    No HTTP: for unit tests of the engine's decisions. Creates are ``scheduled`` with a
    ``send_at`` and ``accepted`` without; a scheduled message cancels to ``canceled``, any
    other answers 30409; an unknown SID answers 404 (20404); a create to a number in
    :attr:`opted_out` answers 21610. :meth:`script` queues failures per call kind.
    """

    def __init__(self, now: Callable[[], datetime] | None = None) -> None:
        import threading

        self.now = now or (lambda: datetime(2026, 1, 1, tzinfo=UTC))
        self.calls: list[ProviderCall] = []
        self.messages: dict[str, ProviderMessage] = {}
        """Outbound messages by SID, in the order they were created."""
        self.send_at: dict[str, datetime | None] = {}
        self.inbound: list[ProviderMessage] = []
        self.opted_out: set[str] = set()
        self._script: dict[str, list[Scripted]] = {}
        self._lock = threading.Lock()  # the dispatcher calls from a pool of threads

    def script(self, method: str, *outcomes: Scripted) -> None:
        """The next calls of ``method`` (create, cancel, fetch, recent, received) fail so."""
        if method not in {"create", "cancel", "fetch", "recent", "received"}:
            raise ValueError(f"no provider call named {method!r}")
        with self._lock:
            self._script.setdefault(method, []).extend(outcomes)

    def calls_of(self, method: str) -> list[ProviderCall]:
        """The calls of one kind, in order."""
        return [c for c in self.calls if c.method == method]

    @property
    def creates(self) -> int:
        """How many messages were created (a create that failed before it was carried out
        created none)."""
        return len(self.messages)

    def _begin(self, method: str, **args: Any) -> Scripted | None:
        self.calls.append(ProviderCall(method, args))
        queued = self._script.get(method)
        outcome = queued.pop(0) if queued else None
        if outcome is not None and not outcome.carried_out:
            raise outcome.error(creates=method == "create")
        return outcome

    def create(
        self,
        *,
        to: str,
        body: str,
        messaging_service_sid: str,
        send_at: datetime | None,
        status_callback: str | None,
    ) -> Handoff:
        """Create a message (see the class)."""
        with self._lock:
            outcome = self._begin(
                "create", to=to, body=body, messaging_service_sid=messaging_service_sid,
                send_at=send_at, status_callback=status_callback,
            )  # fmt: skip
            if to in self.opted_out:
                raise _OPTED_OUT.error(creates=True)
            sid = f"SM{len(self.messages) + 1:032x}"
            status = "scheduled" if send_at is not None else "accepted"
            self.messages[sid] = ProviderMessage(
                sid=sid, to=to, body=body, status=status,
                messaging_service_sid=messaging_service_sid, date_created=self.now(),
            )  # fmt: skip
            self.send_at[sid] = send_at
            if outcome is not None:
                raise outcome.error(creates=True)
            return Handoff(sid=sid, status=status)

    def cancel(self, sid: str) -> str:
        """Cancel a scheduled message; 30409 for any other."""
        with self._lock:
            outcome = self._begin("cancel", sid=sid)
            message = self._message(sid)
            if message.status != "scheduled":
                raise Scripted.twilio(30409, message="This message cannot be canceled").error(
                    creates=False
                )
            self.messages[sid] = replace(message, status="canceled")
            if outcome is not None:
                raise outcome.error(creates=False)
            return "canceled"

    def fetch(self, sid: str) -> ProviderMessage:
        """One message by SID; 404 (20404) when there is none."""
        with self._lock:
            outcome = self._begin("fetch", sid=sid)
            message = self._message(sid)
            if outcome is not None:
                raise outcome.error(creates=False)
            return message

    def recent(self, *, to: str, limit: int = 50) -> list[ProviderMessage]:
        """The newest messages to ``to``, newest first."""
        with self._lock:
            outcome = self._begin("recent", to=to, limit=limit)
            if outcome is not None:
                raise outcome.error(creates=False)
            return [m for m in reversed(self.messages.values()) if m.to == to][:limit]

    def received(self, *, to: str, since: datetime) -> list[ProviderMessage]:
        """Inbound messages to ``to`` since the day of ``since``."""
        with self._lock:
            outcome = self._begin("received", to=to, since=since)
            if outcome is not None:
                raise outcome.error(creates=False)
            day = since.replace(hour=0, minute=0, second=0, microsecond=0)
            return [
                m
                for m in self.inbound
                if m.to == to and m.date_sent is not None and m.date_sent >= day
            ]

    def set_status(self, sid: str, status: str, error_code: int | None = None) -> None:
        """Move a message on, as Twilio does (``sent``, ``delivered``, ``failed``…)."""
        with self._lock:
            message = self._message(sid)
            self.messages[sid] = replace(message, status=status, error_code=error_code)

    def receive(self, *, from_: str, to: str, body: str, at: datetime | None = None) -> str:
        """An inbound text from ``from_`` to our number ``to``; answers its SID."""
        with self._lock:
            sid = f"SM{len(self.messages) + len(self.inbound) + 1:032x}"
            at = at or self.now()
            self.inbound.append(
                ProviderMessage(
                    sid=sid, to=to, body=body, status="received", messaging_service_sid=None,
                    date_created=at, from_=from_, date_sent=at,
                )
            )  # fmt: skip
            return sid

    def _message(self, sid: str) -> ProviderMessage:
        message = self.messages.get(sid)
        if message is None:
            raise Scripted.twilio(20404, 404, f"No Message with SID {sid}").error(creates=False)
        return message
