"""Enrolling contacts in sequences, one at a time or by the thousand, and unenrolling them."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from dripsms.core.phones import InvalidPhone, normalize_phone
from dripsms.core.planning import (
    EnrollmentError,
    EnrollmentRequest,
    PreparedEnrollment,
    prepare,
)
from dripsms.core.sequence.loader import LoadedSequence
from dripsms.core.states import MessageState
from dripsms.engine.library import SequenceLibrary, UnknownSequence
from dripsms.errors import Conflict
from dripsms.store import repository
from dripsms.store.events import event_row, record

log = logging.getLogger(__name__)


class DuplicateEnrollment(EnrollmentError, Conflict):
    """The contact already has an active enrollment in this sequence with this external id."""

    def __init__(self, sequence: str, external_id: str, enrollment_id: int | None = None) -> None:
        which = f" (external id {external_id!r})" if external_id else ""
        hint = "" if external_id else "; give a different external id for a second one"
        super().__init__("phone", f"already enrolled in {sequence}{which} and still active{hint}")
        self.enrollment_id = enrollment_id


@dataclass(frozen=True, slots=True)
class Enrolled:
    """A stored enrollment and the plan it was created with."""

    enrollment_id: int
    contact_id: int
    version: str
    prepared: PreparedEnrollment


@dataclass(slots=True)
class BatchReport:
    """What a batch enrollment did: the enrolled, and every refused item with its reason."""

    enrolled: list[tuple[int, Enrolled]] = field(default_factory=list)
    refused: list[tuple[int, EnrollmentError]] = field(default_factory=list)
    written: bool = True
    """False when an atomic batch was rolled back: ``enrolled`` lists what would have been."""


class RepeatedEnrollment(EnrollmentError):
    """The same enrollment appears earlier in the same batch (or file)."""

    def __init__(self, line: int) -> None:
        super().__init__("phone", f"same enrollment as line {line}")
        self.line = line


def is_duplicate(error: EnrollmentError) -> bool:
    """Whether an item was refused only because it is enrolled already."""
    return isinstance(error, DuplicateEnrollment | RepeatedEnrollment)


class _RollBack(Exception):
    """Ends an atomic batch's transaction without committing it."""


