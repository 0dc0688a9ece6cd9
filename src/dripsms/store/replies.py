"""Questions and their reply windows: the one rule of when a window is open.

A *question* is a sent step message whose step expects a reply. Its window **opens** when
the message actually went out: its ``SendAt`` for a scheduled message, the handoff time
(``attempt_started_at``) for one sent at once — never later because a status callback is
late or lost. It lasts the step's ``window``. It **closes** early when the question is
answered (once, unless the step takes ``answers: many``) or given up (reprompts ran out);
``messages.no_reply_handled_at`` records that close, whoever made it.

Reply matching, the no-reply timers, the release of steps waiting on a reply and
enrollment completion all ask these functions, so they never disagree.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    bindparam,
    exists,
    func,
    insert,
    literal_column,
    not_,
    or_,
    select,
    update,
)

from dripsms.core.sequence.model import Sequence, Step
from dripsms.core.states import (
    SENT_QUESTION,
    EnrollmentState,
    MessageKind,
    MessageState,
    ReplyKind,
)
from dripsms.store.tables import (
    contacts,
    cursors,
    enrollments,
    messages,
    replies,
    sequence_versions,
)

S = MessageState
m = messages.c
QUESTION_STATES = SENT_QUESTION
"""A step message in one of these went out (or will, at its SendAt)."""

Pinned = Callable[[str, str, str], Sequence]
"""(digest, text, key) → the enrollment's pinned sequence version."""

OPENED_AT: ColumnElement[datetime] = func.coalesce(
    m.send_at, m.attempt_started_at, m.sent_at, m.due_at
)
"""When a question's window opened: SendAt, else the handoff time (fallbacks for rows
handed off before either was recorded)."""


@dataclass(frozen=True, slots=True)
class Question:
    """A sent question of an enrollment, and the state of its reply window."""

    message_id: int
    enrollment_id: int
    enrollment_state: EnrollmentState
    contact_id: int
    phone: str
    step: Step
    sequence: Sequence
    opened_at: datetime
    closed_at: datetime | None
    """Set once the window closed early (answered, given up) or its close was handled."""
    answered: bool
    """A reply was matched to it (its rules ran)."""

    @property
    def window(self) -> timedelta:
        """How long the window lasts."""
        assert self.step.expect_reply is not None
        return self.step.expect_reply.window

    @property
    def closes_at(self) -> datetime:
        """When the window closes by itself."""
        return self.opened_at + self.window

    def is_open(self, at: datetime) -> bool:
        """THE rule: a reply at ``at`` answers this question."""
        return self.closed_at is None and self.opened_at <= at < self.closes_at

    def has_elapsed(self, at: datetime) -> bool:
        """The window has run its full length by ``at``."""
        return at >= self.closes_at


def _among(column: ColumnElement[str], values: Iterable[str]) -> ColumnElement[bool]:
    """``column IN ('a', 'b')`` with these constants written into the SQL: nothing to
    expand at each execution (they are state names, never anyone's input)."""
    names = list(values)
    if not all(_NAME.fullmatch(name) for name in names):
        raise ValueError(f"not a state name: {names!r}")
    return column.in_([literal_column(f"'{name}'") for name in names])


_NAME = re.compile(r"[a-z_]+")


def _answered() -> ColumnElement[bool]:
    r = replies.c
    return exists().where(
        r.enrollment_id == m.enrollment_id,
        r.step_id == m.step_id,
        r.kind == ReplyKind.MATCHED.value,
    )


def _asked(*conditions: ColumnElement[bool], limit: int | None = None) -> Select[Any]:
    e, c, v = enrollments.c, contacts.c, sequence_versions.c
    query = (
        select(
            m.id,
            m.step_id,
            OPENED_AT.label("opened_at"),
            m.no_reply_handled_at,
            e.id.label("eid"),
            e.state.label("estate"),
            c.id.label("cid"),
            c.phone,
            v.key,
            v.digest,
            v.text,
            _answered().label("answered"),
        )
        .join(enrollments, e.id == m.enrollment_id)
        .join(contacts, c.id == e.contact_id)
        .join(sequence_versions, v.id == e.sequence_version_id)
        .where(
            m.kind == MessageKind.STEP.value,
            _among(m.state, [s.value for s in QUESTION_STATES]),
            *conditions,
        )
        .order_by(OPENED_AT, m.id)
    )
    return query.limit(limit) if limit is not None else query


def _question(row: Any, sequence: Sequence, step: Step) -> Question:
    return Question(
        row.id, row.eid, EnrollmentState(row.estate), row.cid, row.phone, step, sequence,
        row.opened_at, row.no_reply_handled_at, bool(row.answered),
    )  # fmt: skip


