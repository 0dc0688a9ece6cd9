"""Idempotency keys of the API: the first answer to a key, kept to be given again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.exc import IntegrityError

from dripsms.errors import InvalidInput
from dripsms.store.tables import idempotency_keys


class KeyReused(InvalidInput):
    """An ``Idempotency-Key`` already answered a different request body."""

    field = "Idempotency-Key"

    def __init__(self) -> None:
        super().__init__("this Idempotency-Key was used with a different body")


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """The answer first given to a key."""

    status: int
    body: Any


def stored_answer(connection: Connection, key: str, request_hash: str) -> StoredAnswer | None:
    """The answer given to ``key`` before, if any; :class:`KeyReused` when that answer was
    to a request with another hash."""
    k = idempotency_keys.c
    row = connection.execute(select(idempotency_keys).where(k.key == key)).first()
    if row is None:
        return None
    if row.request_hash != request_hash:
        raise KeyReused
    return StoredAnswer(row.status, row.response)


def remember_answer(
    engine: Engine, key: str, request_hash: str, answer: StoredAnswer, *, at: datetime
) -> bool:
    """Keep ``answer`` for ``key``; False when a concurrent request with the key kept its own
    first (the enrollment of this one was refused: an active duplicate)."""
    try:
        with engine.begin() as connection:
            connection.execute(
                insert(idempotency_keys).values(
                    key=key, request_hash=request_hash, status=answer.status,
                    response=answer.body, created_at=at,
                )
            )  # fmt: skip
    except IntegrityError:
        return False
    return True
