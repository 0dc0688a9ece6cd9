"""Benchmark: Twilio's webhooks under load, against a bare endpoint that only checks the
signature.

The claim under test (issue 10): a busy evening of replies never comes near Twilio's 15 s
answer limit. ``dripsms serve`` (one uvicorn process, as shipped) answers signed inbound
replies from enrolled patients, with a share of status callbacks, while a load client in
ANOTHER process (this one) drives it over loopback:

- **closed loop** (``--connections``, default 16): each connection sends its next request as
  soon as the last is answered: the most requests per second the server gives;
- **open loop** (``--rate``, default 200 req/s for ``--seconds``): requests start on a fixed
  schedule whatever the answers do, and each latency is counted from its scheduled start
  (a server that falls behind shows it; no coordinated omission).

In the same run, the peer: a bare FastAPI app (same uvicorn, same loop and HTTP parser,
an access line per request as both log by default) whose two routes only check
``X-Twilio-Signature`` with the SDK's ``RequestValidator``, the floor any Twilio webhook
must pay. Targets: dripsms at least 0.5x the bare endpoint's
closed-loop rate, p99 < 50 ms at an offered 200 req/s, zero 5xx, on SQLite and on
PostgreSQL (``--postgres``: the throwaway server of ``scripts/test-postgres.sh``).

Each database holds enrolled patients of ``sequences/postop.yaml`` (one per reply sent)
whose day-1 pain question went out a minute before the run: every inbound reply comes from
a different patient (matched: the rules run; a score of 7 or more sets an attribute,
alerts the care team, queues the notify webhook and the staff text). After each run the
database is checked: every answered reply stored exactly once.

``--profile`` (and every ``--write`` run, first, in about 20 s): where a request's CPU goes.
The app ``dripsms serve`` builds, on SQLite, and the bare endpoint are driven in THIS process
through ASGI with the same signed mix, one request at a time: statements per request by kind
(``before_cursor_execute``), CPU per request without a profiler, then cProfile on thread CPU
in every thread (the threadpool too), its own time split by stage (web, engine, SQLAlchemy
statements, SQLAlchemy execution, driver, commit, the rest). ``--profile-top N`` prints the
costliest functions and packages to stderr.

    .venv/bin/python bench/webhook_bench.py [--postgres URL|auto] [--rate 200] [--write]
    .venv/bin/python bench/webhook_bench.py --profile [--profile-top 40]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, HTTPException, Request, Response
from sqlalchemy import bindparam, create_engine, func, select, text, update
from twilio.request_validator import RequestValidator

from dripsms.clock import system_clock
from dripsms.core.planning import EnrollmentRequest
from dripsms.engine.callbacks import status_callback_url
from dripsms.runtime import Runtime
from dripsms.settings import Settings
from dripsms.store.database import connect, upgrade
from dripsms.store.tables import messages, replies
from dripsms.testing import free_port
from reporting import cores, cpu_model, fmt, table, write_section

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Webhooks"
ACCOUNT = "AC" + "b" * 32
AUTH_TOKEN = "bench-auth-token-" + "9" * 15
HIGH_SHARE = 0.2
"""Share of replies scoring 7 or more (set, notify webhook queued, staff text queued)."""
GOAL_RATIO = 0.5
GOAL_P99_MS = 50.0


def phone(i: int) -> str:
    return f"+1415{2000000 + i:07d}"


# -- the servers ----------------------------------------------------------------------------


def bare_app() -> Any:
    """A FastAPI app that only checks the signature of Twilio's two webhooks."""
    app = FastAPI()
    validator = RequestValidator(AUTH_TOKEN)
    base = os.environ["BENCH_PUBLIC_URL"]

    async def check(request: Request) -> None:
        form = await request.form()
        query = request.scope.get("query_string", b"").decode("latin-1")
        url = f"{base}{request.url.path}" + (f"?{query}" if query else "")
        params = {k: str(v) for k, v in form.multi_items()}
        if not validator.validate(url, params, request.headers.get("X-Twilio-Signature", "")):
            raise HTTPException(403)

    @app.post("/twilio/inbound")
    async def inbound(request: Request) -> Response:
        await check(request)
        return Response("<Response/>", media_type="application/xml")

    @app.post("/twilio/status")
    async def status(request: Request) -> Response:
        await check(request)
        return Response(status_code=204)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def serve_bare(port: int) -> None:
    """The bare endpoint under uvicorn as it ships: its default logging, an access line per
    request (``dripsms serve`` writes one too, through dripsms's handler)."""
    import uvicorn

    uvicorn.run(bare_app(), host="127.0.0.1", port=port)


