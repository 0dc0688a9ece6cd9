"""Commands that run the engine: db upgrade, enroll, import, unenroll, tick, worker, run,
timeline, stats."""

from __future__ import annotations

import logging
import os
import random
import signal
import socket
import threading
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dripsms.cli import common, render
from dripsms.cli.common import JSON, SET
from dripsms.errors import DripError
from dripsms.sockets import listening_socket

if TYPE_CHECKING:
    from datetime import datetime

    import uvicorn

    from dripsms.engine.outcomes import TickReport
    from dripsms.engine.supervisor import DispatcherHealth
    from dripsms.runtime import Runtime
    from dripsms.settings import Settings

log = logging.getLogger("dripsms.worker")


def db_upgrade() -> None:
    """Create or migrate the database to the newest schema (DRIPSMS_DATABASE_URL)."""
    from dripsms.store.database import current_revision, head_revision, upgrade

    runtime = common.runtime(ready=False)
    before = current_revision(runtime.engine)
    upgrade(runtime.engine)
    render.migrated(before, head_revision())


def enroll(
    sequence: Annotated[str, typer.Argument(help="The sequence's key.")],
    phone: Annotated[str, typer.Option(help="The contact's phone (E.164 or national form).")],
    tz: Annotated[str | None, typer.Option("--tz", help="The contact's IANA time zone.")] = None,
    set_: SET = None,
    anchor: Annotated[
        str | None, typer.Option(help="The anchor (e.g. the surgery date, YYYY-MM-DD).")
    ] = None,
    external_id: Annotated[
        str | None, typer.Option(help="Your id for this enrollment (a second surgery: a new id).")
    ] = None,
    catch_up: Annotated[
        bool | None,
        typer.Option(
            "--catch-up/--no-catch-up",
            help="Send the most recent step already past its latest send time now, instead "
            "of recording it missed (default: the sequence's catch_up).",
        ),
    ] = None,
    as_json: JSON = False,
) -> None:
    """Enroll one contact in a sequence and plan every message; say which steps are missed."""
    from dripsms.core.planning import EnrollmentRequest

    runtime = common.runtime()
    request = EnrollmentRequest(
        sequence=sequence, phone=phone, timezone=tz,
        attributes=common.pairs(set_ or [], "--set"), anchor=anchor, external_id=external_id,
        catch_up=catch_up,
    )  # fmt: skip
    enrolled = runtime.enroller.enroll(request, now=runtime.clock())
    render.enrolled(enrolled, as_json=as_json)


def import_(
    sequence: Annotated[str, typer.Argument(help="The sequence's key.")],
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV: a 'phone' column, optional 'timezone', "
            "'anchor', 'external_id', and attribute columns."
        ),
    ],
    all_or_nothing: Annotated[
        bool,
        typer.Option("--all-or-nothing", help="Write nothing at all if any row is refused."),
    ] = False,
    catch_up: Annotated[
        bool | None,
        typer.Option(
            "--catch-up/--no-catch-up",
            help="For each row, send the most recent step already past its latest send "
            "time now instead of recording it missed (default: the sequence's catch_up).",
        ),
    ] = None,
    as_json: JSON = False,
) -> None:
    """Check a whole CSV file, then enroll its valid rows; report each bad row by line."""
    from dripsms.engine.importing import import_csv

    runtime = common.runtime()
    with render.progress(enabled=not as_json) as advance:
        report = import_csv(
            runtime.enroller, sequence, file, now=runtime.clock(), catch_up=catch_up,
            all_or_nothing=all_or_nothing, progress=advance,
        )  # fmt: skip
    render.imported(report, as_json=as_json)
    if report.refused:
        raise typer.Exit(1)


def unenroll(
    enrollment_id: Annotated[int | None, typer.Argument(help="The enrollment's id.")] = None,
    phone: Annotated[
        str | None, typer.Option(help="Every active enrollment of this phone.")
    ] = None,
    sequence: Annotated[str | None, typer.Option(help="With --phone: only this sequence.")] = None,
    as_json: JSON = False,
) -> None:
    """End enrollments: cancel what is not sent yet, at Twilio too (on the next tick)."""
    from dripsms.engine.stopping import unenroll as end

    if (enrollment_id is None) == (phone is None):
        raise DripError("give an ENROLLMENT_ID or --phone, not both")
    runtime = common.runtime()
    ended = end(
        runtime.engine, now=runtime.clock(), enrollment_id=enrollment_id, phone=phone,
        sequence=sequence, default_region=runtime.settings.default_region,
    )  # fmt: skip
    render.unenrolled(ended, as_json=as_json)


