"""A sequence's replies as CSV, written as they are read (memory stays bounded however many).

Every cell is quoted (RFC 4180) and neutralised against formula injection
(:func:`dripsms.core.spreadsheet.neutralise`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Engine

from dripsms.core.spreadsheet import neutralise
from dripsms.store.funnel import ExportedReply, replies_for_export

HEADER = (
    "received_at_utc", "received_at_local", "timezone", "phone", "enrollment_id", "step",
    "kind", "value", "body",
)  # fmt: skip
ROWS_PER_CHUNK = 200


def value_cell(value: Any) -> str:
    """A parsed reply value as text: ``8``, ``yes``/``no``, ``hip``; nothing when none (the
    CSV's cell, the sequence page's value bars, the contact page's attributes)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _zone(name: str) -> ZoneInfo:
    """The enrollment's zone (validated when it enrolled); UTC if this system lacks it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def cells(reply: ExportedReply) -> list[str]:
    """One reply as the CSV's row, every cell neutralised."""
    local = reply.received_at.astimezone(_zone(reply.timezone))
    row = [
        reply.received_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        local.isoformat(timespec="seconds"),
        reply.timezone,
        reply.phone,
        str(reply.enrollment_id),
        reply.step or "",
        reply.kind,
        value_cell(reply.value),
        reply.body,
    ]
    return [neutralise(cell) for cell in row]


def csv_lines(replies: Iterable[ExportedReply]) -> Iterator[str]:
    """The header, then the replies, a chunk of rows at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(HEADER)
    for count, reply in enumerate(replies, start=1):
        writer.writerow(cells(reply))
        if count % ROWS_PER_CHUNK == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def export_replies(engine: Engine, key: str) -> Iterator[str]:
    """The CSV of ``key``'s replies, read from the database as it is sent."""
    with engine.connect() as connection:
        yield from csv_lines(replies_for_export(connection, key))
