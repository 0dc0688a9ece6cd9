"""The inbox: what needs a person, gathered from where it is kept, and who acknowledged or
resolved each item.

An item is named by its source and id: ``alert:12`` (a ``notify``), ``reply:7`` (an
unmatched or late reply, or one flagged as a possible opt-out), ``message:30`` (a text that
failed for good), ``notification:4`` (a notify webhook failing). Nothing is copied: the
items are one query over those tables, and ``inbox_acknowledgements`` keeps who
acknowledged (and resolved) which, by name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    String,
    Subquery,
    Text,
    and_,
    case,
    cast,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    update,
)

from dripsms.core.states import MessageState, ReplyKind
from dripsms.store.database import MAX_ID
from dripsms.store.tables import (
    alerts,
    contacts,
    enrollments,
    inbox_acknowledgements,
    messages,
    notifications,
    replies,
)

REVIEW_OPT_OUT = "possible opt-out: review"
"""The ``reason`` of a reply flagged for a person to review (the engine's
``dripsms.engine.inbound.REVIEW_OPT_OUT``; a test keeps the two equal)."""
FAILED_MESSAGES = (MessageState.FAILED, MessageState.UNDELIVERED, MessageState.LOST)
"""A text in one of these did not reach its phone and will not be tried again."""
ITEM = re.compile(r"(alert|reply|message|notification):([1-9][0-9]{0,11})")
"""The name of an inbox item."""


class ItemKind(StrEnum):
    """What an inbox item is about (the inbox's kind filter)."""

    ESCALATION = "escalation"
    """A rule's ``notify`` on an answer (e.g. pain 8/10)."""
    NO_REPLY = "no_reply"
    """A ``notify`` because a question went unanswered (no reply, or reprompts ran out)."""
    REPLY = "reply"
    """An unmatched or late reply."""
    OPT_OUT = "opt_out"
    """A reply that may revoke consent in words: a person decides."""
    FAILURE = "failure"
    """A text that failed for good (failed, undelivered, lost)."""
    WEBHOOK = "webhook"
    """A notify webhook that is retrying or gave up."""


class ItemStatus(StrEnum):
    """Where an item stands with the care team."""

    OPEN = "open"
    """Nobody acknowledged it yet."""
    ACKNOWLEDGED = "acknowledged"
    """Someone has it in hand."""
    RESOLVED = "resolved"
    ALL = "all"


@dataclass(frozen=True, slots=True)
class InboxItem:
    """One thing that needs a person."""

    key: str
    kind: ItemKind
    at: datetime
    contact_id: int | None
    phone: str | None
    timezone: str | None
    """The contact's own zone, when it has one."""
    enrollment_id: int | None
    step_id: str | None
    text: str | None
    """What the patient wrote (an alert's answer, a reply's body), or the error."""
    detail: str | None
    """Why: the rule, the reply's reason, the state and error code, the webhook's target."""
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved_by: str | None
    resolved_at: datetime | None

    @property
    def status(self) -> ItemStatus:
        """Open, acknowledged or resolved."""
        if self.resolved_at is not None:
            return ItemStatus.RESOLVED
        if self.acknowledged_at is not None:
            return ItemStatus.ACKNOWLEDGED
        return ItemStatus.OPEN


def item_key(prefix: str, column: ColumnElement[int]) -> ColumnElement[str]:
    """The name of the item of ``prefix`` whose id is ``column`` (``alert:12``), in SQL."""
    return (literal(f"{prefix}:", String) + cast(column, String)).label("key")


def _item(
    prefix: str,
    row_id: ColumnElement[int],
    *,
    kind: ColumnElement[Any],
    at: ColumnElement[Any],
    contact_id: ColumnElement[Any],
    enrollment_id: ColumnElement[Any],
    step_id: ColumnElement[Any],
    text: ColumnElement[Any],
    detail: ColumnElement[Any],
) -> Select[Any]:
    """One source of items as the columns every source gives the union (same names, same
    order): its key, kind, time, contact, enrollment, step, text and detail."""
    return select(
        item_key(prefix, row_id), kind.label("kind"), at.label("at"),
        contact_id.label("contact_id"), enrollment_id.label("enrollment_id"),
        step_id.label("step_id"), text.label("text"), cast(detail, Text).label("detail"),
    )  # fmt: skip


def _alerts() -> Select[Any]:
    a = alerts.c
    kind = case((a.reason == "reply", ItemKind.ESCALATION.value), else_=ItemKind.NO_REPLY.value)
    return _item(
        "alert", a.id, kind=kind, at=a.at, contact_id=a.contact_id,
        enrollment_id=a.enrollment_id, step_id=a.step_id, text=a.answer,
        detail=func.coalesce(a.rule, a.reason),
    )  # fmt: skip


def _replies() -> Select[Any]:
    r = replies.c
    flagged = r.reason == REVIEW_OPT_OUT
    kind = case((flagged, ItemKind.OPT_OUT.value), else_=ItemKind.REPLY.value)
    loose = [ReplyKind.UNMATCHED.value, ReplyKind.LATE.value]
    return _item(
        "reply", r.id, kind=kind, at=r.received_at, contact_id=r.contact_id,
        enrollment_id=r.enrollment_id, step_id=r.step_id, text=r.body,
        detail=func.coalesce(r.reason, r.kind),
    ).where(or_(r.kind.in_(loose), flagged))  # fmt: skip


def _failures() -> Select[Any]:
    m, e = messages.c, enrollments.c
    code = func.coalesce(cast(m.error_code, String), literal("", String))
    return (
        _item(
            "message", m.id, kind=literal(ItemKind.FAILURE.value, String), at=m.updated_at,
            contact_id=e.contact_id, enrollment_id=m.enrollment_id, step_id=m.step_id,
            text=m.error_message, detail=m.state + literal(" ", String) + code,
        )
        .join(enrollments, e.id == m.enrollment_id)
        .where(m.state.in_([s.value for s in FAILED_MESSAGES]))
    )  # fmt: skip


def _webhooks() -> Select[Any]:
    n, e = notifications.c, enrollments.c
    failing = or_(n.state == "failed", and_(n.state == "pending", n.attempts > 0))
    return (
        _item(
            "notification", n.id, kind=literal(ItemKind.WEBHOOK.value, String),
            at=n.created_at, contact_id=e.contact_id, enrollment_id=n.enrollment_id,
            step_id=cast(null(), String), text=n.last_error,
            detail=n.target + literal(" ", String) + n.state,
        )
        .outerjoin(enrollments, e.id == n.enrollment_id)
        .where(failing)
    )  # fmt: skip


def _items(kinds: Iterable[ItemKind] | None) -> Subquery:
    """Every item of these kinds (all when None), as one subquery."""
    wanted = set(kinds) if kinds is not None else set(ItemKind)
    parts: list[Select[Any]] = []
    if wanted & {ItemKind.ESCALATION, ItemKind.NO_REPLY}:
        parts.append(_alerts())
    if wanted & {ItemKind.REPLY, ItemKind.OPT_OUT}:
        parts.append(_replies())
    if ItemKind.FAILURE in wanted:
        parts.append(_failures())
    if ItemKind.WEBHOOK in wanted:
        parts.append(_webhooks())
    union = parts[0].union_all(*parts[1:]) if len(parts) > 1 else parts[0]
    return union.subquery("items")


def _status(status: ItemStatus) -> ColumnElement[bool] | None:
    k = inbox_acknowledgements.c
    if status is ItemStatus.OPEN:
        return k.item.is_(None)
    if status is ItemStatus.ACKNOWLEDGED:
        return and_(k.item.is_not(None), k.resolved_at.is_(None))
    if status is ItemStatus.RESOLVED:
        return k.resolved_at.is_not(None)
    return None


def inbox_items(
    connection: Connection,
    *,
    status: ItemStatus = ItemStatus.OPEN,
    kinds: Iterable[ItemKind] | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[InboxItem]:
    """The items with ``status`` (and of ``kinds``), newest first."""
    k, c = inbox_acknowledgements.c, contacts.c
    wanted = list(kinds) if kinds is not None else None
    items = _items(wanted)
    query = (
        select(
            items,
            c.phone,
            c.timezone,
            k.acknowledged_by,
            k.acknowledged_at,
            k.resolved_by,
            k.resolved_at,
        )
        .select_from(
            items.outerjoin(inbox_acknowledgements, k.item == items.c.key).outerjoin(
                contacts, c.id == items.c.contact_id
            )
        )
        .order_by(items.c.at.desc(), items.c.key.desc())
        .limit(limit)
        .offset(offset)
    )
    query = _where(query, items, status, wanted)
    return [
        InboxItem(
            key=row.key,
            kind=ItemKind(row.kind),
            at=row.at,
            contact_id=row.contact_id,
            phone=row.phone,
            timezone=row.timezone,
            enrollment_id=row.enrollment_id,
            step_id=row.step_id,
            text=row.text,
            detail=row.detail,
            acknowledged_by=row.acknowledged_by,
            acknowledged_at=row.acknowledged_at,
            resolved_by=row.resolved_by,
            resolved_at=row.resolved_at,
        )
        for row in connection.execute(query)
    ]


def _where(
    query: Select[Any], items: Subquery, status: ItemStatus, kinds: list[ItemKind] | None
) -> Select[Any]:
    condition = _status(status)
    if condition is not None:
        query = query.where(condition)
    if kinds is not None:
        query = query.where(items.c.kind.in_([kind.value for kind in kinds]))
    return query


def count_items(
    connection: Connection,
    *,
    status: ItemStatus = ItemStatus.OPEN,
    kinds: Iterable[ItemKind] | None = None,
) -> int:
    """How many items have ``status`` (and are of ``kinds``): one query."""
    k = inbox_acknowledgements.c
    wanted = list(kinds) if kinds is not None else None
    items = _items(wanted)
    query = select(func.count()).select_from(
        items.outerjoin(inbox_acknowledgements, k.item == items.c.key)
    )
    return int(connection.execute(_where(query, items, status, wanted)).scalar_one())


def item_exists(connection: Connection, key: str) -> bool:
    """Whether ``key`` names an item the inbox lists (whatever its status)."""
    found = ITEM.fullmatch(key)
    if found is None or int(found.group(2)) > MAX_ID:
        return False
    source, ids = {
        "alert": (_alerts, alerts.c.id), "reply": (_replies, replies.c.id),
        "message": (_failures, messages.c.id), "notification": (_webhooks, notifications.c.id),
    }[found.group(1)]  # fmt: skip
    query = source().where(ids == int(found.group(2))).limit(1)
    return connection.execute(query).first() is not None


def acknowledge(connection: Connection, key: str, *, by: str, at: datetime) -> bool:
    """``by`` has the item in hand; False when it was acknowledged already."""
    k = inbox_acknowledgements.c
    if connection.execute(select(k.item).where(k.item == key)).first() is not None:
        return False
    connection.execute(
        insert(inbox_acknowledgements).values(item=key, acknowledged_by=by, acknowledged_at=at)
    )
    return True


def resolve(connection: Connection, key: str, *, by: str, at: datetime) -> bool:
    """``by`` settled the item (acknowledging it too if nobody had); False when it was
    resolved already."""
    acknowledge(connection, key, by=by, at=at)
    k = inbox_acknowledgements.c
    changed = connection.execute(
        update(inbox_acknowledgements)
        .where(k.item == key, k.resolved_at.is_(None))
        .values(resolved_by=by, resolved_at=at)
    ).rowcount
    return bool(changed)


__all__ = [
    "FAILED_MESSAGES",
    "ITEM",
    "REVIEW_OPT_OUT",
    "InboxItem",
    "ItemKind",
    "ItemStatus",
    "acknowledge",
    "count_items",
    "inbox_items",
    "item_exists",
    "item_key",
    "resolve",
]
