"""Patients walked through the example post-op sequence by the real engine: enrolled, their
day-1 question handed to an in-process provider (the dispatcher's own code), answered or not.

What the console's pages then show was written by the engine itself, not by the test.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from weakref import WeakKeyDictionary

from dripsms.core.planning import EnrollmentRequest
from dripsms.engine.dispatcher import Dispatcher, DispatcherConfig
from dripsms.engine.inbound import Inbound, InboundResult
from dripsms.engine.timers import close_reply_windows
from dripsms.runtime import Runtime
from dripsms.sandbox import SANDBOX_MESSAGING_SERVICE_SID
from dripsms.testing import FakeProvider, Scripted

NOW = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)
SURGERY = "2026-03-02"
DAY1 = datetime(2026, 3, 3, 14, 0, tzinfo=UTC)
"""The day-1 question goes out at 09:00 in New York."""
ADA = "+14155550100"
BOB = "+14155550101"
_FAKES: WeakKeyDictionary[Runtime, FakeProvider] = WeakKeyDictionary()


def enroll(
    runtime: Runtime, phone: str, name: str, *, at: datetime = NOW, surgery: str = SURGERY
) -> int:
    """Enroll ``phone`` in the post-op sequence (surgery on :data:`SURGERY`)."""
    request = EnrollmentRequest(
        sequence="postop", phone=phone, timezone="America/New_York",
        attributes={"first_name": name, "surgery_date": surgery},
    )  # fmt: skip
    return runtime.enroller.enroll(request, now=at).enrollment_id


def hand_off(runtime: Runtime, at: datetime = NOW, *, refused: int = 0) -> FakeProvider:
    """One dispatcher pass at ``at``: what is due within Twilio's window is scheduled; the
    first ``refused`` creates are refused for good (21211: not a valid number)."""
    fake = _FAKES.setdefault(runtime, FakeProvider())  # one per runtime: SIDs stay unique
    fake.now = lambda: at
    if refused:
        fake.script("create", *[Scripted.twilio(21211)] * refused)
    config = DispatcherConfig.from_settings(
        runtime.settings, messaging_service_sid=SANDBOX_MESSAGING_SERVICE_SID,
        callback_secret="secret", owner="test",
    )  # fmt: skip
    dispatcher = Dispatcher(runtime.engine, fake, runtime.library, config, jitter=lambda: 0.0)
    try:
        dispatcher.tick(at)
    finally:
        dispatcher.close()
    return fake


def reply(
    runtime: Runtime, phone: str, body: str, *, sid: str, at: datetime = DAY1 + timedelta(hours=1)
) -> InboundResult:
    """``phone`` texts ``body``: what the inbound webhook does with it."""
    inbound = Inbound(message_sid=sid, from_phone=phone, body=body, received_at=at)
    return runtime.conversations.receive(inbound)


def close_windows(runtime: Runtime, at: datetime = DAY1 + timedelta(hours=25)) -> int:
    """The reply timers at ``at``: day 1's 24-hour window has closed."""
    return close_reply_windows(runtime.conversations, now=at)