def _questions(
    connection: Connection, pinned: Pinned, query: Select[Any], values: dict[str, Any]
) -> list[Question]:
    found = []
    for row in connection.execute(query, values):
        sequence = pinned(row.digest, row.text, row.key)
        step = sequence.step(row.step_id)
        if step.expect_reply is not None and row.opened_at is not None:
            found.append(_question(row, sequence, step))
    return found


_OF_PHONE = _asked(
    contacts.c.phone == bindparam("phone"),
    _among(enrollments.c.state, [EnrollmentState.ACTIVE.value, EnrollmentState.COMPLETED.value]),
)
"""Built once: an inbound text runs it with its sender's phone."""


def questions_of(connection: Connection, pinned: Pinned, *, phone: str) -> list[Question]:
    """Every question of ``phone``'s active and completed enrollments, oldest first (for
    matching: a completed enrollment's questions are all closed, but a text after its
    last answer is still that answer's follow-up)."""
    return _questions(connection, pinned, _OF_PHONE, {"phone": phone})


def open_questions(
    connection: Connection, pinned: Pinned, *, phone: str, at: datetime
) -> list[Question]:
    """The questions a reply from ``phone`` at ``at`` may answer, most recently opened first."""
    return open_among(questions_of(connection, pinned, phone=phone), at)


def open_among(asked: Iterable[Question], at: datetime) -> list[Question]:
    """Those of ``asked`` (active enrollments only) a reply at ``at`` may answer, most
    recently opened first: the first one is the question it answers."""
    found = [q for q in asked if q.enrollment_state == EnrollmentState.ACTIVE and q.is_open(at)]
    return sorted(found, key=lambda q: q.opened_at, reverse=True)


def unclosed(
    connection: Connection,
    pinned: Pinned,
    *,
    at: datetime,
    due_by: datetime,
    limit: int,
    offset: int = 0,
) -> tuple[list[Question], list[tuple[int, int]]]:
    """Sent step messages whose window is not closed yet, opened by ``at``, oldest first:
    the questions among them, and (message id, enrollment id) of the rest (steps that ask
    nothing).

    ``due_by`` bounds the due times looked at: no message due later than the provider
    window's earliest ``SendAt`` at ``at`` has gone out, so the messages Twilio holds for
    later cost nothing here; and closed windows are not in the partial index
    ``ix_messages_kind_state_due_at`` (``no_reply_handled_at IS NULL``), so the windows
    closed long ago cost nothing either.

    The page's ids come first, from ``messages`` alone; the joins follow for those ids only.
    One query joining everything lets PostgreSQL's planner, which cannot tell that the
    closed windows of the past are not among the rows, hash whole tables (every enrollment
    and contact) on every pass.
    """
    page = (
        select(m.id)
        .where(
            m.kind == MessageKind.STEP.value,
            m.state.in_([s.value for s in QUESTION_STATES]),
            m.due_at <= due_by,
            m.no_reply_handled_at.is_(None),
            # a message Twilio holds until a future SendAt has not gone out yet
            or_(m.state != S.SCHEDULED.value, m.send_at <= at, m.send_at.is_(None)),
            at >= OPENED_AT,
        )
        .order_by(OPENED_AT, m.id)
        .limit(limit)
        .offset(offset)
    )
    ids = list(connection.execute(page).scalars())
    if not ids:
        return [], []
    query = _asked(m.id.in_(ids))
    questions: list[Question] = []
    others: list[tuple[int, int]] = []
    for row in connection.execute(query):
        sequence = pinned(row.digest, row.text, row.key)
        step = sequence.step(row.step_id)
        if step.expect_reply is None:
            others.append((row.id, row.eid))
        else:
            questions.append(_question(row, sequence, step))
    return questions, others


def load_position(connection: Connection, name: str) -> tuple[int, datetime | None]:
    """A named scan position (0 when none is stored) and when it was saved."""
    row = connection.execute(
        select(cursors.c.value, cursors.c.updated_at).where(cursors.c.name == name)
    ).first()
    if row is None:
        return 0, None
    return (int(row.value) if row.value.isdigit() else 0), row.updated_at


def save_position(connection: Connection, name: str, value: int, at: datetime) -> None:
    """Store a named scan position."""
    _put_cursor(connection, name, str(value), at)


def _put_cursor(connection: Connection, name: str, value: str, at: datetime) -> None:
    changed = connection.execute(
        update(cursors).where(cursors.c.name == name).values(value=value, updated_at=at)
    ).rowcount
    if not changed:
        connection.execute(insert(cursors).values(name=name, value=value, updated_at=at))


_CLOSE = (
    update(messages)
    .where(m.id == bindparam("message_id"), m.no_reply_handled_at.is_(None))
    .values(no_reply_handled_at=bindparam("at"))
    .returning(m.id)
)


def close_question(connection: Connection, message_id: int, at: datetime) -> bool:
    """Close a question's window (answered once, given up, or elapsed); False if it was."""
    closed = connection.execute(_CLOSE, {"message_id": message_id, "at": at}).first()
    return closed is not None


