"""``dripsms demo``: the example post-op sequence with three patients on a virtual clock,
through the real parts (the SDK, the sandbox over HTTP, dripsms's signed webhooks):

- Ada answers 8 on day 1: an alert, the "escalated" path, the alternate day 3;
- Ben answers 3 on day 1 and texts STOP on day 2: what the sandbox holds is canceled;
- Cleo never answers: the no-reply alert when day 1's window closes.

It leaves the database (and the virtual clock's position) for the console and
``dripsms run``, which resumes the clock where the demo stopped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from dripsms.clock import VirtualClock, iso_instant
from dripsms.core.planning import EnrollmentRequest
from dripsms.engine.sandbox_session import SandboxSession, start_position
from dripsms.errors import Conflict, DripError, Misconfigured
from dripsms.settings import Settings
from dripsms.store import demo as records

log = logging.getLogger(__name__)
ZONE = "America/New_York"
SEQUENCE = "postop"
SCAFFOLD = Path(__file__).resolve().parents[1] / "scaffold" / "sequences"


@dataclass(frozen=True, slots=True)
class Patient:
    """A demo patient and what they do."""

    name: str
    phone: str
    story: str


PATIENTS = (
    Patient("Ada", "+14155550101", "answers 8 on day 1"),
    Patient("Ben", "+14155550102", "answers 3 on day 1, texts STOP on day 2"),
    Patient("Cleo", "+14155550103", "never answers"),
)


@dataclass
class DemoResult:
    """What happened, per patient, with the three outcomes checked from the database."""

    start: datetime
    end: datetime
    sequences_dir: Path
    patients: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every patient reached the outcome the demo shows."""
        return all(p["outcome_reached"] for p in self.patients)

    def as_json(self) -> dict[str, Any]:
        """For ``--json``."""
        return {
            "ok": self.ok,
            "start": iso_instant(self.start),
            "end": iso_instant(self.end),
            "timezone": ZONE,
            "sequences_dir": str(self.sequences_dir),
            "patients": [
                {**p, "timeline": [{**e, "at": iso_instant(e["at"])} for e in p["timeline"]]}
                for p in self.patients
            ],
        }


def sequences_for_demo(settings: Settings) -> Path:
    """The folder holding ``postop.yaml``: the configured one, else the packaged example."""
    if (settings.sequences_dir / f"{SEQUENCE}.yaml").is_file():
        return settings.sequences_dir
    return SCAFFOLD


def run_demo(settings: Settings, asked: datetime) -> DemoResult:
    """Run the demo from ``asked`` (or later: never before a saved virtual clock)."""
    from dripsms.runtime import Runtime
    from dripsms.sandbox import SANDBOX_MESSAGING_SERVICE_SID, Sandbox, SandboxServer
    from dripsms.sandbox.callbacks import CallbackDispatcher
    from dripsms.sandbox.ids import new_auth_token
    from dripsms.store.database import upgrade
    from dripsms.store.virtual_clock import saved
    from dripsms.testing import free_port, serve_app
    from dripsms.web.app import create_app

    if not settings.uses_sandbox:
        raise Misconfigured(
            "dripsms demo runs on the built-in sandbox and refuses Twilio credentials (it would "
            "text real phones): unset TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_API_KEY "
            "and TWILIO_API_SECRET"
        )
    folder = sequences_for_demo(settings)
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    config = settings.model_copy(update={"sequences_dir": folder, "public_url": public})
    token = new_auth_token()
    callbacks = CallbackDispatcher()
    probe = Runtime(config, lambda: asked)
    upgrade(probe.engine)  # migrated if needed: the console reads it afterwards
    for patient in PATIENTS:
        if records.patient(probe.engine, patient.phone).exists:
            probe.engine.dispose()
            raise Conflict(
                f"the database already holds the demo's patients ({patient.phone}): run the demo "
                "on a new database, e.g. DRIPSMS_DATABASE_URL=sqlite:///demo.db dripsms demo"
            )
    start = start_position(asked, saved(probe.engine)).at
    probe.engine.dispose()
    clock = VirtualClock(start, real=lambda: 0.0)  # moves only when the demo moves it
    sandbox = Sandbox(now=start, auth_token=token, callback_sink=callbacks)
    with SandboxServer(sandbox) as server:
        runtime = Runtime(config, clock, sandbox_url=server.base_url, sandbox_auth_token=token)
        session = SandboxSession(clock, sandbox, runtime.engine, token, config.default_region)
        runtime.sandbox_session = session
        sandbox.set_inbound_url(SANDBOX_MESSAGING_SERVICE_SID, f"{public}/twilio/inbound")
        try:
            with serve_app(create_app(runtime), port=port):
                _play(runtime, session, callbacks, start)
            session.save()
            end = clock()
            result = DemoResult(start, end, folder)
            for patient in PATIENTS:
                record = records.patient(runtime.engine, patient.phone)
                result.patients.append(_report(patient, record, sandbox))
        finally:
            runtime.engine.dispose()
    return result