@dataclass
class Server:
    """One target's server processes (several ``dripsms serve`` as behind a proxy)."""

    name: str
    processes: list[subprocess.Popen[bytes]]
    ports: list[int]

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server processes so far."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for process in self.processes:
            stat = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(stat[11]) + int(stat[12])
        return total / ticks

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def start(name: str, commands: list[list[str]], env: dict[str, str], ports: list[int],
          log: Path) -> Server:  # fmt: skip
    """Start one process per command (each listening on its port); ready once each answers."""
    server = Server(name, [], ports)
    with log.open("wb") as sink:
        for command in commands:
            server.processes.append(
                subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
            )
    deadline = time.monotonic() + 60
    waiting = list(zip(server.processes, ports, strict=True))
    while waiting and time.monotonic() < deadline:
        process, port = waiting[0]
        if process.poll() is not None:
            server.stop()
            raise RuntimeError(f"{name} exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                waiting.pop(0)
        except OSError:
            time.sleep(0.1)
    if waiting:
        server.stop()
        raise RuntimeError(f"{name} did not start: {log.read_text()[-2000:]}")
    return server


# -- the database ---------------------------------------------------------------------------


@dataclass
class World:
    """An enrolled, asked population and the settings ``dripsms serve`` reads."""

    url: str
    folder: Path
    message_ids: list[int]
    env: dict[str, str] = field(default_factory=dict)


def prepare(url: str, folder: Path, patients: int) -> World:
    """Enroll ``patients`` in postop and mark their day-1 question sent a minute ago."""
    engine = connect(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    settings = Settings(
        database_url=url, sequences_dir=folder, twilio_account_sid=ACCOUNT,
        twilio_auth_token=AUTH_TOKEN,  # type: ignore[arg-type]
    )  # fmt: skip
    now = system_clock().replace(microsecond=0)
    runtime = Runtime(settings, lambda: now)
    try:
        runtime.ensure_ready()
        surgery = now.date().isoformat()
        for first in range(0, patients, 1000):
            batch = [
                (i + 1, EnrollmentRequest(
                    "postop", phone(i), "America/New_York",
                    {"first_name": "Ann", "procedure": "knee"}, surgery,
                ))
                for i in range(first, min(patients, first + 1000))
            ]  # fmt: skip
            report = runtime.enroller.enroll_batch(batch, now=now)
            if report.refused:
                raise RuntimeError(f"enrollment refused: {report.refused[:3]}")
        asked = now - timedelta(minutes=1)
        m = messages.c
        with runtime.engine.begin() as connection:
            ids = list(
                connection.execute(select(m.id).where(m.step_id == "day1").order_by(m.id)).scalars()
            )
            connection.execute(
                update(messages)
                .where(m.id == bindparam("mid"))
                .values(
                    state="sent", send_at=asked, attempt_started_at=asked, sent_at=asked,
                    sid=bindparam("new_sid"),
                ),
                [{"mid": i, "new_sid": f"SM{i:032d}"} for i in ids],
            )  # fmt: skip
    finally:
        runtime.engine.dispose()
    return World(url, folder, ids)


def stored(url: str) -> tuple[int, int, int]:
    """(replies, distinct SIDs among them, status callbacks recorded)."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            total = connection.execute(select(func.count()).select_from(replies)).scalar_one()
            distinct = connection.execute(
                select(func.count(func.distinct(replies.c.message_sid)))
            ).scalar_one()
            delivered = connection.execute(
                select(func.count()).where(messages.c.state == "delivered")
            ).scalar_one()
    finally:
        engine.dispose()
    return int(total), int(distinct), int(delivered)


# -- the load -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Prepared:
    kind: str  # inbound | status
    raw: bytes


def build(public: str, path: str, params: dict[str, str], kind: str) -> Prepared:
    body = urlencode(params).encode()
    signature = RequestValidator(AUTH_TOKEN).compute_signature(f"{public}{path}", params)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\n"
        f"X-Twilio-Signature: {signature}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return Prepared(kind, head.encode() + body)


def workload(
    public: str, world: World, first: int, count: int, status_share: float, seed: int
) -> list[Prepared]:
    """``count`` requests: replies from patients ``first``…, and status callbacks."""
    rng = random.Random(seed)
    found: list[Prepared] = []
    patient = first
    for n in range(count):
        if rng.random() < status_share:
            i = rng.randrange(len(world.message_ids))
            message_id = world.message_ids[i]
            url = status_callback_url(public, AUTH_TOKEN, message_id)
            path = url[len(public) :]
            params = {
                "MessageSid": f"SM{message_id:032d}", "MessageStatus": "delivered",
                "AccountSid": ACCOUNT, "To": phone(i), "ApiVersion": "2010-04-01",
            }  # fmt: skip
            found.append(build(public, path, params, "status"))
            continue
        score = rng.randint(7, 10) if rng.random() < HIGH_SHARE else rng.randint(0, 6)
        sid = f"SM{seed:08d}{n:024d}"
        params = {
            "MessageSid": sid, "SmsSid": sid, "AccountSid": ACCOUNT, "From": phone(patient),
            "To": "+15005550006", "Body": str(score), "NumMedia": "0", "NumSegments": "1",
            "SmsStatus": "received", "ApiVersion": "2010-04-01",
        }  # fmt: skip
        patient += 1
        found.append(build(public, "/twilio/inbound", params, "inbound"))
    return found


@dataclass
class Result:
    target: str
    mode: str
    sent: int = 0
    seconds: float = 0.0
    cpu: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    ok_inbound: int = 0
    check: str = ""
    processes: int = 1
    """Server processes sharing the load (several ``dripsms serve`` on one database)."""

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500 or status == 0)


class Connection:
    """One keep-alive HTTP/1.1 connection sending prebuilt requests."""

    def __init__(self, port: int) -> None:
        self.port = port  # the server process this connection talks to
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def send(self, request: Prepared) -> int:
        for attempt in (1, 2):
            try:
                if self.writer is None:
                    self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
                assert self.reader is not None
                self.writer.write(request.raw)
                head = await self.reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                if length:
                    await self.reader.readexactly(length)
                return status
            except (OSError, asyncio.IncompleteReadError):
                self.writer = None
                if attempt == 2:
                    return 0
        return 0

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def closed_loop(
    ports: list[int], work: list[Prepared], connections: int, result: Result
) -> None:
    queue = iter(work)

    async def one(connection: Connection) -> None:
        for request in queue:
            t = time.perf_counter()
            status = await connection.send(request)
            result.latencies.append(time.perf_counter() - t)
            tally(result, request, status)
        connection.close()

    pool = [Connection(ports[n % len(ports)]) for n in range(connections)]
    t0 = time.perf_counter()
    await asyncio.gather(*(one(c) for c in pool))
    result.seconds = time.perf_counter() - t0
    result.sent = len(work)


async def open_loop(
    ports: list[int], work: list[Prepared], rate: float, connections: int, result: Result
) -> None:
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for n in range(connections):
        idle.put_nowait(Connection(ports[n % len(ports)]))
    t0 = time.perf_counter()

    async def one(request: Prepared, due: float) -> None:
        connection = await idle.get()
        status = await connection.send(request)
        result.latencies.append(time.perf_counter() - due)  # from its scheduled start
        tally(result, request, status)
        idle.put_nowait(connection)

    tasks = []
    for n, request in enumerate(work):
        due = t0 + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(request, due)))
    await asyncio.gather(*tasks)
    result.seconds = time.perf_counter() - t0
    result.sent = len(work)
    while not idle.empty():
        idle.get_nowait().close()


def tally(result: Result, request: Prepared, status: int) -> None:
    result.statuses[status] = result.statuses.get(status, 0) + 1
    if request.kind == "inbound" and status == 200:
        result.ok_inbound += 1


def drive(server: Server, work: list[Prepared], mode: str, args: argparse.Namespace) -> Result:
    result = Result(server.name, mode, processes=len(server.ports))
    warm = work[: args.warmup]
    asyncio.run(closed_loop(server.ports, warm, 4, Result(server.name, "warm-up")))
    cpu = server.cpu_seconds()
    timed = work[args.warmup :]
    if mode == "closed":
        asyncio.run(closed_loop(server.ports, timed, args.connections, result))
    else:
        asyncio.run(open_loop(server.ports, timed, args.rate, args.open_connections, result))
    result.cpu = server.cpu_seconds() - cpu
    return result


# -- the profile ----------------------------------------------------------------------------

STAGES = (
    ("web", "ASGI, FastAPI, middleware, form parsing, signature check, TwiML, metrics"),
    ("engine", "routing, matching, rules, templates, phone parsing, logging"),
    ("statements", "SQLAlchemy statement building and compilation, dripsms.store"),
    ("execution", "SQLAlchemy execution: connections, pool, events, results"),
    ("driver", "the driver's cursor execute (sqlite3 / psycopg)"),
    ("commit", "commit (and the fsync under it)"),
    ("rest", "the event loop, the thread hop, the rest"),
)
WEB_PARTS = (
    "/dripsms/web/", "/fastapi/", "/starlette/", "/multipart/", "/python_multipart/",
    "/twilio/", "/pydantic", "/prometheus_client/", "/anyio/", "/xml/", "/hmac.py",
    "/base64.py", "/urllib/parse.py", "/email/", "/fastapi_offline/",
)  # fmt: skip
FROM = re.compile(r"\bFROM\s+(\w+)", re.IGNORECASE)
ENGINE_PARTS = ("/dripsms/", "/jinja2/", "/markupsafe/", "/phonenumbers/", "/logging/", "/yaml/")


def stage_of(func: tuple[str, int, str]) -> str | None:
    """The stage a profiled function's own time belongs to (None: a builtin, its caller's)."""
    filename, _, name = func
    if filename == "~":
        if "sqlite3" in name and "commit" in name:
            return "commit"
        if "sqlite3" in name and "execute" in name:
            return "driver"
        return None
    path = filename.replace("\\", "/")
    if "/psycopg" in path:
        return "commit" if name == "commit" else "driver"
    if "/sqlalchemy/sql/" in path or "/dripsms/store/" in path:
        return "statements"
    if "/sqlalchemy/" in path:
        return "execution"
    if any(part in path for part in WEB_PARTS):
        return "web"
    if any(part in path for part in ENGINE_PARTS):
        return "engine"
    return "rest"


def stage_seconds(stats: Any) -> dict[str, float]:
    """Seconds of own time per stage; a builtin's go to its caller's stage."""
    found = dict.fromkeys((name for name, _ in STAGES), 0.0)
    for function, (_, _, own, _, callers) in stats.stats.items():
        stage = stage_of(function)
        if stage is not None:
            found[stage] += own
            continue
        if not callers:
            found["rest"] += own
            continue
        for caller, edge in callers.items():
            found[stage_of(caller) or "rest"] += edge[2]
    return found


def package_seconds(stats: Any) -> dict[str, float]:
    """Own seconds by package (``dripsms.web``, ``sqlalchemy.sql``, ``~`` builtins by name)."""
    found: dict[str, float] = {}
    for (filename, _, name), (_, _, own, _, _) in stats.stats.items():
        path = filename.replace("\\", "/")
        if filename == "~":
            key = name
        elif "/site-packages/" in path:
            key = ".".join(path.split("/site-packages/")[1].split("/")[:2])
        elif "/src/dripsms/" in path:
            key = "dripsms." + ".".join(path.split("/src/dripsms/")[1].split("/")[:2])
        else:
            key = path.rsplit("/", 1)[-1]
        found[key] = found.get(key, 0.0) + own
    return found


@dataclass
class Profile:
    target: str
    requests: int
    cpu_ms: float
    """Unprofiled process CPU per request (every thread), one request at a time."""
    stages: dict[str, float]
    """ms per request by stage (the profile's shares scaled to ``cpu_ms``)."""
    statements: dict[str, dict[str, int]] = field(default_factory=dict)
    """kind of request → statement kind → count."""
    kinds: dict[str, int] = field(default_factory=dict)
    uncached: dict[str, int] = field(default_factory=dict)
    """Statements compiled afresh (not from SQLAlchemy's compiled cache) after the warm-up."""


async def asgi_call(app: Any, request: Prepared) -> int:
    """Send one prebuilt HTTP request to an ASGI app in this process; its status."""
    head, _, body = request.raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    method, target, _ = lines[0].split(b" ")
    path, _, query = target.partition(b"?")
    headers = [
        (name.strip().lower(), value.strip())
        for name, value in (line.split(b":", 1) for line in lines[1:])
    ]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
        "method": method.decode(), "scheme": "http", "path": path.decode(), "raw_path": path,
        "query_string": query, "root_path": "", "headers": headers,
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80),
    }  # fmt: skip
    given = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal given
        if given:
            return {"type": "http.disconnect"}
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])

    await app(scope, receive, send)
    return status


