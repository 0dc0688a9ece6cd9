"""``/console/enrollments``: every enrollment, filtered by sequence, state, the step due next
and unresolved alerts, 50 a page; an admin unenrolls (after a confirm page)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import Connection

from dripsms.core.states import EnrollmentState
from dripsms.engine.library import SequenceLibrary
from dripsms.engine.stopping import unenroll
from dripsms.errors import InvalidInput, NotFound
from dripsms.store.audit import AuditAction, record
from dripsms.store.database import READ_ONLY
from dripsms.store.enrollment_list import (
    PAGE_SIZE,
    EnrollmentFilter,
    EnrollmentRow,
    enrolled_sequences,
    list_enrollments,
)
from dripsms.web.console.inbox import contact_url
from dripsms.web.console.paging import paged, window
from dripsms.web.console.session import AdminOperator, CsrfForm, CurrentOperator
from dripsms.web.console.templating import render
from dripsms.web.dependencies import RowId, ServicesDep

router = APIRouter()
ALERT_CHOICES = {"": None, "yes": True, "no": False}
DUE_CHOICES = {"": None, "24h": timedelta(hours=24)}


@dataclass(frozen=True, slots=True)
class Choices:
    """The filters as asked for in the query string (validated)."""

    sequence: str = ""
    state: str = ""
    step: str = ""
    alert: str = ""
    due: str = ""
    page: int = 1

    def url(self, **changes: object) -> str:
        """The page of these choices with ``changes`` (defaults left out of the query)."""
        values = {**asdict(self), **changes}
        query = urlencode({k: v for k, v in values.items() if v != "" and (k, v) != ("page", 1)})
        return f"/console/enrollments?{query}" if query else "/console/enrollments"

    def narrowed(self, now: datetime) -> EnrollmentFilter:
        """The store's filter for these choices at ``now``."""
        due = DUE_CHOICES[self.due]
        return EnrollmentFilter(
            sequence=self.sequence or None, state=self.state or None, step=self.step or None,
            unresolved_alert=ALERT_CHOICES[self.alert],
            due_before=now + due if due is not None else None,
        )  # fmt: skip


def choices(sequence: str, state: str, step: str, alert: str, due: str, page: int) -> Choices:
    """The query string's filters, or :class:`InvalidInput` naming the one that is wrong."""
    if state and state not in {s.value for s in EnrollmentState}:
        names = ", ".join(s.value for s in EnrollmentState)
        raise InvalidInput(f"state: one of {names}, or empty for any")
    if alert not in ALERT_CHOICES:
        raise InvalidInput("alert: yes, no, or empty for either")
    if due not in DUE_CHOICES:
        raise InvalidInput("due: 24h, or empty for any")
    return Choices(sequence.strip(), state, step.strip(), alert, due, page)


def step_ids(library: SequenceLibrary, keys: list[str]) -> list[str]:
    """The steps of these sequences as loaded now, in order, each once."""
    seen: dict[str, None] = {}
    for key in keys:
        if key not in library.sequence_keys():
            continue  # no longer loaded (or broken): no steps to offer
        sequence = library.current(key).sequence
        seen.update((step.id, None) for step in sequence.steps)
    return list(seen)


@dataclass(frozen=True, slots=True)
class EnrollmentEntry:
    """One enrollment as the page shows it."""

    id: int
    phone: str
    contact_url: str | None
    name: str
    sequence: str
    state: str
    timezone: str
    enrolled_at: datetime
    next_step: str | None
    next_due_at: datetime | None
    unresolved_alerts: int
    may_unenroll: bool


def enrollment_entry(row: EnrollmentRow, *, admin: bool) -> EnrollmentEntry:
    """``row`` for the page."""
    return EnrollmentEntry(
        id=row.id, phone=row.phone, contact_url=contact_url(row.phone),
        name=row.first_name or "", sequence=row.sequence, state=row.state,
        timezone=row.timezone, enrolled_at=row.enrolled_at, next_step=row.next_step,
        next_due_at=row.next_due_at, unresolved_alerts=row.unresolved_alerts,
        may_unenroll=admin and row.state == EnrollmentState.ACTIVE.value,
    )  # fmt: skip


