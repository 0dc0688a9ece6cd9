"""Benchmark: importing a CSV of contacts into the example sequence, against raw ``sqlite3``.

Generates a CSV of ``--n`` contacts (valid US numbers, columns
``phone,timezone,first_name,surgery_date``) and imports it with
:func:`dripsms.engine.importing.import_csv` into ``postop`` (5 steps) in a fresh SQLite
database configured as the product configures it (WAL, ``synchronous=FULL``). In the same
run it writes **the same rows** (read back from that database: contacts, enrollments, 5
messages per contact and the enrollment events) into an identical fresh database with
plain ``sqlite3`` ``executemany``, one transaction per 1,000 contacts as the import does,
and reports contacts/s for both and their ratio. A second, instrumented import into a third
database says where dripsms's time goes (CSV, phone parsing, timeline planning, the
database layer, the commits). Then the peer a Python developer would pick instead:
APScheduler 3's SQLAlchemy job store on SQLite, one ``add_job`` per message, for the
messages of the first ``--aps-n`` contacts (a sample: it commits once per job).

    .venv/bin/python bench/import_bench.py [--n 100000] [--aps-n 1000] [--postgres [URL]]
        [--write]

``--postgres`` repeats the comparison on PostgreSQL (with no URL, on the server that
``scripts/test-postgres.sh`` starts). Prints a Markdown section; ``--write`` replaces the
"## Import" section of ``bench/results.md`` and leaves every other section alone.
"""

from __future__ import annotations

import argparse
import csv
import functools
import gc
import os
import platform
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

import dripsms.core.planning as planning
import dripsms.engine.enrollment as enrollment
import dripsms.engine.importing as importing
import dripsms.store.repository as repository
from dripsms.clock import system_clock
from dripsms.engine.enrollment import Enroller
from dripsms.engine.importing import ImportReport, import_csv
from dripsms.engine.library import SequenceLibrary
from dripsms.store.database import connect, upgrade
from reporting import RESULTS, cores, cpu_model, fmt, table, write_section

ROOT = Path(__file__).resolve().parent.parent
SEQUENCE_FILE = Path("sequences/postop.yaml")
SEQUENCE_KEY = "postop"
SECTION = "## Import"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # the import's clock: fixed, so runs are alike
BATCH = 1000  # contacts per transaction: import_csv's default batch_size
TABLES = ("contacts", "enrollments", "messages", "events")
AREAS = (415, 650, 212)
ZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "Pacific/Honolulu",
)
NAMES = ("Ann", "Bo", "Chen", "Dana", "Eli", "Fatima", "Gus", "Hana", "Ivan", "José")
FIRST_SURGERY = date(2027, 1, 4)
SURGERY_DAYS = 365


# -- the workload -------------------------------------------------------------------------


def phone_numbers(n: int, seed: int) -> list[tuple[str, str]]:
    """``n`` distinct valid US numbers: (E.164, as written in the CSV).

    Area codes 415, 650 and 212; exchanges 200-999 (a valid NXX), never the fictional
    555-01xx. A third each is written as E.164, ``(415) 555-1234`` and ``415-555-1234``.
    """
    rng = random.Random(seed)
    seen: set[str] = set()
    numbers: list[tuple[str, str]] = []
    while len(numbers) < n:
        area, exchange, line = rng.choice(AREAS), rng.randrange(200, 1000), rng.randrange(10_000)
        if exchange == 555 and 100 <= line <= 199:
            continue
        e164 = f"+1{area}{exchange}{line:04d}"
        if e164 in seen:
            continue
        seen.add(e164)
        style = len(numbers) % 3
        written = (
            e164
            if style == 0
            else f"({area}) {exchange}-{line:04d}"
            if style == 1
            else f"{area}-{exchange}-{line:04d}"
        )
        numbers.append((e164, written))
    return numbers


def write_csv(path: Path, n: int, seed: int) -> None:
    """The import file: ``phone,timezone,first_name,surgery_date``, ``n`` rows."""
    rng = random.Random(seed + 1)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["phone", "timezone", "first_name", "surgery_date"])
        for _, written in phone_numbers(n, seed):
            surgery = FIRST_SURGERY + timedelta(days=rng.randrange(SURGERY_DAYS))
            writer.writerow([written, rng.choice(ZONES), rng.choice(NAMES), surgery.isoformat()])


