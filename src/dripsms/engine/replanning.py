"""Moving running enrollments to a sequence's current version (``dripsms sequences migrate``).

Only messages not yet handed off change: they are re-planned from the new version
(steps that left the sequence are canceled, new steps are added). What Twilio already
holds, and what already happened, stays as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, insert, select, update

from dripsms.core.sequence.dependencies import waits_for
from dripsms.core.sequence.model import Sequence
from dripsms.core.states import NOT_HANDED_OFF, MessageState
from dripsms.core.timeline import plan_timeline
from dripsms.engine.library import SequenceLibrary
from dripsms.errors import DripError
from dripsms.store import repository
from dripsms.store.events import event_row, record
from dripsms.store.tables import enrollments, messages

S = MessageState


@dataclass(slots=True)
class MigrationReport:
    """What a migration changed."""

    version: str
    enrollments: int = 0
    replanned: int = 0
    added: int = 0
    removed: int = 0
    refused: list[tuple[int, str]] = field(default_factory=list)
    """(enrollment id, reason) for enrollments left on their version."""

    def as_json(self) -> dict[str, Any]:
        """The report, for ``--json``."""
        return {
            "version": self.version,
            "enrollments": self.enrollments,
            "replanned": self.replanned,
            "added": self.added,
            "removed": self.removed,
            "refused": [{"enrollment_id": i, "reason": r} for i, r in self.refused],
        }


def _anchor(sequence: Sequence, stored: str, attributes: dict[str, Any]) -> date | datetime:
    if sequence.anchor != "enrolled_at" and attributes.get(sequence.anchor):
        stored = str(attributes[sequence.anchor])
    return date.fromisoformat(stored) if len(stored) == 10 else datetime.fromisoformat(stored)


def migrate_sequence(
    engine: Engine, library: SequenceLibrary, key: str, *, now: datetime
) -> MigrationReport:
    """Re-plan every active enrollment of ``key`` that runs an older version."""
    loaded = library.current(key)
    sequence = loaded.sequence
    report = MigrationReport(loaded.version)
    e, m = enrollments.c, messages.c
    with engine.begin() as connection:
        version_id = repository.ensure_version(connection, loaded, now)
        stale = connection.execute(
            select(e.id, e.timezone, e.anchor, e.attributes).where(
                e.sequence_key == key, e.state == "active", e.sequence_version_id != version_id
            )
        ).all()
        for row in stale:
            try:
                anchor = _anchor(sequence, row.anchor, dict(row.attributes))
                plan = plan_timeline(sequence, zone=ZoneInfo(row.timezone), anchor=anchor)
            except (DripError, ValueError) as exc:
                report.refused.append((row.id, str(exc)))
                continue
            current = {
                r.step_id: r
                for r in connection.execute(
                    select(m.id, m.step_id, m.state).where(m.enrollment_id == row.id)
                )
            }
            wanted = {p.step_id: p for p in plan}
            events = []
            for step_id, planned in wanted.items():
                blocked = planned.due_at is None or bool(
                    waits_for(sequence, sequence.step(step_id))
                )
                state = S.BLOCKED if blocked else S.PLANNED
                existing = current.get(step_id)
                if existing is None:
                    connection.execute(
                        insert(messages).values(
                            enrollment_id=row.id, step_id=step_id, state=state.value,
                            due_at=planned.due_at, updated_at=now,
                        )
                    )  # fmt: skip
                    report.added += 1
                elif S(existing.state) in NOT_HANDED_OFF:
                    connection.execute(
                        update(messages)
                        .where(m.id == existing.id, m.state == existing.state)
                        .values(state=state.value, due_at=planned.due_at, updated_at=now)
                    )
                    report.replanned += 1
                    events.append(event_row(
                        now, "message", "sequence_migrated", message_id=existing.id,
                        enrollment_id=row.id, from_state=existing.state, to_state=state.value,
                    ))  # fmt: skip
            for step_id, existing in current.items():
                if step_id not in wanted and S(existing.state) in NOT_HANDED_OFF:
                    connection.execute(
                        update(messages)
                        .where(m.id == existing.id)
                        .values(state=S.CANCELED.value, updated_at=now)
                    )
                    report.removed += 1
                    events.append(event_row(
                        now, "message", "step_removed", message_id=existing.id,
                        enrollment_id=row.id, from_state=existing.state, to_state="canceled",
                    ))  # fmt: skip
            connection.execute(
                update(enrollments).where(e.id == row.id).values(sequence_version_id=version_id)
            )
            events.append(event_row(
                now, "enrollment", "sequence_migrated", enrollment_id=row.id,
                detail={"version": loaded.version},
            ))  # fmt: skip
            record(connection, events)
            report.enrollments += 1
    return report