def enrollments_context(
    rows: list[EnrollmentRow],
    chosen: Choices,
    *,
    sequences: list[str],
    steps: list[str],
    admin: bool,
    page_size: int = PAGE_SIZE,
) -> dict[str, object]:
    """The enrollments page: ``rows`` (one more than a page, to know whether more follow),
    the filters, the pages before and after."""
    shown = paged(rows, chosen.page, page_size, lambda number: chosen.url(page=number))
    return {
        "entries": [enrollment_entry(row, admin=admin) for row in shown.rows],
        "chosen": chosen,
        "sequences": sequences,
        "steps": steps,
        "states": [s.value for s in EnrollmentState],
        "previous": shown.previous,
        "next": shown.next,
        "page": chosen.page,
    }  # fmt: skip


Text = Annotated[str, Query(max_length=64)]


@router.get("/enrollments", response_class=HTMLResponse)
def enrollments(
    request: Request,
    services: ServicesDep,
    operator: CurrentOperator,
    sequence: Text = "",
    state: Text = "",
    step: Text = "",
    alert: Text = "",
    due: Text = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    """Enrollments, newest first, 50 a page."""
    chosen = choices(sequence, state, step, alert, due, page)
    with services.engine.connect() as connection:
        reading = connection.execution_options(**READ_ONLY)
        now = services.clock()
        limit, offset = window(chosen.page, PAGE_SIZE)
        rows = list_enrollments(
            reading, chosen.narrowed(now), now=now, limit=limit, offset=offset
        )  # fmt: skip
        known = enrolled_sequences(reading)
    library = services.library
    sequences = sorted(set(known) | set(library.sequence_keys()))
    steps = step_ids(library, [chosen.sequence] if chosen.sequence else sequences)
    context = enrollments_context(
        rows, chosen, sequences=sequences, steps=steps, admin=operator.is_admin
    )
    return render(request, "console/enrollments.html", context)


def _one(services: ServicesDep, enrollment_id: int) -> EnrollmentRow:
    with services.engine.connect() as connection:
        rows = list_enrollments(
            connection.execution_options(**READ_ONLY),
            EnrollmentFilter(enrollment_id=enrollment_id),
            now=services.clock(),
        )
    if not rows:
        raise NotFound(f"there is no enrollment {enrollment_id}")
    return rows[0]


@router.get("/enrollments/{enrollment_id}/unenroll", response_class=HTMLResponse)
def confirm_unenroll(
    request: Request, services: ServicesDep, operator: AdminOperator, enrollment_id: RowId
) -> HTMLResponse:
    """Are you sure? What unenrolling this enrollment stops."""
    row = _one(services, enrollment_id)
    context = {"entry": enrollment_entry(row, admin=True)}
    return render(request, "console/unenroll.html", context)


@router.post("/enrollments/{enrollment_id}/unenroll")
def do_unenroll(
    services: ServicesDep, operator: AdminOperator, form: CsrfForm, enrollment_id: RowId
) -> RedirectResponse:
    """End the enrollment (``canceled``): texts not sent are canceled, those Twilio holds
    are canceled there by the dispatcher. Audited."""
    row = _one(services, enrollment_id)
    if row.state != EnrollmentState.ACTIVE.value:
        raise InvalidInput(f"enrollment: {enrollment_id} is {row.state}, not active")
    now = services.clock()

    def audited(connection: Connection) -> None:
        record(
            connection, at=services.session_clock(), operator_email=operator.email,
            action=AuditAction.UNENROLL,
            subject=f"enrollment:{enrollment_id}", operator_id=operator.id,
            detail={"sequence": row.sequence},
        )  # fmt: skip

    unenroll(services.engine, now=now, enrollment_id=enrollment_id, also=audited)
    return RedirectResponse(f"/console/enrollments?state={EnrollmentState.CANCELED.value}", 303)