# -- backends -----------------------------------------------------------------------------


class Backend:
    """Where the databases live: fresh, migrated, and reachable by the raw driver too."""

    name = ""
    placeholder = "?"

    def fresh(self, label: str) -> str:
        """The URL of a new, migrated, empty database."""
        raise NotImplementedError

    def raw(self, url: str) -> Any:
        """A plain DB-API connection to ``url``, configured like the product's."""
        raise NotImplementedError

    def begin(self, connection: Any) -> None:
        raise NotImplementedError

    def commit(self, connection: Any) -> None:
        connection.commit()

    def close(self) -> None:
        """Remove what :meth:`fresh` made."""


class SQLiteBackend(Backend):
    name = "SQLite"
    placeholder = "?"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def fresh(self, label: str) -> str:
        url = f"sqlite:///{self.directory / label}.db"
        migrate(url)
        return url

    def raw(self, url: str) -> Any:
        path = make_url(url).database
        assert path is not None
        connection = sqlite3.connect(path, isolation_level=None)
        # The pragmas dripsms's connect() sets (store/database.py).
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("PRAGMA foreign_keys=ON")
        return connection

    def begin(self, connection: Any) -> None:
        connection.execute("BEGIN IMMEDIATE")  # as dripsms begins every transaction

    def commit(self, connection: Any) -> None:
        connection.execute("COMMIT")


class PostgresBackend(Backend):
    name = "PostgreSQL"
    placeholder = "%s"

    def __init__(self, admin_url: str) -> None:
        self.admin_url = make_url(admin_url)
        if self.admin_url.drivername == "postgresql":
            self.admin_url = self.admin_url.set(drivername="postgresql+psycopg")
        self.admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        self.made: list[str] = []

    def fresh(self, label: str) -> str:
        name = f"dripsms_bench_{label}_{uuid.uuid4().hex[:8]}"
        with self.admin.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {name}"))
        self.made.append(name)
        url = self.admin_url.set(database=name).render_as_string(hide_password=False)
        migrate(url)
        return url

    def raw(self, url: str) -> Any:
        import psycopg

        parsed = make_url(url)
        return psycopg.connect(
            host=parsed.host, port=parsed.port, user=parsed.username,
            password=parsed.password, dbname=parsed.database,
        )  # fmt: skip

    def begin(self, connection: Any) -> None:
        pass  # psycopg opens a transaction on the first statement

    def settings(self) -> str:
        with self.admin.connect() as connection:
            version = connection.execute(text("SHOW server_version")).scalar_one()
            values = [
                f"{name}={connection.execute(text(f'SHOW {name}')).scalar_one()}"
                for name in ("fsync", "synchronous_commit", "full_page_writes")
            ]
        return f"PostgreSQL {version} ({', '.join(values)})"

    def close(self) -> None:
        with self.admin.connect() as connection:
            for name in self.made:
                connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        self.admin.dispose()


