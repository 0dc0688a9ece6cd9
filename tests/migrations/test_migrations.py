"""Alembic's migrations build exactly the schema the code declares, on both backends."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from dripsms.store.database import (
    DatabaseNotReady,
    connect,
    current_revision,
    downgrade,
    ensure_ready,
    head_revision,
    upgrade,
)
from dripsms.store.tables import metadata


def test_upgrade_to_head_matches_the_tables(database_url: str) -> None:
    engine = connect(database_url)
    upgrade(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_downgrade_to_base_and_back(database_url: str) -> None:
    engine = connect(database_url)
    upgrade(engine)
    downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(engine)
    assert {"contacts", "enrollments", "messages", "events"} <= set(
        inspect(engine).get_table_names()
    )
    engine.dispose()


def test_an_unmigrated_database_is_refused_with_the_fix(database_url: str) -> None:
    engine = connect(database_url)
    with pytest.raises(DatabaseNotReady, match="run `dripsms db upgrade` first"):
        ensure_ready(engine)
    upgrade(engine)
    ensure_ready(engine)
    engine.dispose()