def tick(as_json: JSON = False) -> None:
    """One dispatcher pass: hand off what is due, retry, reconcile, cancel; then exit."""
    import socket

    from sqlalchemy.exc import SQLAlchemyError

    from dripsms.store import heartbeats

    runtime = common.runtime()
    dispatcher = runtime.dispatcher()
    try:
        report = dispatcher.tick(runtime.clock())
    finally:
        dispatcher.close()
    try:  # one row per host, so that `dripsms serve` sees cron's passes too
        heartbeats.record(
            runtime.engine, f"tick@{socket.gethostname()}", {"last_error": None},
            now=runtime.clock(),
        )  # fmt: skip
    except SQLAlchemyError as error:
        log.warning("heartbeat not written", extra={"action": "heartbeat_failed",
                                                    "error": type(error).__name__})  # fmt: skip
    render.tick_report(report, as_json=as_json)


def _loop(
    runtime: Runtime,
    stop: threading.Event,
    health: DispatcherHealth,
    wake: threading.Event | None = None,
) -> None:
    """Dispatcher passes until ``stop``; a pass that raises is logged, counted, retried.
    ``wake`` (the virtual clock moved) runs the next pass at once."""
    from dripsms.engine.supervisor import Supervisor
    from dripsms.store import heartbeats

    dispatcher = runtime.dispatcher()
    dispatcher.stopping = stop  # a signal mid-pass stops it claiming further batches
    dispatcher.progress = health.passed  # a long pass that finishes batches is alive

    def beat() -> None:  # so that `dripsms serve` can tell how the workers are doing
        snapshot = health.snapshot()
        details = {"last_error": snapshot.last_error, "last_error_at": snapshot.last_error_at,
                   "failed_passes": sum(snapshot.errors.values())}  # fmt: skip
        heartbeats.record(runtime.engine, dispatcher.config.owner, details, now=runtime.clock())
        if runtime.sandbox_session is not None:  # a restart resumes the virtual clock here
            runtime.sandbox_session.save()

    tick: Callable[[datetime], TickReport] = dispatcher.tick
    if runtime.sandbox_session is not None:  # clock moves wait for this loop's passes
        tick = runtime.sandbox_session.dispatching(tick)
    supervisor = Supervisor(
        tick, runtime.clock, health, stop, runtime.settings.poll_interval,
        jitter=random.random, after_pass=beat, wake=wake,
        # A restarted server left the pool's connections dead: the next pass opens new ones.
        on_connection_lost=runtime.engine.dispose,
    )  # fmt: skip
    try:
        supervisor.run()
    finally:
        dispatcher.close()  # calls in flight finish before the process exits


def _serve_while_dispatching(
    server: uvicorn.Server,
    sock: socket.socket,
    dispatch: Callable[[], None],
    stop: threading.Event,
    wake: threading.Event | None = None,
    ready: threading.Event | None = None,
) -> bool:
    """Run ``server`` with ``dispatch`` in a thread; stop the server if the thread ends
    before ``stop`` is set. Returns whether the dispatcher died (the caller exits non-zero).
    ``wake``, which the dispatcher may be waiting on instead of ``stop``, is set with it.
    With ``ready``, the server serves only once it is set (the dispatcher's loop began) or
    the thread ended: requests wait in the socket's backlog meanwhile, and none sees a
    dispatcher that is only starting reported as not running."""
    died = threading.Event()

    def supervised() -> None:
        try:
            dispatch()
        except BaseException as error:  # reported below, then the process ends
            log.critical(
                "dispatcher crashed", exc_info=log.isEnabledFor(logging.DEBUG),
                extra={"action": "dispatcher_crashed", "error": type(error).__name__},
            )  # fmt: skip
        finally:
            if not stop.is_set():
                died.set()
                log.critical(
                    "the dispatcher stopped; stopping the server so it is restarted",
                    extra={"action": "dispatcher_died"},
                )
                server.should_exit = True

    thread = threading.Thread(target=supervised, name="dripsms-worker")
    thread.start()
    while ready is not None and not ready.wait(0.05) and thread.is_alive():
        pass
    try:
        if not died.is_set():
            server.run(sockets=[sock])
    finally:
        stop.set()  # the dispatcher finishes its calls in flight, then stops
        if wake is not None:
            wake.set()
        thread.join()
    return died.is_set()


