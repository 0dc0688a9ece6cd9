"""Shared by the fault and crash tests: a drip with a unique body per message, and the
exactly-once check, counted by the sandbox itself and compared with the database."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, func, select

from dripsms.core.planning import EnrollmentRequest
from dripsms.engine.enrollment import Enroller, lines
from dripsms.sandbox import Message
from dripsms.store.tables import contacts, enrollments, messages

STEPS = 5
DRIP = """key: drip
name: Drip
anchor: start
timezone: UTC
send_window: {start: "00:00", end: "24:00"}
max_delay: 2h
attributes:
  name: {type: string, required: true}
  start: {type: datetime, required: true}
steps:
  - {id: s1, at: {minutes: 0}, body: "Hi {{ name }}, step 1 of 5."}
  - {id: s2, at: {minutes: 10}, body: "Hi {{ name }}, step 2 of 5."}
  - {id: s3, at: {hours: 2}, body: "Hi {{ name }}, step 3 of 5."}
  - {id: s4, at: {days: 1}, body: "Hi {{ name }}, step 4 of 5."}
  - {id: s5, at: {days: 3}, body: "Hi {{ name }}, step 5 of 5."}
"""
"""Five steps; every body names its contact, so a duplicate send is a repeated (to, body)."""

UNFINISHED = ("planned", "handing_off")
AT_TWILIO = {"scheduled", "queued", "sending", "sent", "delivered"}


def write_drip(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "drip.yaml").write_text(DRIP)
    return folder


def enroll_contacts(enroller: Enroller, count: int, start: datetime, seed: int) -> None:
    """``count`` contacts, each anchored at its own instant: a quarter in the hour around
    ``start`` (their first steps go out at once, some of them late), the rest over the next
    three days (scheduled with SendAt)."""
    rng = random.Random(seed)
    requests = []
    for i in range(count):
        if i % 4 == 0:
            anchor = start + timedelta(minutes=rng.randint(-45, 15))
        else:
            anchor = start + timedelta(minutes=rng.randint(16, 3 * 24 * 60))
        attributes = {"name": f"contact-{i:05d}", "start": anchor.isoformat()}
        requests.append(
            EnrollmentRequest("drip", f"+1415{2_000_000 + i:07d}", attributes=attributes)
        )
    report = enroller.enroll_batch(lines(requests), now=start)
    assert not report.refused, report.refused[:3]


def unfinished(engine: Engine) -> int:
    with engine.connect() as connection:
        query = select(func.count()).where(messages.c.state.in_(UNFINISHED))
        return int(connection.execute(query).scalar_one())


def assert_exactly_once(
    engine: Engine, at_sandbox: list[Message], creates: int, total: int
) -> None:
    """Every row handed off once: one SID each, every SID at the sandbox is one row's, with
    that row's number, body and SendAt, and the sandbox processed exactly ``total`` creates."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                messages.c.id, messages.c.state, messages.c.sid, messages.c.body,
                messages.c.send_at, contacts.c.phone,
            )
            .join(enrollments, enrollments.c.id == messages.c.enrollment_id)
            .join(contacts, contacts.c.id == enrollments.c.contact_id)
        ).all()  # fmt: skip
    assert len(rows) == total
    states = Counter(r.state for r in rows)
    assert set(states) <= AT_TWILIO, states
    assert all(r.sid for r in rows), [r.id for r in rows if not r.sid][:10]
    by_sid = {m.sid: m for m in at_sandbox}
    sent = Counter((m.to, m.body) for m in at_sandbox)
    duplicates = {key: n for key, n in sent.items() if n > 1}
    assert not duplicates, f"{len(duplicates)} sent more than once, e.g. {list(duplicates)[:3]}"
    assert creates == len(at_sandbox) == total, (creates, len(at_sandbox), total)
    assert len({r.sid for r in rows}) == total
    assert set(by_sid) == {r.sid for r in rows}
    for row in rows:
        message = by_sid[row.sid]
        assert (message.to, message.body) == (row.phone, row.body), row.id
        assert message.send_at == row.send_at, row.id