def profile_app(app: Any, work: list[Prepared], warmup: int, target: str, top: int = 0) -> Profile:
    """Drive ``app`` in this process one request at a time: unprofiled CPU per request,
    then the same kind of requests again under cProfile (every thread, on thread CPU)."""
    import cProfile
    import pstats
    import threading

    import anyio.to_thread
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    statements: dict[str, dict[str, int]] = {}
    kinds: dict[str, int] = {}
    uncached: dict[str, int] = {}
    current = [""]

    def counted(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        words = statement.split(None, 3)
        verb = words[0].upper() if words else "?"
        table_name = ""
        if verb in ("INSERT", "DELETE") and len(words) > 2:
            table_name = words[2]
        elif verb == "UPDATE" and len(words) > 1:
            table_name = words[1]
        elif verb == "SELECT":
            found = FROM.search(statement)
            table_name = found.group(1).lower() if found else ""
        key = f"{verb} {table_name}".strip()
        per = statements.setdefault(current[0], {})
        per[key] = per.get(key, 0) + 1
        hit = getattr(context, "cache_hit", None)
        if hit is not None and hit.name != "CACHE_HIT":
            uncached[f"{key} ({hit.name})"] = uncached.get(f"{key} ({hit.name})", 0) + 1

    async def run(requests: list[Prepared]) -> None:
        with open(os.devnull, "w") as sink, contextlib.redirect_stderr(sink):  # the logs
            await each(requests)

    async def each(requests: list[Prepared]) -> None:
        for request in requests:
            current[0] = request.kind
            kinds[request.kind] = kinds.get(request.kind, 0) + 1
            status = await asgi_call(app, request)
            if status >= 400:
                raise RuntimeError(f"{target}: {request.kind} answered {status}")

    third = (len(work) - warmup) // 3
    counted_work = work[warmup : warmup + third]
    timed_work = work[warmup + third : warmup + 2 * third]
    profiled_work = work[warmup + 2 * third :]
    asyncio.run(run(work[:warmup]))
    kinds.clear()
    event.listen(Engine, "before_cursor_execute", counted)
    try:
        asyncio.run(run(counted_work))  # the statements, with the listener's cost
    finally:
        event.remove(Engine, "before_cursor_execute", counted)
    counted_kinds = dict(kinds)
    cpu = time.process_time()
    asyncio.run(run(timed_work))  # the CPU, without a listener or a profiler
    cpu_ms = (time.process_time() - cpu) / len(timed_work) * 1000
    profiles: list[cProfile.Profile] = []
    hops = [0]
    local = threading.local()
    original = anyio.to_thread.run_sync

    def profiled(func: Any) -> Any:
        hops[0] += 1

        def call(*args: Any) -> Any:
            profiler = getattr(local, "profiler", None)
            if profiler is None:
                profiler = local.profiler = cProfile.Profile(time.thread_time)
                profiles.append(profiler)
            profiler.enable()
            try:
                return func(*args)
            finally:
                profiler.disable()

        return call

    async def run_sync(func: Any, *args: Any, **kwargs: Any) -> Any:
        return await original(profiled(func), *args, **kwargs)

    anyio.to_thread.run_sync = run_sync  # type: ignore[assignment]
    main = cProfile.Profile(time.thread_time)
    try:
        main.enable()
        asyncio.run(run(profiled_work))  # where the CPU goes
        main.disable()
    finally:
        anyio.to_thread.run_sync = original
    stats = pstats.Stats(main, stream=sys.stderr)
    for profiler in profiles:
        stats.add(profiler)
    if top:
        print(f"-- {target}: the {top} functions with the most own CPU", file=sys.stderr)
        stats.sort_stats("tottime").print_stats(top)
        print(f"-- {target}: own CPU by package, ms per request", file=sys.stderr)
        for package, spent in sorted(package_seconds(stats).items(), key=lambda i: -i[1])[:30]:
            print(f"  {package:40} {spent / third * 1000:.3f}", file=sys.stderr)
        print(f"-- {target}: thread hops per request {hops[0] / third:.2f}", file=sys.stderr)
    seconds = stage_seconds(stats)
    total = sum(seconds.values()) or 1.0
    stages = {name: cpu_ms * spent / total for name, spent in seconds.items()}
    return Profile(target, third, cpu_ms, stages, statements, counted_kinds, uncached)


def run_profile(args: argparse.Namespace, directory: Path) -> list[Profile]:
    """The profile of the bare endpoint and of the app ``dripsms serve`` builds, on SQLite
    and (with ``--postgres``) on PostgreSQL."""
    profiles = [*_profile_on("sqlite", None, args, directory)]
    if args.postgres:
        server, url = postgres_url(args.postgres)
        try:
            profiles += _profile_on("postgresql", url, args, directory)
        finally:
            drop_database(server, url)
    return profiles


def _profile_on(
    name: str, url: str | None, args: argparse.Namespace, directory: Path
) -> list[Profile]:
    """The app on one database (and the bare endpoint with it, on SQLite's turn)."""
    import logging

    from dripsms.cli import common
    from dripsms.logs import configure_logging
    from dripsms.web.app import create_app

    public = "http://127.0.0.1:8000"
    count = args.profile_requests
    warmup = min(args.warmup, count // 2)
    total = warmup + 3 * count
    folder = directory / f"profile-{name}"
    folder.mkdir()
    shutil.copytree(ROOT / "sequences", folder / "sequences")
    url = url or f"sqlite:///{folder / 'profile.db'}"
    world = prepare(url, folder / "sequences", total)
    work = workload(public, world, 0, total, args.status_share, seed=99)
    names = {
        "BENCH_PUBLIC_URL": public, "DRIPSMS_PUBLIC_URL": public, "DRIPSMS_DATABASE_URL": url,
        "DRIPSMS_SEQUENCES_DIR": str(folder / "sequences"),
        "TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
    }  # fmt: skip
    saved = {key: os.environ.get(key) for key in names}
    os.environ.update(names)
    found = []
    try:
        if name == "sqlite":
            found.append(profile_app(bare_app(), work, warmup, "bare", args.profile_top))
        runtime = common.runtime()
        # Logs as `dripsms serve` writes them (its level and format; to a file, not a tty).
        configure_logging(runtime.settings.log_level, runtime.settings.log_format)
        root = logging.getLogger()
        try:
            found.append(profile_app(create_app(runtime), work, warmup, name, args.profile_top))
        finally:
            runtime.engine.dispose()
            for handler in [h for h in root.handlers if getattr(h, "_dripsms", False)]:
                root.removeHandler(handler)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return found


def _share(ms: float, total: float) -> tuple[str, str]:
    return fmt(ms, 3), f"{ms / total:.0%}"


def profile_lines(profiles: list[Profile]) -> list[str]:
    """The profile's tables: where a request's CPU goes; statements per request by kind."""
    bare = next(p for p in profiles if p.target == "bare")
    apps = [p for p in profiles if p.target != "bare"]
    app = apps[0]
    rows = [
        [name, what, *[c for a in apps for c in _share(a.stages[name], a.cpu_ms)],
         fmt(bare.stages[name], 3)]
        for name, what in STAGES
    ]  # fmt: skip
    rows.append(
        ["total", "", *[c for a in apps for c in (fmt(a.cpu_ms, 2), "100%")], fmt(bare.cpu_ms, 2)]
    )
    kinds = sorted(app.kinds)
    requests = sum(app.kinds.values()) or 1
    every = sorted({k for per in app.statements.values() for k in per})
    statement_rows = []
    for key in every:
        per_kind = [
            fmt(app.statements.get(kind, {}).get(key, 0) / (app.kinds[kind] or 1), 2)
            for kind in kinds
        ]
        overall = sum(per.get(key, 0) for per in app.statements.values()) / requests
        statement_rows.append([key, *per_kind, fmt(overall, 2)])
    totals = [
        fmt(sum(app.statements.get(kind, {}).values()) / (app.kinds[kind] or 1), 2)
        for kind in kinds
    ]
    overall = sum(sum(per.values()) for per in app.statements.values()) / requests
    statement_rows.append(["all statements", *totals, fmt(overall, 2)])
    uncached = (
        ", ".join(
            f"{key} {n / app.requests:.2f}"
            for key, n in sorted(app.uncached.items())
            if n / app.requests >= 0.01
        )
        or "none"
    )
    names = " and ".join(a.target for a in apps)
    columns = [h for a in apps for h in (f"{a.target} ms/request", "share")]
    return [
        "### Where a request's CPU goes",
        "",
        f"`--profile`: the app `dripsms serve` builds ({names}) and the bare endpoint, "
        f"driven in this process through ASGI, one request at a time, same signed mix "
        f"({app.requests} requests each, after a warm-up). CPU per request without the "
        "profiler (every thread); split by stage with cProfile on thread CPU in every thread "
        "(a builtin's time goes to its caller's stage). No HTTP parsing or sockets here: "
        "uvicorn's share is in the load table's figures, not below.",
        "",
        *table(["stage", "what", *columns, "bare ms/request"], rows),
        "",
        f"Statements per request on {app.target} (counted at `before_cursor_execute`; "
        f"after the warm-up; statements not from SQLAlchemy's compiled cache, per request: "
        f"{uncached}):",
        "",
        *table(["statement", *kinds, "per request"], statement_rows),
        "",
    ]


def verdict(results: list[Result], profiles: list[Profile], rate: float) -> list[str]:
    """By how much each target is missed, why, and what it would take, in plain words."""
    closed = {r.target: r for r in results if r.mode == "closed"}
    opened = {r.target: r for r in results if r.mode == "open"}
    bare = closed.get("bare")
    app = next(p for p in profiles if p.target != "bare")
    peer = next(p for p in profiles if p.target == "bare")
    lines = ["### Where the targets stand", ""]
    for name in ("sqlite", "postgresql"):
        r, o = closed.get(name), opened.get(name)
        if r is None or o is None or bare is None or not bare.rate or not r.rate or not r.sent:
            continue
        ratio = r.rate / bare.rate
        p99 = o.percentile(0.99)
        served = o.cpu / o.sent * 1000 if o.sent else 0.0
        lines.append(
            f"- {name}: {ratio:.2f}x the bare endpoint "
            + (
                f"(target {GOAL_RATIO}x: {GOAL_RATIO / ratio:.1f} times short)"
                if ratio < GOAL_RATIO
                else f"(target {GOAL_RATIO}x: met)"
            )
            + f", {r.cpu / r.sent * 1000:.2f} ms of server CPU per request; p99 {p99:,.0f} ms "
            f"at the offered {rate:.0f} req/s"
            + (
                f" (target < {GOAL_P99_MS:.0f} ms: {p99 / GOAL_P99_MS:.1f} times over), the "
                f"server needing {rate * served / 1000:.0%} of a core there."
                if p99 >= GOAL_P99_MS
                else f" (target < {GOAL_P99_MS:.0f} ms: met)."
            )
        )
    for r in results:
        if r.processes > 1 and r.mode == "open" and r.sent:
            p99 = r.percentile(0.99)
            met = "met" if p99 < GOAL_P99_MS else f"{p99 / GOAL_P99_MS:.1f} times over"
            lines.append(
                f"- {r.target} on one database: p99 {p99:,.0f} ms at the offered "
                f"{rate:.0f} req/s (target < {GOAL_P99_MS:.0f} ms: {met}), "
                f"{r.cpu / r.sent * 1000:.2f} ms of server CPU per request in all."
            )
    top = sorted(app.stages.items(), key=lambda item: -item[1])[:3]
    where = ", ".join(f"{name} {ms:.2f} ms" for name, ms in top)
    statements = sum(sum(per.values()) for per in app.statements.values())
    per_request = statements / (sum(app.kinds.values()) or 1)
    lines += [
        "",
        f"Why: a reply is matched, its rules run and its answer is written while Twilio "
        f"waits, all in one `dripsms serve` process. In the profile the app takes "
        f"{app.cpu_ms:.1f} ms of CPU per request on {app.target} against {peer.cpu_ms:.2f} ms "
        f"for the bare endpoint. The most: {where}: {per_request:.1f} SQL statements in one "
        "transaction, each executed and read through SQLAlchemy, then FastAPI's dependencies, "
        "form parsing and the signature check. On PostgreSQL each statement is also a round "
        "trip. The 0.5x ratio would need about "
        f"{2 * peer.cpu_ms:.1f} ms per request in the app: no trimming of this path gets "
        "there. It would take a different hot path: store the raw webhook with one INSERT, "
        "answer an empty TwiML, and let the worker match the reply and run its rules. Then "
        "every answer now given in the webhook's TwiML (a step's acknowledgement, HELP, the "
        "unmatched-reply text) becomes a REST send from the outbox: one more API request "
        "each, and answers to numbers with no enrollment, which the outbox cannot address. "
        "That is a product decision, not taken here. The p99 target is a matter of "
        "capacity: a process near a whole core queues every burst (in the open loop a "
        "request costs more CPU than in the closed one: fewer writes share a commit). On "
        "PostgreSQL more `dripsms serve` processes behind the proxy add capacity (here they "
        "share 2 cores with PostgreSQL and the load); on SQLite they do not, since processes "
        "wait for the one write lock through SQLite's busy handler, not the in-process "
        "queue: past one process, move to PostgreSQL (docs/scaling.md).",
        "",
    ]
    return lines


# -- the run --------------------------------------------------------------------------------


def run_target(
    name: str, url: str | None, args: argparse.Namespace, directory: Path, processes: int = 1
) -> list[Result]:
    """Load one target; ``processes``: that many ``dripsms serve`` on one database, the
    load spread over them as a proxy would (each signs for the first one's public URL)."""
    ports = [free_port() for _ in range(processes)]
    port = ports[0]
    public = f"http://127.0.0.1:{port}"
    env = {
        **os.environ, "BENCH_PUBLIC_URL": public, "DRIPSMS_PUBLIC_URL": public,
        "TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "PYTHONPATH": os.pathsep.join(
            filter(None, [os.environ.get("PYTHONPATH"), str(ROOT / "bench")])
        ),
    }  # fmt: skip
    closed_n = args.requests + args.warmup
    open_n = int(args.rate * args.seconds) + args.warmup
    patients = closed_n + open_n
    world: World | None = None
    if url is None:
        commands = [[sys.executable, str(Path(__file__)), "--bare-server", str(p)] for p in ports]
        message_ids = list(range(1, patients + 1))
        world = World("", directory, message_ids)
    else:
        world = prepare(url, directory / "sequences", patients)
        env["DRIPSMS_DATABASE_URL"] = url
        env["DRIPSMS_SEQUENCES_DIR"] = str(directory / "sequences")
        commands = [[sys.executable, "-m", "dripsms", "serve", "--port", str(p)] for p in ports]
    if processes > 1:
        name = f"{name}, {processes} processes"
    server = start(name, commands, env, ports, directory / f"{ports[0]}.log")
    results = []
    try:
        first = 0
        for mode, count in (("closed", closed_n), ("open", open_n)):
            work = workload(public, world, first, count, args.status_share, seed=len(results) + 1)
            first += count
            result = drive(server, work, mode, args)
            results.append(result)
            print(f"  {name} {mode}: {result.rate:.0f} req/s p99 {result.percentile(0.99):.1f} ms "
                  f"statuses {result.statuses}", file=sys.stderr)  # fmt: skip
    finally:
        server.stop()
    if url is not None:
        total, distinct, delivered = stored(url)
        answered = sum(r.ok_inbound for r in results)
        warmups = 2 * args.warmup  # warm-up replies are stored too
        results[-1].check = (
            f"{total} replies stored for {answered} answered (+ warm-up ≤ {warmups}), "
            f"{total - distinct} duplicates; {delivered} messages delivered by callbacks"
        )
    return results


def postgres_url(given: str) -> tuple[str, str]:
    """(the server's URL, a fresh database's URL on it)."""
    server = given
    if given == "auto":
        server = subprocess.run(
            ["bash", str(ROOT / "scripts" / "test-postgres.sh")],
            check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
    name = f"dripsms_webhook_bench_{os.getpid()}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
            connection.execute(text(f"CREATE DATABASE {name}"))
    finally:
        admin.dispose()
    base, _, _ = server.rpartition("/")
    return server, f"{base}/{name}"


def drop_database(server: str, url: str) -> None:
    name = url.rpartition("/")[2]
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    finally:
        admin.dispose()


def report(results: list[Result], args: argparse.Namespace, command: str) -> list[str]:
    bare = {r.mode: r for r in results if r.target == "bare"}
    rows = []
    for r in results:
        peer = bare.get(r.mode)
        alone = r.processes == 1  # as the bare endpoint runs
        ratio = (
            f"{r.rate / peer.rate:.2f}x"
            if peer and alone and r.mode == "closed" and peer.rate
            else ""
        )
        cpu_ms = r.cpu / r.sent * 1000 if r.sent else 0.0
        offered = f"{args.rate:.0f}/s" if r.mode == "open" else f"max, {args.connections} conn"
        rows.append([
            r.target, offered, fmt(r.rate, 0), ratio, fmt(r.percentile(0.5), 1),
            fmt(r.percentile(0.99), 1), fmt(max(r.latencies, default=0) * 1000, 1),
            str(r.errors), fmt(cpu_ms, 2),
        ])  # fmt: skip
    lines = [
        SECTION,
        "",
        f"Machine: {cpu_model()}, {cores()} cores, Python {platform.python_version()}; "
        f"{system_clock():%Y-%m-%d}. Command: `{command}`.",
        "",
        f"Load from a separate process over loopback; {args.status_share:.0%} of requests are "
        f"status callbacks, the rest signed replies from enrolled patients "
        f"({HIGH_SHARE:.0%} scoring 7+: notify webhook and staff text queued). "
        f"Closed loop: {args.requests} requests; open loop: {args.rate:.0f} req/s for "
        f"{args.seconds:.0f} s (latency from each scheduled start). "
        f"Targets: ≥ {GOAL_RATIO}x the bare endpoint, p99 < {GOAL_P99_MS:.0f} ms at the "
        "offered rate, zero 5xx.",
        "",
        *table(
            [
                "target",
                "load",
                "req/s",
                "vs bare",
                "p50 ms",
                "p99 ms",
                "max ms",
                "5xx",
                "CPU ms/req",
            ],
            rows,
        ),
        "",
    ]
    lines += [f"- {r.target}: {r.check}" for r in results if r.check]
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="closed-loop requests")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rate", type=float, default=200.0, help="open-loop offered req/s")
    parser.add_argument("--seconds", type=float, default=15.0, help="open-loop duration")
    parser.add_argument("--open-connections", type=int, default=64)
    parser.add_argument("--status-share", type=float, default=0.25)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--postgres", default=None, help="a server URL, or auto")
    parser.add_argument(
        "--serve-processes", type=int, default=1,
        help="also load N `dripsms serve` processes on one database (as behind a proxy)",
    )  # fmt: skip
    parser.add_argument("--no-bare", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--write", action="store_true")
    parser.add_argument(
        "--profile", action="store_true",
        help="only the profile: where a request's CPU goes (part of every --write run)",
    )  # fmt: skip
    parser.add_argument("--profile-requests", type=int, default=300)
    parser.add_argument(
        "--profile-top", type=int, default=0, help="print the N costliest functions (stderr)"
    )
    parser.add_argument("--bare-server", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bare_server is not None:
        serve_bare(args.bare_server)
        return
    command = "python bench/webhook_bench.py " + " ".join(argv or sys.argv[1:])
    results: list[Result] = []
    profiles: list[Profile] = []
    directory = Path(tempfile.mkdtemp(prefix="dripsms-webhook-bench-"))
    try:
        if args.profile or args.write:
            profiles = run_profile(args, directory)
            if args.profile:
                print("\n".join(profile_lines(profiles)))
                return
        shutil.copytree(ROOT / "sequences", directory / "sequences")
        if not args.no_bare:
            results += run_target("bare", None, args, directory)
        for processes in sorted({1, args.serve_processes}):
            if not args.no_sqlite:
                url = f"sqlite:///{directory / f'bench-{processes}.db'}"
                results += run_target("sqlite", url, args, directory, processes)
            if args.postgres:
                server, url = postgres_url(args.postgres)
                try:
                    results += run_target("postgresql", url, args, directory, processes)
                finally:
                    drop_database(server, url)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    lines = report(results, args, command.strip())
    if profiles:
        lines += ["", *profile_lines(profiles), *verdict(results, profiles, args.rate)]
    print("\n".join(lines))
    if args.write:
        write_section(SECTION, lines)


if __name__ == "__main__":
    main()
