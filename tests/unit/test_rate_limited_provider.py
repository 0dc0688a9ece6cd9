"""Calls a pass makes besides handoffs (missed-reply listings) take the dispatcher's tokens."""

from __future__ import annotations

from datetime import UTC, datetime

from dripsms.engine.ratelimit import RateLimited, TokenBucket
from dripsms.testing import FakeProvider

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    """A monotonic clock that moves only when the bucket sleeps."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.seconds

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.seconds += seconds


def test_every_call_takes_a_token_from_the_shared_bucket() -> None:
    clock = Clock()
    bucket = TokenBucket(2, burst=2, monotonic=clock, sleep=clock.sleep)
    provider = FakeProvider(now=lambda: T0)
    limited = RateLimited(provider, bucket)
    handoff = limited.create(
        to="+14155550100", body="Hi", messaging_service_sid="MG1", send_at=None,
        status_callback=None,
    )  # fmt: skip
    assert clock.slept == []  # the burst: two calls at once
    limited.received(to="+14155550100", since=T0)
    assert clock.slept == []
    limited.fetch(handoff.sid)  # the third call waits half a second: 2 a second
    limited.recent(to="+14155550100")
    assert clock.slept == [0.5, 0.5]
    bucket.acquire()  # the dispatcher's own calls come after them
    assert clock.slept == [0.5, 0.5, 0.5]
    assert [c.method for c in provider.calls] == ["create", "received", "fetch", "recent"]
