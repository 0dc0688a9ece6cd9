from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from dripsms.store.database import connect, upgrade

# CI runs a fixed, reproducible set of examples; local runs keep exploring.
settings.register_profile(
    "ci", derandomize=True, max_examples=300, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)  # fmt: skip
settings.register_profile("dev", max_examples=200, deadline=None)
settings.register_profile("thorough", max_examples=5000, deadline=None)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)

REPO = Path(__file__).resolve().parents[1]
# One template per test session, so that several sessions can share one server.
TEMPLATE_DB = f"dripsms_template_{os.getpid()}"


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """A PostgreSQL server for the tests: $DRIPSMS_TEST_POSTGRES_URL, or one we start."""
    url = os.environ.get("DRIPSMS_TEST_POSTGRES_URL")
    if not url:
        started = subprocess.run(
            [str(REPO / "scripts" / "test-postgres.sh")],
            capture_output=True, text=True, check=False, timeout=600,
        )  # fmt: skip
        if started.returncode != 0:
            pytest.fail(f"cannot start the test PostgreSQL server:\n{started.stderr}")
        url = started.stdout.strip()
    return url


def _admin(url: str) -> Engine:
    return create_engine(url, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def postgres_template(postgres_admin_url: str) -> Iterator[str]:
    """A database migrated to head once per session; each test copies it."""
    admin = _admin(postgres_admin_url)
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {TEMPLATE_DB} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {TEMPLATE_DB}"))
    template_url = make_url(postgres_admin_url).set(database=TEMPLATE_DB)
    engine = connect(template_url.render_as_string(hide_password=False))
    upgrade(engine)
    engine.dispose()
    yield TEMPLATE_DB
    _drop(admin, TEMPLATE_DB)
    admin.dispose()


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """An empty database of its own for one test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = _admin(postgres_admin_url)
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    yield make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database, on each backend in turn."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'dripsms.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated database, on each backend in turn."""
    if request.param == "sqlite":
        db = connect(f"sqlite:///{tmp_path / 'dripsms.db'}")
        upgrade(db)
    else:
        template = request.getfixturevalue("postgres_template")
        admin_url = request.getfixturevalue("postgres_admin_url")
        name = f"t_{uuid.uuid4().hex[:12]}"
        admin = _admin(admin_url)
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name} TEMPLATE {template}"))
        db = connect(make_url(admin_url).set(database=name).render_as_string(hide_password=False))
        yield db
        db.dispose()
        _drop(admin, name)
        admin.dispose()
        return
    yield db
    db.dispose()


def _drop(admin: Engine, name: str) -> None:
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


# -- tiers: markers applied here, so that no test file has to name them ---------------------

POSTGRES_FIXTURES = frozenset({"postgres_url", "postgres_admin_url", "postgres_template"})
SLOW = frozenset({
    "tests/e2e/test_crash.py",
    "tests/web/test_schemathesis.py",
    "tests/unit/test_invalid_sequences.py::test_a_long_chain_of_steps_is_checked_without_recursion",
    "tests/web/test_limits.py::test_dripsms_serve_stays_small_under_repeated_50_mb_bodies",
})  # fmt: skip
"""Modules (or single tests) slow on their own: outside the fast tier even where they use
neither PostgreSQL nor the end-to-end folder."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test ``postgres``, ``e2e`` and ``slow`` from where it is and what it uses."""
    for item in items:
        path = Path(str(item.path)).resolve().relative_to(REPO).as_posix()
        callspec = getattr(item, "callspec", None)
        params = callspec.params.values() if callspec is not None else ()
        fixtures = set(getattr(item, "fixturenames", ()))
        if "postgresql" in params or fixtures & POSTGRES_FIXTURES:
            item.add_marker(pytest.mark.postgres)
        if path.startswith(("tests/e2e/", "tests/browser/")):
            item.add_marker(pytest.mark.e2e)
        if path in SLOW or item.nodeid.split("[")[0] in SLOW:
            item.add_marker(pytest.mark.slow)
