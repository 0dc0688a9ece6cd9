"""The outbox: claiming due messages with a lease and a fence, and fenced state changes.

A claim bumps the message's ``fence``. Every later write by the claimer names that fence
in its WHERE clause, so a dispatcher that wakes after its lease expired (and another took
the message) writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update

from dripsms.core.states import EnrollmentState, MessageKind, MessageState, ReplyKind, transition
from dripsms.store import held
from dripsms.store.events import event_row, record
from dripsms.store.tables import contacts, enrollments, messages, replies, sequence_versions

S = MessageState
m = messages.c
MAX_ERROR_TEXT = 500
"""Characters of an error's text a message row keeps."""


def error_text(error: BaseException) -> str:
    """What a message row keeps of ``error``: its text, at most :data:`MAX_ERROR_TEXT`."""
    return str(error)[:MAX_ERROR_TEXT]


@dataclass(frozen=True, slots=True)
class Claimed:
    """A message a dispatcher owns until ``lease_expires_at``, with what it needs to send it."""

    id: int
    fence: int
    previous_state: S
    step_id: str
    due_at: datetime | None
    attempts: int
    body: str | None
    attempt_started_at: datetime | None
    enrollment_id: int
    enrollment_state: EnrollmentState
    enrollment_attributes: dict[str, Any]
    external_id: str
    enrolled_at: datetime
    timezone: str
    contact_id: int
    phone: str
    contact_attributes: dict[str, Any]
    opted_out_at: datetime | None
    sequence_key: str
    sequence_digest: str
    sequence_text: str
    kind: MessageKind = MessageKind.STEP
    """``step``, or ``text``: a body written already (a rule's send, a staff alert)."""


def scheduled_count(connection: Connection, now: datetime) -> int:
    """Messages Twilio holds for us now (or may: a create in flight). A scheduled message
    whose SendAt has passed has been released, and no longer takes a slot.

    Maintained, not counted: see :mod:`dripsms.store.held` (O(changes since the last fold
    plus the scheduled messages due in the recent past), whatever the number held)."""
    return held.held(connection, now)


def fold_held(connection: Connection) -> None:
    """Tidy the log behind :func:`scheduled_count` (an idle pass's one write, when due)."""
    held.fold_when_long(connection)


def anything_due(connection: Connection, *, now: datetime, until: datetime) -> bool:
    """Whether :func:`claim_due` could find anything by ``until``: a planned message due
    (its retry time come), or a handoff whose lease ran out. Two index ranges that read
    only due rows (and the few handoffs in flight): an idle pass stops here."""
    # In index order with a limit, not EXISTS: PostgreSQL's planner, expecting due rows
    # among the planned ones, would otherwise read the whole table looking for one.
    planned = (
        select(m.id)
        .where(
            m.state == S.PLANNED.value,
            m.due_at <= until,
            or_(m.next_attempt_at.is_(None), m.next_attempt_at <= now),
        )
        .order_by(m.state, m.due_at)
        .limit(1)
        .scalar_subquery()
    )
    stale = (
        select(m.id)
        .where(m.state == S.HANDING_OFF.value, m.lease_expires_at < now)
        .order_by(m.state, m.due_at)
        .limit(1)
        .scalar_subquery()
    )
    found = connection.execute(select(planned, stale)).one()
    return found[0] is not None or found[1] is not None


