"""Dispatcher heartbeats: each worker's last good pass, kept in ``cursors`` so that a
``dripsms serve`` with no dispatcher of its own can say how the workers are doing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update

from dripsms.store.tables import cursors

PREFIX = "dispatcher:"
FORGET_AFTER = timedelta(days=7)
"""A worker not heard from for this long is forgotten (its row is deleted)."""


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """A worker's last report."""

    owner: str
    at: datetime
    """When it last finished a good pass."""
    details: dict[str, Any]

    def as_json(self, now: datetime) -> dict[str, Any]:
        """For ``/healthz``."""
        return {
            "owner": self.owner,
            "last_pass_at": self.at.isoformat().replace("+00:00", "Z"),
            "seconds_since_pass": round((now - self.at).total_seconds(), 1),
            **self.details,
        }


def record(engine: Engine, owner: str, details: dict[str, Any], *, now: datetime) -> None:
    """Write ``owner``'s heartbeat at ``now``; forget workers silent for a week."""
    name = (PREFIX + owner)[:64]
    value = json.dumps(details, default=str)
    with engine.begin() as connection:
        done = connection.execute(
            update(cursors).where(cursors.c.name == name).values(value=value, updated_at=now)
        )
        if done.rowcount == 0:
            connection.execute(insert(cursors).values(name=name, value=value, updated_at=now))
        connection.execute(
            delete(cursors).where(
                cursors.c.name.startswith(PREFIX), cursors.c.updated_at < now - FORGET_AFTER
            )
        )


def recent(connection: Connection, limit: int = 20) -> list[Heartbeat]:
    """The workers' heartbeats, the latest first."""
    rows = connection.execute(
        select(cursors.c.name, cursors.c.value, cursors.c.updated_at)
        .where(cursors.c.name.startswith(PREFIX))
        .order_by(cursors.c.updated_at.desc())
        .limit(limit)
    ).all()
    beats = []
    for name, value, at in rows:
        try:
            details = json.loads(value)
        except ValueError:
            details = {}
        beats.append(Heartbeat(name.removeprefix(PREFIX), at, details))
    return beats