def _play(runtime: Any, session: SandboxSession, callbacks: Any, start: datetime) -> None:
    zone = ZoneInfo(ZONE)
    surgery = start.astimezone(zone).date()

    def local(day: int, hour: int, minute: int = 0) -> datetime:
        when = datetime.combine(surgery + timedelta(days=day), datetime.min.time(), zone)
        return when.replace(hour=hour, minute=minute).astimezone(start.tzinfo)

    def tick() -> None:
        dispatcher = runtime.dispatcher()
        try:
            dispatcher.tick(session.clock())
        finally:
            dispatcher.close()
        session.sandbox.process()  # immediate texts (answers, alerts) go out now
        callbacks.close()  # their status callbacks reach dripsms before the next step

    def at(instant: datetime) -> None:
        if instant > session.clock():
            session.clock.advance_to(instant)
        callbacks.close()
        tick()

    for patient in PATIENTS:
        runtime.enroller.enroll(
            EnrollmentRequest(
                SEQUENCE, patient.phone, ZONE,
                {"first_name": patient.name},
                surgery.isoformat(), external_id=f"demo-{surgery.isoformat()}",
            ),
            now=session.clock(),
        )  # fmt: skip
    tick()  # day 1 (and what else falls within Twilio's window) is scheduled at the sandbox
    day1 = session.next_due() or local(1, 10)
    at(day1 + timedelta(minutes=5))  # day 1 delivered to all three
    _text(session, PATIENTS[0], "8")
    _text(session, PATIENTS[1], "3")
    tick()  # Ada's alert (webhook and staff text) and both answers go out
    at(local(2, 12))  # day 1's window has closed: Cleo's no-reply alert
    _text(session, PATIENTS[1], "STOP")
    tick()  # what the sandbox holds for Ben is canceled
    at(local(3, 12))  # day 3: Ada's escalated version, Cleo's usual one
    tick()


def _text(session: SandboxSession, patient: Patient, body: str) -> None:
    sent = session.reply(patient.phone, body)
    if sent.webhook_status is None or not 200 <= sent.webhook_status < 300:
        raise DripError(
            f"dripsms demo: the inbound webhook for {patient.name} answered "
            f"{sent.webhook_status} (Twilio error {sent.error_code})"
        )


def _report(patient: Patient, record: records.PatientRecord, sandbox: Any) -> dict[str, Any]:
    steps = {m["step"]: m for m in record.messages if m["kind"] == "step"}
    timeline: list[dict[str, Any]] = [
        {"at": m["due_at"] or m["sent_at"], "what": "sent" if m["kind"] != "staff" else "alert",
         "step": m["step"], "kind": m["kind"], "state": m["state"]}
        for m in record.messages
    ]  # fmt: skip
    timeline += [
        {"at": r["received_at"], "what": "reply", "step": r["step"], "kind": r["kind"],
         "value": r["value"], "body": r["body"]}
        for r in record.replies
    ]  # fmt: skip
    timeline.sort(key=lambda e: (e["at"] is None, e["at"] or datetime.max))
    canceled = sum(
        1 for m in sandbox.messages() if m.to == patient.phone and m.status.value == "canceled"
    )
    if patient.name == "Ada":
        outcome = "escalated"
        reached = (
            record.alerts >= 1
            and (record.attributes or {}).get("escalated") is True
            and steps.get("day3_escalated", {}).get("state") == "delivered"
            and steps.get("day3", {}).get("state") == "skipped"
        )
    elif patient.name == "Ben":
        outcome = "opted_out"
        reached = record.opted_out_at is not None and canceled >= 1
    else:
        outcome = "no_reply_alert"
        reached = record.alerts >= 1 and not record.replies
    return {
        "name": patient.name,
        "phone": patient.phone,
        "story": patient.story,
        "outcome": outcome,
        "outcome_reached": reached,
        "alerts": record.alerts,
        "canceled_at_sandbox": canceled,
        "opted_out": record.opted_out_at is not None,
        "enrollment_state": record.enrollment_state,
        "timeline": timeline,
    }
