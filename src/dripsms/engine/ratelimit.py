"""A token bucket shared by the threads that call the provider."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime

from dripsms.provider.base import Handoff, Provider, ProviderMessage


class TokenBucket:
    """At most ``rate`` acquisitions per second on average, bursts up to ``burst``."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self._tokens = self.burst
        self._monotonic = monotonic
        self._sleep = sleep
        self._last = monotonic()
        self._lock = threading.Lock()

    def _reserve(self) -> float:
        """Take a token (possibly going into debt); the seconds to wait before using it."""
        with self._lock:
            now = self._monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= 1
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def acquire(self) -> None:
        """Block until a request may be made."""
        wait = self._reserve()
        if wait > 0:
            self._sleep(wait)


class RateLimited:
    """A :class:`Provider` whose every call first takes a token from ``bucket``: for the
    calls a pass makes besides the dispatcher's own (missed-reply listings), so that all of
    them together stay within ``DRIPSMS_RATE_LIMIT``."""

    def __init__(self, provider: Provider, bucket: TokenBucket) -> None:
        self.provider = provider
        self.bucket = bucket

    def create(
        self,
        *,
        to: str,
        body: str,
        messaging_service_sid: str,
        send_at: datetime | None,
        status_callback: str | None,
    ) -> Handoff:
        """Create a message, after a token."""
        self.bucket.acquire()
        return self.provider.create(
            to=to, body=body, messaging_service_sid=messaging_service_sid, send_at=send_at,
            status_callback=status_callback,
        )  # fmt: skip

    def cancel(self, sid: str) -> str:
        """Cancel a scheduled message, after a token."""
        self.bucket.acquire()
        return self.provider.cancel(sid)

    def fetch(self, sid: str) -> ProviderMessage:
        """One message by SID, after a token."""
        self.bucket.acquire()
        return self.provider.fetch(sid)

    def recent(self, *, to: str, limit: int = 50) -> list[ProviderMessage]:
        """The newest messages to a number, after a token."""
        self.bucket.acquire()
        return self.provider.recent(to=to, limit=limit)

    def received(self, *, to: str, since: datetime) -> list[ProviderMessage]:
        """Inbound messages to one of our numbers, after a token."""
        self.bucket.acquire()
        return self.provider.received(to=to, since=since)
