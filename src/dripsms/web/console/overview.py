"""``/console/``: the overview — active enrollments, texts due soon, what Twilio holds
against the budget, today's failures and alerts, replies awaiting review, the dispatcher's
health; each figure links to the page that lists it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from dripsms.store.alerts import alerts_since
from dripsms.store.database import READ_ONLY
from dripsms.store.inbox import ItemKind, count_items
from dripsms.store.outbox import scheduled_count
from dripsms.store.overview import Counts, counts
from dripsms.web.console.session import CurrentOperator
from dripsms.web.console.templating import render
from dripsms.web.dependencies import ServicesDep
from dripsms.web.health import Check, dispatcher_check

router = APIRouter()
SOON = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Figure:
    """One number of the overview, and where it is listed."""

    label: str
    value: str
    link: str
    note: str = ""
    tone: str = ""
    """``ok``, ``warn`` or ``bad`` (shown in words as well as in colour)."""


@dataclass(frozen=True, slots=True)
class Tally:
    """What the overview counted, from the store."""

    counts: Counts
    scheduled: int
    alerts_today: int
    awaiting_review: int


def day_start(now: datetime, zone: str) -> datetime:
    """Midnight that began ``now``'s day on the clinic's wall clock, in UTC."""
    local = now.astimezone(ZoneInfo(zone))
    return datetime.combine(local.date(), time(0), ZoneInfo(zone)).astimezone(UTC)


def overview_context(
    tally: Tally, dispatcher: Check, *, budget: int, zone: str
) -> dict[str, object]:
    """The overview's figures, in the order a nurse reads them (``dispatcher``: the
    ``/healthz`` check of that name)."""
    c = tally.counts
    share = tally.scheduled / budget if budget else 0.0
    figures = [
        Figure(
            "Active enrollments", f"{c.active_enrollments:,}", "/console/enrollments?state=active"
        ),
        Figure(
            "Texts due in the next 24 h", f"{c.due_soon:,}",
            "/console/enrollments?state=active&due=24h",
        ),
        Figure(
            "Scheduled at Twilio", f"{tally.scheduled:,}", "/console/sequences",
            note=f"of a budget of {budget:,} ({share:.0%})",
            tone="bad" if share >= 1 else "warn" if share >= 0.9 else "ok",
        ),
        Figure(
            "Failures today", f"{c.failures_today:,}", "/console/inbox?status=all&kind=failure",
            tone="bad" if c.failures_today else "ok",
        ),
        Figure(
            "Alerts today", f"{tally.alerts_today:,}", "/console/inbox?status=all&kind=alert",
            tone="warn" if tally.alerts_today else "ok",
        ),
        Figure(
            "Replies awaiting review", f"{tally.awaiting_review:,}", "/console/inbox?kind=review",
            tone="warn" if tally.awaiting_review else "ok",
        ),
        Figure(
            "Dispatcher", "ok" if dispatcher.ok else "not ok", "/healthz",
            note=dispatcher.detail, tone="ok" if dispatcher.ok else "bad",
        ),
    ]  # fmt: skip
    return {"figures": figures, "zone": zone}


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, services: ServicesDep, operator: CurrentOperator) -> HTMLResponse:
    """What needs the care team today."""
    settings = services.runtime.settings
    now = services.clock()
    zone = settings.clinic_timezone
    with services.engine.connect() as connection:
        reading = connection.execution_options(**READ_ONLY)
        tally = Tally(
            counts=counts(reading, now=now, until=now + SOON, day_start=day_start(now, zone)),
            scheduled=scheduled_count(reading, now),
            alerts_today=alerts_since(reading, day_start(now, zone)),
            awaiting_review=count_items(reading, kinds=[ItemKind.REPLY, ItemKind.OPT_OUT]),
        )
    # Only the check it shows: not /healthz's every check (the migrations read from disk).
    dispatcher = dispatcher_check(services.runtime)
    context = overview_context(tally, dispatcher, budget=settings.scheduled_budget, zone=zone)
    return render(request, "console/overview.html", context)
