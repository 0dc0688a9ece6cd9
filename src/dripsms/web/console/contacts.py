"""``/console/contacts/{phone}``: one patient's whole conversation, and what to do about it.

:func:`contact_page` builds the page from the stored records (no HTTP: unit-tested alone);
the routes read, act through :mod:`dripsms.engine.contact_actions` (audited), and render.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from dripsms.core.phones import InvalidPhone, normalize_phone
from dripsms.core.segments import count_segments
from dripsms.core.states import MessageKind, MessageState, ReplyKind
from dripsms.engine import contact_actions
from dripsms.engine.inbound import REVIEW_OPT_OUT
from dripsms.errors import DripError
from dripsms.store.conversation_view import (
    CONSOLE_TAG,
    AlertRecord,
    ConversationRecord,
    EnrollmentRecord,
    conversation,
    phone_of_contact,
)
from dripsms.web.console.chart import Chart, ChartPoint, layout
from dripsms.web.console.errors import error_page, form_status
from dripsms.web.console.replies_csv import value_cell
from dripsms.web.console.session import CsrfForm, CurrentOperator, Forbidden
from dripsms.web.console.templating import local_time, render
from dripsms.web.dependencies import RowId, ServicesDep

router = APIRouter()
S = MessageState
UPCOMING = frozenset({S.PLANNED, S.BLOCKED, S.HANDING_OFF, S.SCHEDULED})
"""Outbound texts not out yet: listed as what comes next, not in the thread."""
REPLY_MARKS = {
    ReplyKind.LATE: "late: its reply window had closed",
    ReplyKind.UNMATCHED: "unmatched: no open question",
    ReplyKind.FOLLOWUP: "follow-up: after the answer",
    ReplyKind.INVALID: "not a readable answer",
    ReplyKind.OPT_OUT: "opt-out (STOP)",
    ReplyKind.OPT_IN: "opt-in (START)",
    ReplyKind.HELP: "asked for HELP",
}
DONE = {
    "reply": "The text is in the outbox: the dispatcher sends it within seconds.",
    "pause": "Paused: nothing of this enrollment is sent until it is resumed.",
    "resume": "Resumed: what is still in time is sent; what is past its max delay expires.",
    "unenroll": "Unenrolled: nothing more of this enrollment will be sent.",
}


@dataclass
class ThreadItem:
    """One text of the conversation, sent or received."""

    direction: str
    """``out`` (to the patient) or ``in`` (from the patient)."""
    at: datetime | None
    when: str
    sequence: str
    step: str | None
    body: str | None
    state: str = ""
    error: str | None = None
    value: Any = None
    kind: str = ""
    marks: list[str] = field(default_factory=list)
    segments: int = 0
    by_console: bool = False


@dataclass
class EnrollmentItem:
    id: int
    sequence: str
    state: str
    paused_at: str | None
    enrolled_at: str
    next_due: str
    ended: str | None
    external_id: str
    active: bool
    paused: bool


@dataclass
class ContactPage:
    phone: str
    zone: str
    opted_out: str | None
    attributes: list[tuple[str, str]]
    enrollments: list[EnrollmentItem]
    thread: list[ThreadItem]
    upcoming: list[ThreadItem]
    alerts: list[dict[str, Any]]
    staff_texts: list[ThreadItem]
    """Alerts texted to the care team's phones about this contact."""
    chart: Chart | None
    chart_points: list[ChartPoint]
    can_reply: bool
    max_reply: int = contact_actions.MAX_REPLY


