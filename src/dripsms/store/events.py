"""The append-only event log: every state change with its cause."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert

from dripsms.store.tables import events


def event_row(
    at: datetime,
    kind: str,
    cause: str,
    *,
    contact_id: int | None = None,
    enrollment_id: int | None = None,
    message_id: int | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One event as a row to insert."""
    return {
        "at": at,
        "kind": kind,
        "cause": cause,
        "contact_id": contact_id,
        "enrollment_id": enrollment_id,
        "message_id": message_id,
        "from_state": from_state,
        "to_state": to_state,
        "detail": dict(detail) if detail else None,
    }


def record(connection: Connection, rows: Iterable[dict[str, Any]]) -> None:
    """Append events (in the caller's transaction, so they commit with the change)."""
    batch = list(rows)
    if batch:
        connection.execute(insert(events), batch)