def migrate(url: str) -> None:
    engine = connect(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


# -- dripsms's import ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Imported:
    seconds: float
    report: ImportReport
    rows: dict[str, int]


def import_into(url: str, csv_path: Path, sequences: Path, engine_hook: Any = None) -> Imported:
    """``import_csv`` of the file into the database at ``url``, timed."""
    engine = connect(url)
    try:
        library = SequenceLibrary(sequences)
        enroller = Enroller(engine, library)
        if engine_hook is not None:
            engine_hook(engine)
        gc.collect()
        start = time.perf_counter()
        report = import_csv(enroller, SEQUENCE_KEY, csv_path, now=NOW)
        seconds = time.perf_counter() - start
        rows = count_rows(engine)
    finally:
        engine.dispose()
    if report.refused:
        line, field, reason = report.refused[0]
        raise SystemExit(f"{len(report.refused)} rows refused; line {line}: {field}: {reason}")
    return Imported(seconds, report, rows)


def count_rows(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            table: int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
            for table in TABLES
        }


# -- the raw peer -------------------------------------------------------------------------


Rows = list[tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class Written:
    """Every row the import wrote, by table, with its column names."""

    columns: dict[str, list[str]]
    rows: dict[str, Rows]
    versions: tuple[list[str], Rows]
    """The ``sequence_versions`` row the enrollments point to: written before the clock runs."""


def read_back(backend: Backend, url: str) -> Written:
    """The rows dripsms wrote (ids included), to write again by hand."""
    connection = backend.raw(url)
    columns: dict[str, list[str]] = {}
    rows: dict[str, Rows] = {}
    try:
        for table in ("sequence_versions", *TABLES):
            cursor = connection.execute(f"SELECT * FROM {table} ORDER BY id")
            columns[table] = [d[0] for d in cursor.description]
            rows[table] = [adapt(row) for row in cursor.fetchall()]
    finally:
        connection.close()
    versions = (columns.pop("sequence_versions"), rows.pop("sequence_versions"))
    return Written(columns, rows, versions)


def insert_statement(backend: Backend, table: str, columns: Sequence[str]) -> str:
    marks = ", ".join([backend.placeholder] * len(columns))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"


def adapt(row: Sequence[Any]) -> tuple[Any, ...]:
    """psycopg reads JSON columns as dicts; write them back as JSON."""
    if not any(isinstance(value, dict | list) for value in row):
        return tuple(row)
    from psycopg.types.json import Json

    return tuple(Json(v) if isinstance(v, dict | list) else v for v in row)


def chunks(written: Written, n: int) -> list[dict[str, Rows]]:
    """The rows of each 1,000 contacts: their contacts, enrollments, messages and events."""
    per_contact = {name: len(rows) // n for name, rows in written.rows.items()}
    for name, rows in written.rows.items():
        if len(rows) != per_contact[name] * n:
            raise SystemExit(f"{name}: {len(rows)} rows is not a whole number per contact")
    return [
        {
            table: rows[start * per_contact[table] : (start + BATCH) * per_contact[table]]
            for table, rows in written.rows.items()
        }
        for start in range(0, n, BATCH)
    ]


def raw_insert(backend: Backend, url: str, written: Written, n: int) -> float:
    """Plain driver ``executemany`` of the same rows, one transaction per 1,000 contacts."""
    statements = {
        table: insert_statement(backend, table, cols) for table, cols in written.columns.items()
    }
    batches = chunks(written, n)
    connection = backend.raw(url)
    try:
        backend.begin(connection)
        columns, rows = written.versions
        connection.cursor().executemany(
            insert_statement(backend, "sequence_versions", columns), rows
        )
        backend.commit(connection)
        gc.collect()
        start = time.perf_counter()
        for batch in batches:
            backend.begin(connection)
            cursor = connection.cursor()
            for table in TABLES:
                cursor.executemany(statements[table], batch[table])
            backend.commit(connection)
        seconds = time.perf_counter() - start
    finally:
        connection.close()
    return seconds


# -- the APScheduler peer -----------------------------------------------------------------


def send_step(message_id: int, phone: str, step_id: str) -> None:
    """What an APScheduler job would run at its time (never run here: the scheduler is paused)."""


@dataclass(frozen=True, slots=True)
class Scheduled:
    """APScheduler 3 adding one job per message: how, how many, how long, which version."""

    label: str
    jobs: int
    seconds: float
    version: str


APS_DEFAULT = 'as its documentation sets it up (`url="sqlite:///…"`: rollback journal)'
APS_WAL = "with dripsms's pragmas (WAL, `synchronous=FULL`)"


def planned_messages(url: str, contacts: int) -> list[tuple[int, datetime, str, str]]:
    """(message id, due, phone, step) of the first ``contacts`` contacts' messages."""
    path = make_url(url).database
    assert path is not None
    connection = sqlite3.connect(path)
    try:
        rows = connection.execute(
            "SELECT m.id, m.due_at, c.phone, m.step_id FROM messages m "
            "JOIN enrollments e ON e.id = m.enrollment_id JOIN contacts c ON c.id = e.contact_id "
            "WHERE c.id <= (SELECT min(id) FROM contacts) + ? - 1 ORDER BY m.id",
            (contacts,),
        ).fetchall()
    finally:
        connection.close()
    return [
        (int(id_), datetime.fromisoformat(due).replace(tzinfo=UTC), phone, step)
        for id_, due, phone, step in rows
    ]


def apscheduler_jobs(
    path: Path, messages: list[tuple[int, datetime, str, str]], *, wal: bool
) -> Scheduled:
    """APScheduler 3's ``SQLAlchemyJobStore`` on SQLite: one ``add_job`` per message, timed.

    ``wal``: the job store's engine gets dripsms's pragmas (WAL, ``synchronous=FULL``), as
    durable as dripsms and kinder than the default rollback journal. The scheduler is
    started paused, so it writes each job (one transaction each, as ``add_job`` does) and
    runs none.
    """
    try:
        import apscheduler
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
        from apscheduler.schedulers.background import BackgroundScheduler
    except ImportError as error:  # the `bench` extra: `make bench` installs it
        raise SystemExit(f"{error}: pip install -e '.[bench]' (APScheduler 3)") from error

    engine = create_engine(f"sqlite:///{path}")
    if wal:
        event.listen(engine, "connect", _aps_pragmas)
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine)}, timezone=UTC
    )
    scheduler.start(paused=True)
    try:
        gc.collect()
        start = time.perf_counter()
        for message_id, due, phone, step in messages:
            scheduler.add_job(
                send_step, "date", run_date=due, args=(message_id, phone, step),
                id=str(message_id), misfire_grace_time=3600,
            )  # fmt: skip
        seconds = time.perf_counter() - start
        stored = len(scheduler.get_jobs())
    finally:
        scheduler.shutdown(wait=False)
        engine.dispose()
    if stored != len(messages):
        raise SystemExit(f"APScheduler stored {stored} jobs of {len(messages)}")
    label = APS_WAL if wal else APS_DEFAULT
    return Scheduled(label, len(messages), seconds, apscheduler.__version__)