def _claim(
    connection: Connection,
    condition: Any,
    *,
    now: datetime,
    limit: int,
    owner: str,
    lease: timedelta,
) -> list[tuple[int, int, str]]:
    if limit <= 0:
        return []
    # Choose first, then update exactly those: as ``id IN (subquery ... LIMIT)``,
    # PostgreSQL may run the subquery once per row scanned and claim far more than ``limit``.
    chosen = list(
        connection.execute(
            select(m.id)
            .where(condition)
            .order_by(m.due_at, m.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).scalars()
    )
    if not chosen:
        return []
    rows = connection.execute(
        update(messages)
        .where(m.id.in_(chosen), condition)
        .values(
            state=S.HANDING_OFF.value,
            fence=m.fence + 1,
            lease_owner=owner,
            lease_expires_at=now + lease,
            updated_at=now,
        )
        .returning(m.id, m.fence, m.state)
    ).all()
    return [(row.id, row.fence, row.state) for row in rows]


def claim_due(
    connection: Connection,
    *,
    now: datetime,
    until: datetime,
    limit: int,
    owner: str,
    lease: timedelta,
    stale: bool = True,
) -> list[Claimed]:
    """Claim planned messages due by ``until`` (earliest first) and, with ``stale``, messages
    whose previous claimer's lease ran out mid-handoff (they need reconciling)."""
    claimed: list[tuple[int, int, S]] = []
    if stale:
        expired = and_(m.state == S.HANDING_OFF.value, m.lease_expires_at < now)
        for id_, fence, _ in _claim(
            connection, expired, now=now, limit=limit, owner=owner, lease=lease
        ):
            claimed.append((id_, fence, S.HANDING_OFF))
    due = and_(
        m.state == S.PLANNED.value,
        m.due_at <= until,
        or_(m.next_attempt_at.is_(None), m.next_attempt_at <= now),
        # A paused enrollment's steps wait for its resume (texts written already still go).
        or_(m.kind != MessageKind.STEP.value, m.enrollment_id.not_in(_paused())),
    )
    for id_, fence, _ in _claim(
        connection, due, now=now, limit=limit - len(claimed), owner=owner, lease=lease
    ):
        claimed.append((id_, fence, S.PLANNED))
    return _load(connection, claimed)


def _paused() -> Any:
    """Ids of the enrollments paused from the console."""
    return select(enrollments.c.id).where(enrollments.c.paused_at.is_not(None))


def _load(connection: Connection, claimed: list[tuple[int, int, S]]) -> list[Claimed]:
    if not claimed:
        return []
    by_id = {id_: (fence, previous) for id_, fence, previous in claimed}
    e, c, v = enrollments.c, contacts.c, sequence_versions.c
    query = (
        select(
            m.id,
            m.step_id,
            m.due_at,
            m.attempts,
            m.body,
            m.attempt_started_at,
            e.id.label("enrollment_id"),
            e.state.label("enrollment_state"),
            e.attributes.label("enrollment_attributes"),
            e.external_id,
            e.enrolled_at,
            e.timezone,
            c.id.label("contact_id"),
            # A staff alert goes to its own number; everything else to the contact.
            func.coalesce(m.to_phone, c.phone).label("phone"),
            m.kind,
            c.attributes.label("contact_attributes"),
            c.opted_out_at,
            v.key.label("sequence_key"),
            v.digest,
            v.text,
        )
        .join(enrollments, e.id == m.enrollment_id)
        .join(contacts, c.id == e.contact_id)
        .join(sequence_versions, v.id == e.sequence_version_id)
        .where(m.id.in_(list(by_id)))
        .order_by(m.due_at, m.id)
    )
    result = []
    for row in connection.execute(query):
        fence, previous = by_id[row.id]
        result.append(
            Claimed(
                id=row.id,
                fence=fence,
                previous_state=previous,
                step_id=row.step_id,
                due_at=row.due_at,
                attempts=row.attempts,
                body=row.body,
                attempt_started_at=row.attempt_started_at,
                enrollment_id=row.enrollment_id,
                enrollment_state=EnrollmentState(row.enrollment_state),
                enrollment_attributes=dict(row.enrollment_attributes),
                external_id=row.external_id,
                enrolled_at=row.enrolled_at,
                timezone=row.timezone,
                contact_id=row.contact_id,
                phone=row.phone,
                contact_attributes=dict(row.contact_attributes),
                opted_out_at=row.opted_out_at,
                sequence_key=row.sequence_key,
                sequence_digest=row.digest,
                sequence_text=row.text,
                kind=MessageKind(row.kind),
            )
        )
    return result


def replies_of(connection: Connection, enrollment_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """The matched replies of these enrollments: enrollment → step → parsed value."""
    ids = list(set(enrollment_ids))
    found: dict[int, dict[str, Any]] = {i: {} for i in ids}
    if not ids:
        return found
    r = replies.c
    query = (
        select(r.enrollment_id, r.step_id, r.value)
        .where(r.enrollment_id.in_(ids), r.kind == ReplyKind.MATCHED.value)
        .order_by(r.received_at)
    )
    for row in connection.execute(query):
        found[row.enrollment_id][row.step_id] = row.value
    return found


def move(
    connection: Connection,
    message_id: int,
    *,
    fence: int | None,
    source: S | Iterable[S],
    target: S,
    now: datetime,
    cause: str,
    detail: Mapping[str, Any] | None = None,
    **values: Any,
) -> bool:
    """Move one message from ``source`` to ``target`` (fenced when ``fence`` is given).

    Returns False, and writes nothing, when the message is no longer in ``source`` or
    another claimer has taken it (its fence moved on).
    """
    sources = [source] if isinstance(source, MessageState) else list(source)
    for state in sources:
        transition(state, target)  # a programming error, not a race: raise at once
    condition = [m.id == message_id, m.state.in_([s.value for s in sources])]
    if fence is not None:
        condition.append(m.fence == fence)
    changed = connection.execute(
        update(messages)
        .where(*condition)
        .values(state=target.value, updated_at=now, **values)
        .returning(m.state)
    ).all()
    if not changed:
        return False
    record(
        connection,
        [
            event_row(
                now,
                "message",
                cause,
                message_id=message_id,
                from_state=sources[0].value if len(sources) == 1 else None,
                to_state=target.value,
                detail=detail,
            )
        ],
    )
    return True


def known_sids(connection: Connection, sids: Iterable[str]) -> set[str]:
    """Which of these SIDs are already tied to a message."""
    wanted = list(set(sids))
    if not wanted:
        return set()
    return set(connection.execute(select(m.sid).where(m.sid.in_(wanted))).scalars())


def cancel_requests(connection: Connection, *, limit: int) -> list[tuple[int, str, int]]:
    """Scheduled messages that must no longer go out: (id, sid, fence)."""
    rows = connection.execute(
        select(m.id, m.sid, m.fence)
        .where(
            m.cancel_requested_at.is_not(None),
            m.state == S.SCHEDULED.value,
            m.sid.is_not(None),
        )
        .order_by(m.cancel_requested_at)
        .limit(limit)
    )
    return [(row.id, row.sid, row.fence) for row in rows]


@dataclass(frozen=True, slots=True)
class Blocked:
    """A blocked message with a due time, and its enrollment's steps and replies."""

    id: int
    step_id: str
    enrollment_id: int
    sequence_key: str
    sequence_digest: str
    sequence_text: str


def blocked_due(connection: Connection, *, until: datetime, limit: int) -> list[Blocked]:
    """Blocked messages due by ``until``, earliest first."""
    e, v = enrollments.c, sequence_versions.c
    rows = connection.execute(
        select(m.id, m.step_id, m.enrollment_id, v.key, v.digest, v.text)
        .join(enrollments, e.id == m.enrollment_id)
        .join(sequence_versions, v.id == e.sequence_version_id)
        .where(m.state == S.BLOCKED.value, m.due_at.is_not(None), m.due_at <= until)
        .order_by(m.due_at, m.id)
        .limit(limit)
    )
    return [Blocked(*row) for row in rows]


StepRow = tuple[str, datetime | None, datetime | None]
"""(state, due_at, reply window closed at) of one message."""


def steps_of(
    connection: Connection, enrollment_ids: Iterable[int]
) -> dict[int, dict[str, StepRow]]:
    """enrollment → step → (state, due_at, closed_at) for every message of these enrollments."""
    ids = list(set(enrollment_ids))
    found: dict[int, dict[str, StepRow]] = {i: {} for i in ids}
    if ids:
        rows = connection.execute(
            select(m.enrollment_id, m.step_id, m.state, m.due_at, m.no_reply_handled_at).where(
                m.enrollment_id.in_(ids)
            )
        )
        for row in rows:
            found[row.enrollment_id][row.step_id] = (row.state, row.due_at, row.no_reply_handled_at)
    return found