def _listening(host: str, port: int) -> socket.socket:
    """The server's socket, bound before anything starts: a port in use is a clear error,
    not a dispatcher that ran for a moment beside a server that never listened."""
    try:
        return listening_socket(host, port, backlog=2048)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise DripError(
            f"--host/--port: cannot listen on {host}:{port}: {reason} "
            "(is another dripsms running? stop it or pass --port)"
        ) from None


def _server(app: object, host: str, port: int) -> uvicorn.Server:
    """Uvicorn logging through dripsms's handler (access lines without query strings)."""
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=True)  # type: ignore[arg-type]
    # A sandbox server in the process turns uvicorn's access logger off for everyone.
    logging.getLogger("uvicorn.access").propagate = True
    return uvicorn.Server(config)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(signum: int, _: object) -> None:
        render.stopping(signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def worker() -> None:
    """Run the dispatcher until SIGTERM or SIGINT (in-flight calls finish first)."""
    from dripsms.clock import system_clock
    from dripsms.engine.supervisor import DispatcherHealth

    runtime = common.runtime()
    render.starting("worker", runtime)
    _loop(runtime, _stop_on_signals(), DispatcherHealth(system_clock))


def run(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """The server and the dispatcher in one process; the built-in sandbox (with its phone
    simulator and a virtual clock that `dripsms clock` moves) when no Twilio credentials are
    set. Exits non-zero if the dispatcher stops."""
    from dripsms.clock import NOW_VARIABLE, system_clock
    from dripsms.engine.supervisor import DispatcherHealth
    from dripsms.engine.users import first_run
    from dripsms.runtime import Runtime
    from dripsms.web.app import create_app

    settings = common.settings()
    if not settings.uses_sandbox and os.environ.get(NOW_VARIABLE, "").strip():
        raise DripError(
            f"{NOW_VARIABLE}: with Twilio credentials `dripsms run` runs on the machine's "
            f"clock (Twilio's cannot be moved); unset {NOW_VARIABLE}, or unset the TWILIO_* "
            "credentials to run on the sandbox and its virtual clock"
        )
    sock = _listening(host, port)
    with ExitStack() as stack:
        stack.callback(sock.close)
        if settings.uses_sandbox:
            runtime = _sandbox_mode(stack, settings, sock.getsockname()[1], host)
        else:
            runtime = Runtime(settings, system_clock)
            runtime.ensure_ready()
            render.starting("run", runtime)
        render.listening(host, sock.getsockname()[1])
        first = first_run(runtime.engine, create=settings.uses_sandbox, now=system_clock())
        render.run_overview(runtime, host, sock.getsockname()[1], first)
        health = DispatcherHealth(system_clock)
        runtime.dispatcher_health = health  # /healthz reports this process's dispatcher
        # Uvicorn stops serving on SIGTERM/SIGINT, then raises the signal again: this
        # handler takes it, so the dispatcher finishes its calls in flight (exit status 0).
        stop = _stop_on_signals()
        wake = runtime.sandbox_session.wake if runtime.sandbox_session else None
        web = _server(create_app(runtime), host, port)
        died = _serve_while_dispatching(
            web, sock, lambda: _loop(runtime, stop, health, wake), stop, wake, health.ready
        )
    if died:
        render.error("the dispatcher stopped unexpectedly; exiting so the process is restarted")
        raise typer.Exit(3)


def _sandbox_mode(stack: ExitStack, settings: Settings, port: int, host: str) -> Runtime:
    """``run`` without Twilio credentials: the sandbox, one virtual clock for the engine, the
    server and the sandbox (resumed no earlier than a previous run saved it), the run file."""
    from dripsms import runfile
    from dripsms.clock import VirtualClock
    from dripsms.engine.sandbox_session import SandboxSession, start_position
    from dripsms.runtime import Runtime
    from dripsms.sandbox import (
        SANDBOX_MESSAGING_SERVICE_SID,
        Sandbox,
        SandboxServer,
        new_auth_token,
    )
    from dripsms.store.virtual_clock import saved

    asked = common.clock()()  # DRIPSMS_NOW, else the machine's time
    clock = VirtualClock(asked)
    # A fresh token and random SIDs each run: the published token forges nothing,
    # and a restart on an old database mints no SID it already holds.
    sandbox_token = new_auth_token()
    sandbox = Sandbox(auth_token=sandbox_token, now=asked)
    server = stack.enter_context(SandboxServer(sandbox, follow=clock))
    server.sandbox.set_inbound_url(
        SANDBOX_MESSAGING_SERVICE_SID, f"{settings.public_url.rstrip('/')}/twilio/inbound"
    )
    runtime = Runtime(
        settings, clock, sandbox_url=server.base_url, sandbox_auth_token=sandbox_token
    )
    runtime.ensure_ready()
    start = start_position(asked, saved(runtime.engine))
    session = SandboxSession(
        clock, sandbox, runtime.engine, runfile.new_control_token(),
        default_region=settings.default_region,
    )  # fmt: skip
    if start.resumed:
        clock.advance_to(max(start.at, clock()))  # the sandbox follows; the position is saved
    else:
        session.save()
    runtime.sandbox_session = session
    stack.callback(session.save)  # where it stopped: the next run resumes there
    run = runfile.RunFile(url=_local_url(host, port), token=session.token, pid=os.getpid())
    path = runfile.path_for(settings.database_url)
    runfile.write(path, run)
    stack.callback(runfile.remove, path, run)
    render.starting("run", runtime)
    render.virtual_clock(start.at, resumed=start.resumed, run_file=str(path))
    return runtime


def _local_url(host: str, port: int) -> str:
    """Where a command on this machine reaches a server listening on ``host``."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def timeline(
    phone: Annotated[str, typer.Option(help="The contact's phone.")],
    as_json: JSON = False,
) -> None:
    """Every message of a contact: step, due (local and UTC), state, SID, error."""
    from dripsms.core.phones import InvalidPhone, normalize_phone
    from dripsms.store.views import timeline as rows_of

    runtime = common.runtime()
    try:
        normalized = normalize_phone(phone, runtime.settings.default_region)
    except InvalidPhone as exc:
        raise DripError(f"--{exc}") from None
    with runtime.engine.connect() as connection:
        rows = rows_of(connection, normalized)
    render.timeline(normalized, rows, as_json=as_json)


def stats(
    sequence: Annotated[str | None, typer.Argument(help="Only this sequence.")] = None,
    as_json: JSON = False,
) -> None:
    """Counts of messages per sequence, step and state."""
    from dripsms.store.views import stats as counts

    runtime = common.runtime()
    with runtime.engine.connect() as connection:
        rows = counts(connection, sequence)
    render.stats(rows, as_json=as_json)


def sequences_migrate(
    sequence: Annotated[str, typer.Argument(help="The sequence's key.")],
    as_json: JSON = False,
) -> None:
    """Move running enrollments to the file's current version (re-plans only what is not
    handed off yet)."""
    from dripsms.engine.replanning import migrate_sequence

    runtime = common.runtime()
    report = migrate_sequence(runtime.engine, runtime.library, sequence, now=runtime.clock())
    render.migration(sequence, report, as_json=as_json)


def sequences_list(as_json: JSON = False) -> None:
    """The sequences in the folder, their current version, and the versions in use."""
    from dripsms.store.views import versions_in_use

    runtime = common.runtime()
    with runtime.engine.connect() as connection:
        in_use = versions_in_use(connection)
    current = {key: runtime.library.current(key) for key in runtime.library.sequence_keys()}
    render.sequence_list(current, in_use, as_json=as_json)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """The HTTP server: /v1 API, Twilio webhooks, /healthz, /metrics, /docs (no dispatcher:
    run `dripsms worker` beside it)."""
    from dripsms.web.app import create_app

    runtime = common.runtime()
    render.starting("serve", runtime)
    web = _server(create_app(runtime), host, port)
    sock = _listening(host, port)
    render.listening(host, sock.getsockname()[1])
    web.run(sockets=[sock])
