"""Reply windows that close unanswered: ``on_no_reply`` runs once, from the dispatcher.

No process sleeps for a day waiting: each pass looks for sent questions whose window has
closed without a matched reply, runs their ``on_no_reply`` actions (texts go to the
outbox) and marks them handled.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from dripsms.core.states import MessageState
from dripsms.engine.conversations import ActionRunner, Candidate, Conversations, Trigger
from dripsms.store.tables import contacts, enrollments, messages, replies, sequence_versions

S = MessageState
SENT = frozenset({S.SCHEDULED, S.QUEUED, S.SENDING, S.SENT, S.DELIVERED})


def close_reply_windows(conversations: Conversations, *, now: datetime, limit: int = 1000) -> int:
    """Run ``on_no_reply`` for every question whose window closed unanswered; how many."""
    m, e, v, c = messages.c, enrollments.c, sequence_versions.c, contacts.c
    library = conversations.library
    handled = 0
    with conversations.engine.begin() as connection:
        rows = connection.execute(
            select(
                m.id,
                m.step_id,
                m.due_at,
                m.sent_at,
                e.id.label("eid"),
                e.state.label("estate"),
                c.phone,
                v.key,
                v.digest,
                v.text,
            )
            .join(enrollments, e.id == m.enrollment_id)
            .join(contacts, c.id == e.contact_id)
            .join(sequence_versions, v.id == e.sequence_version_id)
            .where(
                m.kind == "step",
                m.no_reply_handled_at.is_(None),
                m.state.in_([s.value for s in SENT]),
                m.due_at <= now,
            )
            .order_by(m.due_at)
            .limit(limit)
        ).all()
        for row in rows:
            sequence = library.pinned(row.digest, row.text, row.key).sequence
            step = sequence.step(row.step_id)
            opened = row.sent_at or row.due_at
            if step.expect_reply is not None and now < opened + step.expect_reply.window:
                continue  # still open
            done = update(messages).where(m.id == row.id).values(no_reply_handled_at=now)
            if step.expect_reply is None or not step.on_no_reply or row.estate != "active":
                connection.execute(done)
                continue
            answered = connection.execute(
                select(replies.c.id).where(
                    replies.c.enrollment_id == row.eid,
                    replies.c.step_id == step.id,
                    replies.c.kind == "matched",
                )
            ).first()
            if answered is None:
                candidate = Candidate(row.id, row.eid, step, sequence, opened)
                context = conversations.context_for(connection, candidate, reply=None)
                trigger = Trigger("noreply", row.phone, None, now)
                ActionRunner(library, connection, candidate, context, trigger, immediate=False).run(
                    step.on_no_reply
                )
                handled += 1
            connection.execute(done)
    return handled
