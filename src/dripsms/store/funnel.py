"""How each sequence is doing, for the console's Sequences pages: its versions and their
enrollments, per step the messages by state and the replies, and its replies for export.

One function per question; every one reads only (nothing here writes).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Text, case, cast, func, select

from dripsms.core.states import EnrollmentState, MessageKind, ReplyKind
from dripsms.store.tables import contacts, enrollments, messages, replies, sequence_versions


@dataclass(frozen=True, slots=True)
class VersionCount:
    """One stored version of a sequence, with its enrollments."""

    key: str
    digest: str
    loaded_at: datetime
    active: int
    total: int


def version_counts(connection: Connection, key: str | None = None) -> list[VersionCount]:
    """Every stored version (of ``key``, or of every sequence), with how many enrollments
    it has (``total``) and how many of them are active; by key, newest version first."""
    v, e = sequence_versions.c, enrollments.c
    active = func.sum(case((e.state == EnrollmentState.ACTIVE.value, 1), else_=0))
    query = (
        select(v.key, v.digest, v.loaded_at, func.coalesce(active, 0), func.count(e.id))
        .select_from(sequence_versions)
        .outerjoin(enrollments, e.sequence_version_id == v.id)
        .group_by(v.id, v.key, v.digest, v.loaded_at)
        .order_by(v.key, v.loaded_at.desc(), v.id.desc())
    )
    if key is not None:
        query = query.where(v.key == key)
    return [
        VersionCount(row[0], row[1], row[2], int(row[3]), int(row[4]))
        for row in connection.execute(query)
    ]


def version_text(connection: Connection, key: str, digest: str) -> str | None:
    """The stored text of one version of ``key``, or None."""
    v = sequence_versions.c
    query = select(v.text).where(v.key == key, v.digest == digest)
    text: str | None = connection.execute(query).scalar_one_or_none()
    return text


@dataclass(frozen=True, slots=True)
class StepStateCount:
    """How many of a step's messages are in ``state`` (``handed_off``: Twilio was given
    them, i.e. they have a SID)."""

    step: str
    state: str
    handed_off: bool
    count: int


def step_states(connection: Connection, key: str) -> list[StepStateCount]:
    """The step messages of every enrollment in ``key``, counted by step, state and whether
    Twilio was given them (a rule's texts and staff alerts are not steps: not counted)."""
    m, e = messages.c, enrollments.c
    handed = case((m.sid.is_not(None), 1), else_=0)
    query = (
        select(m.step_id, m.state, handed, func.count())
        .join(enrollments, e.id == m.enrollment_id)
        .where(e.sequence_key == key, m.kind == MessageKind.STEP.value)
        .group_by(m.step_id, m.state, handed)
        .order_by(m.step_id, m.state, handed)
    )
    return [
        StepStateCount(row[0], row[1], bool(row[2]), int(row[3]))
        for row in connection.execute(query)
    ]


def step_answers(connection: Connection, key: str) -> dict[str, int]:
    """Per step of ``key``: how many enrollments answered it (a readable reply, ``matched``)."""
    r, e = replies.c, enrollments.c
    query = (
        select(r.step_id, func.count(r.enrollment_id.distinct()))
        .join(enrollments, e.id == r.enrollment_id)
        .where(e.sequence_key == key, r.kind == ReplyKind.MATCHED.value, r.step_id.is_not(None))
        .group_by(r.step_id)
    )
    return {row[0]: int(row[1]) for row in connection.execute(query)}


@dataclass(frozen=True, slots=True)
class AnswerValue:
    """How many readable replies to ``step`` had ``value``."""

    step: str
    value: Any
    count: int


def answer_values(connection: Connection, key: str) -> list[AnswerValue]:
    """Per step of ``key``, the parsed values of its readable replies and how often each
    came (a JSON column has no equality in PostgreSQL: grouped by its text)."""
    r, e = replies.c, enrollments.c
    text = cast(r.value, Text)
    query = (
        select(r.step_id, text, func.count())
        .join(enrollments, e.id == r.enrollment_id)
        .where(e.sequence_key == key, r.kind == ReplyKind.MATCHED.value, r.step_id.is_not(None))
        .group_by(r.step_id, text)
    )
    values: dict[tuple[str, str], int] = {}
    for step, raw, count in connection.execute(query):
        value = None if raw is None else json.loads(raw)
        if value is None:
            continue
        # One value, one bar, whatever spacing a database kept its JSON text with.
        ident = (step, json.dumps(value, sort_keys=True))
        values[ident] = values.get(ident, 0) + int(count)
    return [
        AnswerValue(step, json.loads(ident), count)
        for (step, ident), count in sorted(values.items())
    ]


@dataclass(frozen=True, slots=True)
class ExportedReply:
    """One reply of an enrollment in a sequence, as the CSV export writes it."""

    id: int
    received_at: datetime
    timezone: str
    phone: str
    enrollment_id: int
    step: str | None
    kind: str
    value: Any
    body: str


EXPORT_BATCH = 500
"""Rows fetched from the database at a time while exporting: memory stays bounded."""


def replies_for_export(connection: Connection, key: str) -> Iterator[ExportedReply]:
    """Every reply of every enrollment in ``key``, oldest first, fetched in batches (the
    caller keeps ``connection`` open while it iterates)."""
    r, e, c = replies.c, enrollments.c, contacts.c
    query = (
        select(r.id, r.received_at, e.timezone, c.phone, e.id, r.step_id, r.kind, r.value, r.body)
        .join(enrollments, e.id == r.enrollment_id)
        .join(contacts, c.id == e.contact_id)
        .where(e.sequence_key == key)
        .order_by(r.received_at, r.id)
    )
    result = connection.execution_options(yield_per=EXPORT_BATCH).execute(query)
    for row in result:
        yield ExportedReply(*row)
