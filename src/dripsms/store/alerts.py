"""Alerts: every ``notify`` a rule ran (an escalating answer, no reply, reprompts given up),
whatever the target's channels. The console's inbox and overview read them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select

from dripsms.store.tables import alerts

_RECORD = insert(alerts).returning(alerts.c.id)
"""Built once: a statement given its values as parameters skips building a bound parameter
per value, and a cache key, on every call (the same SQL, the same rows)."""


def record_alert(
    connection: Connection,
    *,
    at: datetime,
    contact_id: int,
    enrollment_id: int | None,
    step_id: str | None,
    target: str,
    reason: str,
    rule: str | None = None,
    answer: str | None = None,
    value: Any = None,
) -> int:
    """Keep one alert (in the transaction of the rule that raised it); its id."""
    return int(
        connection.execute(
            _RECORD,
            {
                "at": at,
                "contact_id": contact_id,
                "enrollment_id": enrollment_id,
                "step_id": step_id,
                "target": target[:64],
                "reason": reason[:16],
                "rule": rule,
                "answer": answer,
                "value": value,
            },
        ).scalar_one()
    )


def alerts_since(connection: Connection, since: datetime) -> int:
    """How many alerts were raised from ``since`` on."""
    query = select(func.count()).select_from(alerts).where(alerts.c.at >= since)
    return int(connection.execute(query).scalar_one())


__all__ = ["alerts_since", "record_alert"]