def _anchor_instant(enrollment: EnrollmentRecord) -> datetime | None:
    """The enrollment's anchor as an instant (a date: its midnight in the enrollment's zone)."""
    try:
        if len(enrollment.anchor) == 10:
            day = date.fromisoformat(enrollment.anchor)
            return datetime.combine(day, time(0), ZoneInfo(enrollment.timezone))
        moment = datetime.fromisoformat(enrollment.anchor)
    except (ValueError, KeyError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _chart(record: ConversationRecord, zone: str) -> tuple[Chart | None, list[ChartPoint]]:
    by_id = {e.id: e for e in record.enrollments}
    answers = [
        r for r in record.inbound
        if _is_number(r.value) and r.kind in (ReplyKind.MATCHED, ReplyKind.FOLLOWUP)
    ]  # fmt: skip
    if not answers:
        return None, []
    ids = {r.enrollment_id or 0 for r in answers}
    only = by_id.get(next(iter(ids))) if len(ids) == 1 else None
    origin = _anchor_instant(only) if only is not None else None
    x_label = f"days since the anchor ({only.anchor})" if origin and only else ""
    if origin is None:
        origin = min(r.received_at for r in answers)
        x_label = f"days since the first answer ({local_time(origin, zone, '%Y-%m-%d')})"
    points = []
    for r in answers:
        day = round((r.received_at - origin).total_seconds() / 86400, 2)
        label = f"{local_time(r.received_at, zone)}: {r.step_id or 'reply'} = {r.value}"
        points.append(ChartPoint(day, float(r.value), label))
    chart = layout(points, x_label=x_label, y_label="answer")
    return chart, (chart.points if chart else [])


def contact_page(record: ConversationRecord, *, clinic_timezone: str | None = None) -> ContactPage:
    """The contact page's content from its stored records; times on the contact's wall
    clock (its zone, else its latest enrollment's, else the clinic's, else UTC), labelled."""
    contact = record.contact
    latest = record.enrollments[-1].timezone if record.enrollments else None
    zone = contact.timezone or latest or clinic_timezone or "UTC"
    sequences = {e.id: e.sequence for e in record.enrollments}
    thread: list[ThreadItem] = []
    upcoming: list[ThreadItem] = []
    staff: list[ThreadItem] = []
    next_due: dict[int, datetime] = {}
    for m in record.outbound:
        state = S(m.state)
        if m.kind == MessageKind.SUPERSEDED and state in (S.CANCELED, S.PLANNED, S.BLOCKED):
            continue  # re-planned: the row that replaced it is shown
        at = m.sent_at or m.due_at
        error = None
        if m.error_code or m.error_message:
            error = " ".join(x for x in (str(m.error_code or ""), m.error_message or "") if x)
        item = ThreadItem(
            "out", at, local_time(at, zone), sequences.get(m.enrollment_id, ""),
            m.step_id.split("~")[0], m.body, state=state.value, error=error,
            kind=m.kind, segments=count_segments(m.body).segments if m.body else 0,
            by_console=m.step_id.startswith(CONSOLE_TAG),
        )  # fmt: skip
        if m.kind == MessageKind.STAFF:
            staff.append(item)
        elif state in UPCOMING:
            upcoming.append(item)
            if m.due_at is not None and m.kind == MessageKind.STEP:
                known = next_due.get(m.enrollment_id)
                next_due[m.enrollment_id] = min(known, m.due_at) if known else m.due_at
        else:
            thread.append(item)
    for r in record.inbound:
        marks = [REPLY_MARKS[ReplyKind(r.kind)]] if r.kind in REPLY_MARKS else []
        if r.reason == REVIEW_OPT_OUT:
            marks.append("possible opt-out in words: review")
        elif r.reason and r.kind != ReplyKind.MATCHED:
            marks.append(r.reason)
        item = ThreadItem(
            "in", r.received_at, local_time(r.received_at, zone),
            sequences.get(r.enrollment_id or 0, ""), r.step_id, r.body, value=r.value,
            kind=r.kind, marks=marks,
        )  # fmt: skip
        thread.append(item)
    far = datetime.max.replace(tzinfo=UTC)
    thread.sort(key=lambda i: (i.at or far, i.direction == "in"))
    upcoming.sort(key=lambda i: i.at or far)
    chart, points = _chart(record, zone)
    return ContactPage(
        phone=contact.phone,
        zone=zone,
        opted_out=local_time(contact.opted_out_at, zone) if contact.opted_out_at else None,
        attributes=sorted((str(k), _shown(v)) for k, v in contact.attributes.items()),
        enrollments=[_enrollment(e, zone, next_due.get(e.id)) for e in record.enrollments],
        thread=thread,
        upcoming=upcoming,
        alerts=[_alert(a, zone) for a in record.alerts],
        staff_texts=staff,
        chart=chart,
        chart_points=points,
        can_reply=contact.opted_out_at is None and bool(record.enrollments),
    )


def _enrollment(e: EnrollmentRecord, zone: str, next_due: datetime | None) -> EnrollmentItem:
    ended = None
    if e.ended_at is not None:
        ended = local_time(e.ended_at, zone) + (f" ({e.end_reason})" if e.end_reason else "")
    return EnrollmentItem(
        e.id, e.sequence, e.state, local_time(e.paused_at, zone) if e.paused_at else None,
        local_time(e.enrolled_at, zone), local_time(next_due, zone) if next_due else "—",
        ended, e.external_id, e.state == "active", e.state == "active" and bool(e.paused_at),
    )  # fmt: skip


def _alert(a: AlertRecord, zone: str) -> dict[str, Any]:
    return {
        "when": local_time(a.at, zone), "at": a.at, "target": a.target, "reason": a.reason,
        "step": a.step_id, "rule": a.rule, "answer": a.answer, "value": a.value,
    }  # fmt: skip


def _shown(value: Any) -> str:
    return "—" if value is None else value_cell(value)


# -- routes -------------------------------------------------------------------------------


def _canonical(phone: str, services: ServicesDep) -> str | None:
    try:
        return normalize_phone(phone, services.runtime.settings.default_region)
    except InvalidPhone:
        return None


def _page(
    request: Request, services: ServicesDep, phone: str, *, status_code: int = 200,
    error: str | None = None, draft: str = "", done: str | None = None, segments: str = "",
) -> HTMLResponse:  # fmt: skip
    with services.engine.connect() as connection:
        record = conversation(connection, phone)
    if record is None:
        return error_page(request, 404, "No contact has that phone number.")
    page = contact_page(record, clinic_timezone=services.runtime.settings.clinic_timezone)
    message = DONE.get(done or "")
    if message and done == "reply" and segments.isdigit() and len(segments) <= 3:
        count = int(segments)
        message = f"{message} It takes {count} segment{'s' if count != 1 else ''}."
    context = {"page": page, "error": error, "draft": draft, "done": message}
    return render(request, "console/contact.html", context, status_code=status_code)


@router.get("/c/{contact_id}")
def contact_by_id(
    request: Request, contact_id: RowId, services: ServicesDep, operator: CurrentOperator
) -> Response:
    """The link of a staff SMS (which never carries the number): to the contact's page."""
    with services.engine.connect() as connection:
        phone = phone_of_contact(connection, contact_id)
    if phone is None:
        return error_page(request, 404, "No contact has that id.")
    return RedirectResponse(f"/console/contacts/{phone}", status_code=303)


@router.get("/contacts/{phone}", response_class=HTMLResponse)
def contact(
    request: Request, phone: str, services: ServicesDep, operator: CurrentOperator,
    done: str | None = None, segments: str = "",
) -> Response:  # fmt: skip
    """A patient's conversation, chart, enrollments; viewing it is audited."""
    canonical = _canonical(phone, services)
    if canonical is None:
        return error_page(request, 404, "That is not a phone number.")
    if canonical != phone:
        return RedirectResponse(f"/console/contacts/{canonical}", status_code=308)
    response = _page(request, services, canonical, done=done, segments=segments)
    if response.status_code == 200:
        contact_actions.record_view(
            services.engine, canonical, operator, audited_at=services.session_clock()
        )
    return response


def _act(
    request: Request, services: ServicesDep, phone: str, action: Callable[[str], str | None],
    done: str,
    draft: str = "",
) -> Response:  # fmt: skip
    canonical = _canonical(phone, services)
    if canonical is None:
        return error_page(request, 404, "That is not a phone number.")
    try:
        extra = action(canonical) or ""
    except DripError as error:
        return _page(
            request, services, canonical, status_code=form_status(error), error=str(error),
            draft=draft,
        )  # fmt: skip
    return RedirectResponse(f"/console/contacts/{canonical}?done={done}{extra}", status_code=303)


@router.post("/contacts/{phone}/reply")
def reply(
    request: Request, phone: str, services: ServicesDep, operator: CurrentOperator,
    _: CsrfForm, body: Annotated[str, Form(max_length=4000)] = "",
) -> Response:  # fmt: skip
    """Text the patient now, through the outbox (audited)."""

    def send(canonical: str) -> str:
        sent = contact_actions.reply_to_contact(
            services.engine, canonical, body, operator, now=services.clock(),
            audited_at=services.session_clock(),
        )  # fmt: skip
        return f"&segments={sent.segments}"

    return _act(request, services, phone, send, "reply", draft=body)


ENROLLMENT_ACTIONS = {
    "pause": contact_actions.pause,
    "resume": contact_actions.resume,
    "unenroll": contact_actions.unenroll_from_console,
}
"""What the buttons of an enrollment do: pause and resume (any operator), unenroll (admins)."""


@router.post("/contacts/{phone}/enrollments/{enrollment_id}/{action}")
def enrollment_action(
    request: Request, phone: str, enrollment_id: RowId, action: str, services: ServicesDep,
    operator: CurrentOperator, _: CsrfForm,
) -> Response:  # fmt: skip
    """Pause, resume or unenroll one of the contact's enrollments (audited)."""
    chosen = ENROLLMENT_ACTIONS.get(action)
    if chosen is None:
        return error_page(request, 404, "No such action.")
    if action == "unenroll" and not operator.is_admin:
        raise Forbidden("unenrolling is for admins")

    def act(canonical: str) -> None:
        chosen(
            services.engine, canonical, enrollment_id, operator, now=services.clock(),
            audited_at=services.session_clock(),
        )  # fmt: skip

    return _act(request, services, phone, act, action)
