"""Migration 0005: the claim-hot tables' storage parameters on PostgreSQL (SQLite has none,
and migrates through it unchanged: tests/migrations/test_migrations.py)."""

from __future__ import annotations

from sqlalchemy import Engine, text

from dripsms.store.database import connect, downgrade, upgrade


def _options(engine: Engine, table: str) -> set[str]:
    query = text("SELECT reloptions FROM pg_class WHERE relname = :table AND relkind = 'r'")
    with engine.connect() as connection:
        return set(connection.execute(query, {"table": table}).scalar_one() or [])


def test_messages_keep_room_for_hot_updates_and_are_vacuumed_early(postgres_url: str) -> None:
    engine = connect(postgres_url)
    upgrade(engine)
    assert {
        "fillfactor=70",
        "autovacuum_vacuum_scale_factor=0.02",
        "autovacuum_analyze_scale_factor=0.02",
    } <= _options(engine, "messages")
    assert "fillfactor=50" in _options(engine, "cursors")
    assert "autovacuum_vacuum_scale_factor=0.05" in _options(engine, "notifications")
    downgrade(engine, "0005-1")  # the defaults again
    assert _options(engine, "messages") == set() == _options(engine, "cursors")
    upgrade(engine)
    assert "fillfactor=70" in _options(engine, "messages")
    engine.dispose()