def _aps_pragmas(dbapi_connection: Any, _: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


def apscheduler_runs(directory: Path, url: str, contacts: int) -> list[Scheduled]:
    """Both job stores over the messages of the first ``contacts`` contacts, after a warm-up."""
    sample = planned_messages(url, contacts)
    apscheduler_jobs(directory / "aps-warmup.db", sample[:200], wal=True)
    return [
        apscheduler_jobs(directory / "aps-default.db", sample, wal=False),
        apscheduler_jobs(directory / "aps-wal.db", sample, wal=True),
    ]


def apscheduler_lines(c: Comparison, runs: list[Scheduled], aps_contacts: int) -> list[str]:
    messages = c.product.rows["messages"]
    dripsms_rate = messages / c.product.seconds
    rows = [
        [
            "**dripsms `import_csv`** (the SQLite run above: CSV, validation, planning)",
            f"{messages:,}",
            fmt(c.product.seconds, 2),
            f"**{fmt(dripsms_rate, 0)}**",
            fmt(c.product.seconds / messages * 1e6, 1),
            "",
        ]
    ]
    ratios = []
    for run in runs:
        rate = run.jobs / run.seconds
        ratios.append(f"{dripsms_rate / rate:.0f}x APScheduler {run.label.split(' (')[0]}")
        rows.append(
            [
                f"APScheduler {run.version} `SQLAlchemyJobStore` on SQLite, {run.label}",
                f"{run.jobs:,}",
                fmt(run.seconds, 2),
                fmt(rate, 0),
                fmt(run.seconds / run.jobs * 1e6, 1),
                f"**{dripsms_rate / rate:.1f}x**",
            ]
        )
    return [
        f"**dripsms enrolls {fmt(dripsms_rate, 0)} messages/s: " + "; ".join(ratios) + ".**",
        "",
        *table(
            ["what", "messages", "s", "messages/s", "µs per message", "dripsms ÷ it"],
            rows,
        ),
        "",
        f"The peer adds one `date` job per message of the first {aps_contacts:,} contacts of "
        "the same file (run date, phone and step read back from dripsms's database: it does "
        "no CSV parsing, validation or planning) to a scheduler started paused, each store in "
        "a fresh SQLite file, after a warm-up of 200 jobs. `add_job` commits each job on its "
        "own: one transaction and one disk sync per message, where dripsms commits once per "
        f"{BATCH:,} contacts. With the rollback journal a commit syncs the journal and the "
        "database file; in WAL mode it appends to the log and syncs once, so that store is "
        "several times faster, and both depend on how fast the disk syncs (a busy machine "
        "slows them far more than it slows dripsms).",
    ]


# -- where dripsms's time goes --------------------------------------------------------------


class Profile:
    """Exclusive (self) time per label, from wrappers around chosen functions."""

    def __init__(self) -> None:
        self.own: dict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self._stack: list[list[float]] = []

    def _enter(self) -> float:
        self._stack.append([0.0])
        return time.perf_counter()

    def _leave(self, label: str, start: float) -> None:
        elapsed = time.perf_counter() - start
        children = self._stack.pop()[0]
        self.own[label] += elapsed - children
        self.calls[label] += 1
        if self._stack:
            self._stack[-1][0] += elapsed

    def wrap(self, label: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = self._enter()
            try:
                return function(*args, **kwargs)
            finally:
                self._leave(label, start)

        return timed

    def wrap_execute(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """A dialect's ``do_execute``/``do_executemany``: reads, and writes by table."""

        @functools.wraps(function)
        def timed(cursor: Any, statement: str, *args: Any, **kwargs: Any) -> Any:
            start = self._enter()
            try:
                return function(cursor, statement, *args, **kwargs)
            finally:
                self._leave(driver_label(statement), start)

        return timed

    def wrap_generator(self, label: str, function: Callable[..., Any]) -> Callable[..., Any]:
        """Times each ``next()`` of the generator ``function`` returns, not its consumer."""

        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Iterator[Any]:
            items = function(*args, **kwargs)
            while True:
                start = self._enter()
                try:
                    item = next(items)
                except StopIteration:
                    return
                finally:
                    self._leave(label, start)
                yield item

        return timed


PHONE_1 = "phone parsing, 1st time (`_batch`: `normalize_phone`)"
PHONE_2 = "phone parsing, 2nd time (`prepare`: `normalize_phone` again)"
TIMELINE = "timeline planning (`plan_timeline`)"
WAITS = "blocked or planned (`waits_for`, per step)"
PREPARE = "rest of `prepare` (zone, attribute coercion, rows)"
CSV_READ = "CSV reading and checking (decoding, `csv.reader`, `EnrollmentRequest`)"
PIECES = (CSV_READ, PHONE_1, PHONE_2, TIMELINE, WAITS, PREPARE)
DB_PY = "DB, Python side: `{}`"
DB_PY_DETAIL = {
    "contacts_by_phone": " (twice per batch)",
    "upsert_contacts": " (contacts `INSERT … RETURNING`)",
    "insert_enrollments": " (enrollments `INSERT … RETURNING`, messages)",
    "record": " (events)",
}
REPOSITORY = (
    "contacts_by_phone", "active_duplicates", "ensure_version", "upsert_contacts",
    "insert_enrollments", "record",
)  # fmt: skip
DB_READ = "DB, driver: reads (`SELECT`)"
DB_WRITE = "DB, driver: `INSERT INTO {}`"
DB_BEGIN = "DB, driver: `BEGIN IMMEDIATE`"
DB_OTHER = "DB, driver: other (the sequence version's row, its savepoint)"
DB_COMMIT = "DB: `COMMIT` (fsync, `synchronous=FULL`)"


def db_label(name: str) -> str:
    return DB_PY.format(name) + DB_PY_DETAIL.get(name, "")


def driver_label(statement: str) -> str:
    words = statement.split(None, 3)
    head = words[0].upper() if words else ""
    if head == "SELECT":
        return DB_READ
    if head == "BEGIN":
        return DB_BEGIN
    if head == "INSERT" and len(words) > 2 and words[2] in TABLES:
        return DB_WRITE.format(words[2])
    return DB_OTHER


@contextmanager
def instrumented(profile: Profile) -> Iterator[Callable[[Engine], None]]:
    """Wrap the import's pieces (module attributes, restored afterwards)."""
    patches: list[tuple[Any, str, Any]] = [
        (importing, "_rows", profile.wrap_generator(CSV_READ, importing._rows)),
        (enrollment, "normalize_phone", profile.wrap(PHONE_1, enrollment.normalize_phone)),
        (enrollment, "prepare", profile.wrap(PREPARE, enrollment.prepare)),
        (planning, "normalize_phone", profile.wrap(PHONE_2, planning.normalize_phone)),
        (planning, "plan_timeline", profile.wrap(TIMELINE, planning.plan_timeline)),
        (planning, "waits_for", profile.wrap(WAITS, planning.waits_for)),
    ]
    for name in REPOSITORY:
        patches.append((repository, name, profile.wrap(db_label(name), getattr(repository, name))))
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    for owner, name, replacement in patches:
        setattr(owner, name, replacement)

    def hook(engine: Engine) -> None:
        dialect: Any = engine.dialect
        dialect.do_execute = profile.wrap_execute(dialect.do_execute)
        dialect.do_executemany = profile.wrap_execute(dialect.do_executemany)
        dialect.do_commit = profile.wrap(DB_COMMIT, dialect.do_commit)

    try:
        yield hook
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


# -- the report ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Comparison:
    backend: str
    detail: str
    product: Imported
    raw_seconds: float
    url: str = ""
    """dripsms's database (alive until the run ends)."""


def compare(
    backend: Backend, n: int, csv_path: Path, warm_csv: Path, sequences: Path
) -> Comparison:
    """dripsms's import and the raw peer, on one backend."""
    print(f"{backend.name}: warm-up import...", file=sys.stderr)
    import_into(backend.fresh("warmup"), warm_csv, sequences)
    print(f"{backend.name}: dripsms import of {n:,} contacts...", file=sys.stderr)
    url = backend.fresh("dripsms")
    product = import_into(url, csv_path, sequences)
    print(f"{backend.name}: raw executemany of the same rows...", file=sys.stderr)
    written = read_back(backend, url)
    raw_seconds = raw_insert(backend, backend.fresh("raw"), written, n)
    detail = backend.settings() if isinstance(backend, PostgresBackend) else ""
    return Comparison(backend.name, detail, product, raw_seconds, url)


def comparison_lines(c: Comparison, n: int) -> list[str]:
    rows_total = sum(c.product.rows.values())
    dripsms_rate, raw_rate = n / c.product.seconds, n / c.raw_seconds
    ratio = c.product.seconds / c.raw_seconds
    what = "plain `sqlite3`" if c.backend == "SQLite" else "plain `psycopg`"
    peers = [
        [
            "**dripsms `import_csv`**",
            fmt(c.product.seconds, 2),
            f"**{fmt(dripsms_rate, 0)}**",
            fmt(c.product.seconds / n * 1e6, 1),
            fmt(rows_total / c.product.seconds, 0),
            f"**{ratio:.1f}x**",
        ],
        [
            f"{what} `executemany` of the same rows",
            fmt(c.raw_seconds, 2),
            fmt(raw_rate, 0),
            fmt(c.raw_seconds / n * 1e6, 1),
            fmt(rows_total / c.raw_seconds, 0),
            "1.0x",
        ],
    ]
    return [
        f"**{c.backend}: dripsms {fmt(dripsms_rate, 0)} contacts/s vs raw {fmt(raw_rate, 0)} "
        f"contacts/s: the import takes {ratio:.1f}x the time of writing its rows by hand "
        f"(the writes alone are {c.raw_seconds / c.product.seconds:.0%} of it).**",
        "",
        *table(
            ["what", "s", "contacts/s", "µs per contact", "rows/s", "x raw"],
            peers,
        ),
    ]


def breakdown_lines(profile: Profile, total: float, n: int) -> list[str]:
    python_db = [db_label(name) for name in REPOSITORY]
    writes = [DB_WRITE.format(table) for table in TABLES]
    driver = [DB_READ, *writes, DB_BEGIN, DB_OTHER]
    order = [*PIECES, *python_db, *driver, DB_COMMIT]
    accounted = sum(profile.own.get(label, 0.0) for label in order)
    rest = "rest: batching, transactions, glue (by difference)"
    rows = [
        ["**`import_csv` (whole, instrumented)**", "", fmt(total), fmt(total / n * 1e6, 1), "100%"]
    ]
    for label in [*order, rest]:
        if label != rest and label not in profile.own:
            continue
        seconds = total - accounted if label == rest else profile.own[label]
        calls = profile.calls[label]
        rows.append(
            [
                label,
                f"{calls:,}" if calls else "",
                fmt(seconds),
                fmt(seconds / n * 1e6, 1),
                f"{seconds / total:.0%}",
            ]
        )

    def share(labels: Sequence[str]) -> str:
        return f"{sum(profile.own.get(label, 0.0) for label in labels) / total:.0%}"

    return [
        *table(["piece (self time)", "calls", "s", "µs per contact", "share"], rows),
        "",
        f"In short: phone parsing {share([PHONE_1, PHONE_2])} (half of it the second parse "
        f"of the same number), timeline planning {share([TIMELINE, WAITS])} (of which "
        f"`waits_for` {share([WAITS])}), the database {share([*python_db, *driver, DB_COMMIT])} "
        f"(Python side {share(python_db)}, driver {share(driver)}, commits "
        f"{share([DB_COMMIT])}), CSV and the rest of `prepare` {share([CSV_READ, PREPARE])}.",
    ]


def run(n: int, seed: int, postgres: str | None, aps_n: int = 0) -> list[str]:
    started = time.perf_counter()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    backends: list[Backend] = []
    comparisons: list[Comparison] = []
    with tempfile.TemporaryDirectory(prefix="dripsms-import-bench-") as tmp:
        directory = Path(tmp)
        sequences = directory / "sequences"
        sequences.mkdir()
        shutil.copy(ROOT / SEQUENCE_FILE, sequences / SEQUENCE_FILE.name)
        csv_path, warm_csv = directory / "contacts.csv", directory / "warmup.csv"
        print(f"writing {n:,} contacts to a CSV file...", file=sys.stderr)
        write_csv(csv_path, n, seed)
        write_csv(warm_csv, min(n, 2 * BATCH), seed + 7)
        sqlite = SQLiteBackend(directory)
        backends.append(sqlite)
        try:
            comparisons.append(compare(sqlite, n, csv_path, warm_csv, sequences))
            print("SQLite: instrumented import (where the time goes)...", file=sys.stderr)
            profile = Profile()
            with instrumented(profile) as hook:
                traced = import_into(sqlite.fresh("traced"), csv_path, sequences, hook)
            aps: list[Scheduled] = []
            if aps_n:
                print(f"APScheduler: a job per message of {aps_n:,} contacts...", file=sys.stderr)
                aps = apscheduler_runs(directory, comparisons[0].url, aps_n)
            if postgres is not None:
                pg = PostgresBackend(postgres)
                backends.append(pg)
                comparisons.append(compare(pg, n, csv_path, warm_csv, sequences))
        finally:
            for backend in backends:
                backend.close()
    elapsed = time.perf_counter() - started

    sqlite_run = comparisons[0]
    rows = sqlite_run.product.rows
    now = system_clock()
    command = f".venv/bin/python bench/import_bench.py --n {n} --aps-n {aps_n}"
    if postgres is not None:
        command += " --postgres"
    lines = [
        SECTION,
        "",
        f"Run {now:%Y-%m-%d %H:%M} UTC on {cores()} cores ({cpu_model()}), "
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"SQLite {sqlite3.sqlite_version}, {platform.platform()}, load average "
        f"{load:.1f} at the start. Reproduce: "
        f"`{command} --write` (`make bench` prints the same tables without writing).",
        "",
        f"Workload: `import_csv` of a generated CSV of {n:,} contacts (`random.Random({seed})`; "
        f"columns phone,timezone,first_name,surgery_date; valid US numbers in {len(AREAS)} area "
        f"codes written three ways, {len(ZONES)} US zones, surgery dates over a year) into "
        f"`{SEQUENCE_FILE}` ({SEQUENCE_KEY}, 5 steps), in batches of {BATCH:,} contacts (one "
        f"transaction each), on a fresh database. It wrote {rows['contacts']:,} contacts, "
        f"{rows['enrollments']:,} enrollments, {rows['messages']:,} messages and "
        f"{rows['events']:,} events ({sum(rows.values()):,} rows). SQLite as dripsms configures "
        "it: WAL, `synchronous=FULL`, foreign keys on. The peer writes exactly those rows "
        "(read back from dripsms's database, ids included) into an identical fresh database "
        "(the same migration: same tables, indexes and partial unique index) with one "
        f"`executemany` per table per {BATCH:,} contacts, `BEGIN IMMEDIATE` … `COMMIT`, the same "
        "pragmas. One timed run each (`time.perf_counter`), after a warm-up import of "
        f"{min(n, 2 * BATCH):,} contacts into another database.",
        "",
        "### dripsms vs raw `executemany`, measured in the same run",
        "",
    ]
    lines += comparison_lines(sqlite_run, n)
    lines += [
        "",
        "### Where dripsms's import time goes (SQLite)",
        "",
        "A second import of the same file into another fresh database, with timers around "
        "the pieces (module functions wrapped for this run only; self time, nested calls "
        f"subtracted). It took {fmt(traced.seconds)} s, against "
        f"{fmt(sqlite_run.product.seconds)} s for the untimed import above (the timers' cost "
        "and run-to-run noise).",
        "",
    ]
    lines += breakdown_lines(profile, traced.seconds, n)
    if aps:
        lines += [
            "",
            "### dripsms vs APScheduler 3, measured in the same run",
            "",
            *apscheduler_lines(sqlite_run, aps, aps_n),
        ]
    if len(comparisons) > 1:
        pg_run = comparisons[1]
        lines += [
            "",
            "### PostgreSQL",
            "",
            f"The same comparison on the throwaway server of `scripts/test-postgres.sh` "
            f"({pg_run.detail}, loopback): **not durable** (fsync off), so both figures are "
            "optimistic and only their ratio means anything. The peer is `psycopg` "
            "`executemany` of the same rows, one transaction per 1,000 contacts.",
            "",
        ]
        lines += comparison_lines(pg_run, n)
    lines += ["", f"The whole benchmark took {elapsed:.0f} s.", ""]
    return lines


def postgres_url(given: str) -> str:
    if given:
        return given
    done = subprocess.run(
        [str(ROOT / "scripts" / "test-postgres.sh")], capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise SystemExit(f"scripts/test-postgres.sh failed: {done.stderr.strip()[-500:]}")
    return done.stdout.strip().splitlines()[-1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=100_000, help="contacts to import")
    parser.add_argument("--seed", type=int, default=20261201, help="seed of the CSV file")
    parser.add_argument(
        "--postgres", nargs="?", const="", default=None, metavar="URL",
        help="also on PostgreSQL (no URL: the server of scripts/test-postgres.sh)",
    )  # fmt: skip
    parser.add_argument(
        "--aps-n", type=int, default=1_000, metavar="N",
        help="contacts whose messages APScheduler adds as jobs (0: skip that peer)",
    )  # fmt: skip
    parser.add_argument("--write", action="store_true", help=f"update {SECTION!r} in results.md")
    args: Any = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be at least 1")
    if not 0 <= args.aps_n <= args.n:
        parser.error("--aps-n must be between 0 and --n")
    postgres = None if args.postgres is None else postgres_url(args.postgres)
    section = run(args.n, args.seed, postgres, args.aps_n)
    print("\n".join(section))
    if args.write:
        write_section(SECTION, section)
        print(f"wrote {SECTION!r} to {RESULTS.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
