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

from sqlalchemy import Engine

from dripsms.core.sequence.dependencies import waits_for
from dripsms.core.sequence.model import Sequence
from dripsms.core.states import NOT_HANDED_OFF, MessageState
from dripsms.core.timeline import plan_timeline
from dripsms.engine.library import SequenceLibrary
from dripsms.errors import DripError
from dripsms.store import enrollments as stored_enrollments
from dripsms.store import messages as stored_messages
from dripsms.store import repository
from dripsms.store.events import event_row, record

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
    with engine.begin() as connection:
        version_id = repository.ensure_version(connection, loaded, now)
        stale = stored_enrollments.active_on_other_versions(connection, key, version_id)
        for row in stale:
            try:
                anchor = _anchor(sequence, row.anchor, dict(row.attributes))
                plan = plan_timeline(sequence, zone=ZoneInfo(row.timezone), anchor=anchor)
            except (DripError, ValueError) as exc:
                report.refused.append((row.id, str(exc)))
                continue
            current = {r.step_id: r for r in stored_messages.all_of_enrollment(connection, row.id)}
            wanted = {p.step_id: p for p in plan}
            events = []
            for step_id, planned in wanted.items():
                blocked = planned.due_at is None or bool(
                    waits_for(sequence, sequence.step(step_id))
                )
                state = S.BLOCKED if blocked else S.PLANNED
                existing = current.get(step_id)
                if existing is None:
                    stored_messages.add_step(
                        connection, row.id, step_id, state=state, due_at=planned.due_at, now=now
                    )
                    report.added += 1
                elif S(existing.state) in NOT_HANDED_OFF:
                    stored_messages.replan(
                        connection, existing.id, current=S(existing.state), state=state,
                        due_at=planned.due_at, now=now,
                    )  # fmt: skip
                    report.replanned += 1
                    events.append(event_row(
                        now, "message", "sequence_migrated", message_id=existing.id,
                        enrollment_id=row.id, from_state=existing.state, to_state=state.value,
                    ))  # fmt: skip
            for step_id, existing in current.items():
                if step_id not in wanted and S(existing.state) in NOT_HANDED_OFF:
                    stored_messages.cancel_unsent(connection, existing.id, now)
                    report.removed += 1
                    events.append(event_row(
                        now, "message", "step_removed", message_id=existing.id,
                        enrollment_id=row.id, from_state=existing.state, to_state=S.CANCELED.value,
                    ))  # fmt: skip
            stored_enrollments.pin_version(connection, row.id, version_id)
            events.append(event_row(
                now, "enrollment", "sequence_migrated", enrollment_id=row.id,
                detail={"version": loaded.version},
            ))  # fmt: skip
            record(connection, events)
            report.enrollments += 1
    return report