def close_many(connection: Connection, message_ids: Iterable[int], at: datetime) -> None:
    """Close these windows (steps that expect no reply, enrollments no longer active)."""
    ids = list(message_ids)
    if ids:
        connection.execute(
            update(messages)
            .where(m.id.in_(ids), m.no_reply_handled_at.is_(None))
            .values(no_reply_handled_at=at)
        )


def invalid_count(connection: Connection, enrollment_id: int, step_id: str) -> int:
    """Unreadable answers to a question so far (for reprompts)."""
    r = replies.c
    return int(
        connection.execute(
            select(func.count()).where(
                r.enrollment_id == enrollment_id,
                r.step_id == step_id,
                r.kind == ReplyKind.INVALID.value,
            )
        ).scalar_one()
    )


def _left_to_send(at: Any) -> ColumnElement[bool]:
    """May still go out: not handed off yet, or held by Twilio until a SendAt to come.

    Handed to Twilio to go now (queued, sending, sent) is not "left to send": a status
    that comes later is still recorded on the message.
    """
    return or_(
        _among(m.state, [S.PLANNED.value, S.HANDING_OFF.value]),
        and_(m.state == S.BLOCKED.value, m.due_at.is_not(None)),
        and_(m.state == S.SCHEDULED.value, func.coalesce(m.send_at, m.due_at) > at),
    )


def _window_pending() -> ColumnElement[bool]:
    return and_(
        m.kind == MessageKind.STEP.value,
        _among(m.state, [s.value for s in QUESTION_STATES]),
        m.no_reply_handled_at.is_(None),
    )


def _finished_query() -> Select[Any]:
    e = enrollments.c
    busy = exists().where(
        m.enrollment_id == e.id, or_(_left_to_send(bindparam("at")), _window_pending())
    )
    return (
        select(e.id)
        .where(
            e.id.in_(bindparam("ids", expanding=True)),
            e.state == EnrollmentState.ACTIVE.value,
            not_(busy),
        )
        .where(e.paused_at.is_(None))  # paused: what it held at Twilio is planned on resume
        .order_by(e.id)
    )


_FINISHED = _finished_query()
"""Built once: every reply asks it of its enrollment."""


def finished_enrollments(
    connection: Connection, among: Iterable[int], *, at: datetime
) -> list[int]:
    """Those of ``among`` that are active with nothing left to send and no window open.

    A blocked message with no due time (a step only a ``goto`` reaches) can no longer be
    sent once no window is open: it does not keep the enrollment going.
    """
    ids = sorted(set(among))
    if not ids:
        return []
    return list(connection.execute(_FINISHED, {"ids": ids, "at": at}).scalars())


def active_enrollments_after(connection: Connection, after_id: int, limit: int) -> list[int]:
    """Ids of active enrollments above ``after_id``, in order (a rolling completion scan)."""
    e = enrollments.c
    query = (
        select(e.id)
        .where(e.state == EnrollmentState.ACTIVE.value, e.id > after_id)
        .order_by(e.id)
        .limit(limit)
    )
    return list(connection.execute(query).scalars())


# -- inbound texts ----------------------------------------------------------------------


_STORED = select(replies.c.id).where(replies.c.message_sid == bindparam("sid")).limit(1)
_STORE = insert(replies)


def reply_stored(connection: Connection, message_sid: str) -> bool:
    """Whether an inbound text with this SID was handled already."""
    return connection.execute(_STORED, {"sid": message_sid}).first() is not None


def stored_sids(connection: Connection, message_sids: Iterable[str]) -> set[str]:
    """Those of these SIDs already stored as replies."""
    sids = list(message_sids)
    if not sids:
        return set()
    query = select(replies.c.message_sid).where(replies.c.message_sid.in_(sids))
    return set(connection.execute(query).scalars())


def store_reply(connection: Connection, **values: Any) -> None:
    """Keep an inbound text and what it became (``kind``: a :class:`ReplyKind`)."""
    kind = values["kind"]
    values["kind"] = kind.value if isinstance(kind, ReplyKind) else kind
    connection.execute(_STORE, values)


def load_cursor(connection: Connection, name: str) -> datetime | None:
    """A named instant (the newest inbound text seen on a number), or None."""
    value = connection.execute(select(cursors.c.value).where(cursors.c.name == name)).scalar()
    return datetime.fromisoformat(value) if value else None


def save_cursor(connection: Connection, name: str, value: datetime, at: datetime) -> None:
    """Store a named instant."""
    _put_cursor(connection, name, value.isoformat(), at)


__all__ = [
    "OPENED_AT",
    "QUESTION_STATES",
    "Question",
    "active_enrollments_after",
    "close_question",
    "finished_enrollments",
    "load_cursor",
    "open_among",
    "open_questions",
    "questions_of",
    "reply_stored",
    "save_cursor",
    "store_reply",
    "stored_sids",
    "unclosed",
]