class Enroller:
    """Enrolls contacts; every enrollment writes its contact, plan and events atomically."""

    def __init__(
        self, engine: Engine, library: SequenceLibrary, *, default_region: str = "US"
    ) -> None:
        self.engine = engine
        self.library = library
        self.default_region = default_region

    def enroll(self, request: EnrollmentRequest, *, now: datetime) -> Enrolled:
        """Enroll one contact, or raise :class:`EnrollmentError` naming the field."""
        report = self.enroll_batch([(1, request)], now=now)
        if report.refused:
            raise report.refused[0][1]
        return report.enrolled[0][1]

    def enroll_batch(
        self,
        items: Sequence[tuple[int, EnrollmentRequest]],
        *,
        now: datetime,
        cause: str = "api",
        seen: dict[tuple[str, str, str], int] | None = None,
    ) -> BatchReport:
        """Enroll many (``(line, request)`` pairs) in one transaction; bad ones are refused.

        A refused item writes nothing. When the database refuses the batch (another
        process enrolled the same contact meanwhile), each item is retried alone.
        """
        before = dict(seen) if seen is not None else None
        try:
            with self.engine.begin() as connection:
                return self._batch(connection, items, now, cause, seen)
        except IntegrityError:
            if seen is not None and before is not None:
                seen.clear()
                seen.update(before)  # the rolled-back batch enrolled nobody
            report = BatchReport()
            for item in items:
                try:
                    with self.engine.begin() as connection:
                        single = self._batch(connection, [item], now, cause, seen)
                except IntegrityError:
                    single = BatchReport(refused=[(item[0], self._duplicate(item[1]))])
                report.enrolled += single.enrolled
                report.refused += single.refused
            return report

    def enroll_many(
        self,
        items: Sequence[tuple[int, EnrollmentRequest]],
        *,
        now: datetime,
        cause: str,
        batch_size: int = 1000,
        atomic: bool = False,
        refuse_all: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> BatchReport:
        """Enroll many items, ``batch_size`` per transaction.

        ``atomic``: one transaction for all, rolled back (``written`` False) when any item
        is refused for a reason other than being enrolled already, or when ``refuse_all``
        (the caller found problems of its own and only wants every item checked).
        """
        report = BatchReport()
        seen: dict[tuple[str, str, str], int] = {}
        if not atomic:
            for start in range(0, len(items), batch_size):
                chunk = items[start : start + batch_size]
                part = self.enroll_batch(chunk, now=now, cause=cause, seen=seen)
                report.enrolled += part.enrolled
                report.refused += part.refused
                if progress is not None:
                    progress(min(len(items), start + batch_size))
            return report
        try:
            with self.engine.begin() as connection:
                for start in range(0, len(items), batch_size):
                    chunk = items[start : start + batch_size]
                    part = self._batch(connection, chunk, now, cause, seen)
                    report.enrolled += part.enrolled
                    report.refused += part.refused
                    if progress is not None:
                        progress(min(len(items), start + batch_size))
                if refuse_all or not all(is_duplicate(e) for _, e in report.refused):
                    raise _RollBack
        except _RollBack:
            report.written = False
        except IntegrityError:
            raise EnrollmentError(
                "file", "another process enrolled some of these contacts meanwhile; nothing "
                "was written: run it again",
            ) from None  # fmt: skip
        return report

    def _duplicate(self, request: EnrollmentRequest) -> DuplicateEnrollment:
        return DuplicateEnrollment(request.sequence, (request.external_id or "").strip())

    def _batch(
        self,
        connection: Connection,
        items: Sequence[tuple[int, EnrollmentRequest]],
        now: datetime,
        cause: str,
        seen: dict[tuple[str, str, str], int] | None = None,
    ) -> BatchReport:
        """``seen``: the enrollments of earlier batches of the same file, by line."""
        report = BatchReport()
        phones: dict[int, str] = {}
        for line, request in items:
            try:
                phones[line] = normalize_phone(request.phone, self.default_region)
            except InvalidPhone as exc:
                report.refused.append(
                    (line, EnrollmentError("phone", str(exc).removeprefix("phone: ")))
                )
        known = repository.contacts_by_phone(connection, phones.values())
        ready: list[tuple[int, PreparedEnrollment]] = []
        loaded_by_key: dict[str, LoadedSequence] = {}
        seen = {} if seen is None else seen
        for line, request in items:
            if line not in phones:
                continue
            try:
                loaded = self.library.current(request.sequence)
            except UnknownSequence as exc:
                report.refused.append((line, EnrollmentError("sequence", str(exc))))
                continue
            contact = known.get(phones[line])
            try:
                prepared = prepare(
                    loaded.sequence, request, enrolled_at=now,
                    default_region=self.default_region,
                    known_timezone=contact.timezone if contact else None,
                    known_attributes=contact.attributes if contact else None,
                    normalized_phone=phones[line],
                )  # fmt: skip
            except EnrollmentError as exc:
                report.refused.append((line, exc))
                continue
            key = (prepared.phone, prepared.sequence_key, prepared.external_id)
            if key in seen:
                report.refused.append((line, RepeatedEnrollment(seen[key])))
                continue
            seen[key] = line
            loaded_by_key.setdefault(loaded.sequence.key, loaded)
            ready.append((line, prepared))
        ready = self._drop_duplicates(connection, ready, known, report)
        if not ready:
            return report  # nothing written, not even a sequence version
        versions = {  # stored only now, for what is enrolled
            key: (
                repository.ensure_version(connection, loaded_by_key[key], now),
                loaded_by_key[key].version,
            )
            for key in dict.fromkeys(p.sequence_key for _, p in ready)
        }
        contact_ids = repository.upsert_contacts(connection, [p for _, p in ready], now)
        ids = repository.insert_enrollments(
            connection, [p for _, p in ready], contact_ids,
            {k: v[0] for k, v in versions.items()}, now, cause,
        )  # fmt: skip
        self._record_missed(connection, list(zip(ids, (p for _, p in ready), strict=True)), now)
        for (line, prepared), enrollment_id in zip(ready, ids, strict=True):
            enrolled = Enrolled(
                enrollment_id,
                contact_ids[prepared.phone],
                versions[prepared.sequence_key][1],
                prepared,
            )
            report.enrolled.append((line, enrolled))
        return report

    def _record_missed(
        self, connection: Connection, stored: list[tuple[int, PreparedEnrollment]], now: datetime
    ) -> None:
        """An event (and a WARNING) for each step missed at enrollment or caught up."""
        late = [(i, p) for i, p in stored if p.missed or p.caught_up]
        if not late:
            return
        ids = repository.message_ids(connection, (i for i, _ in late))
        events = []
        for enrollment_id, prepared in late:
            for message in prepared.messages:
                message_id = ids[(enrollment_id, message.step_id)]
                where = {"message_id": message_id, "enrollment_id": enrollment_id}
                if message.state is MessageState.MISSED:
                    due = message.due_at.isoformat() if message.due_at else None
                    events.append(event_row(
                        now, "message", "missed_at_enrollment", message_id=message_id,
                        enrollment_id=enrollment_id, to_state=MessageState.MISSED.value,
                        detail={"due_at": due},
                    ))  # fmt: skip
                    log.warning(
                        "missed at enrollment: past its latest send time",
                        extra={"action": "missed", "step": message.step_id, **where},
                    )
                elif message.caught_up_from is not None:
                    events.append(event_row(
                        now, "message", "caught_up_at_enrollment", message_id=message_id,
                        enrollment_id=enrollment_id, to_state=message.state.value,
                        detail={"missed_due_at": message.caught_up_from.isoformat()},
                    ))  # fmt: skip
                    log.info(
                        "caught up at enrollment: sent now instead of missed",
                        extra={"action": "caught_up", "step": message.step_id, **where},
                    )
        record(connection, events)

    def _drop_duplicates(
        self,
        connection: Connection,
        ready: list[tuple[int, PreparedEnrollment]],
        known: dict[str, repository.ContactRow],
        report: BatchReport,
    ) -> list[tuple[int, PreparedEnrollment]]:
        keys = {
            (known[p.phone].id, p.sequence_key, p.external_id) for _, p in ready if p.phone in known
        }
        taken = repository.active_duplicates(connection, keys)
        kept = []
        for line, prepared in ready:
            contact = known.get(prepared.phone)
            if contact and (contact.id, prepared.sequence_key, prepared.external_id) in taken:
                report.refused.append(
                    (line, DuplicateEnrollment(prepared.sequence_key, prepared.external_id))
                )
            else:
                kept.append((line, prepared))
        return kept


def lines(requests: Iterable[EnrollmentRequest]) -> list[tuple[int, EnrollmentRequest]]:
    """Number requests from 1, for :meth:`Enroller.enroll_batch`."""
    return list(enumerate(requests, start=1))
