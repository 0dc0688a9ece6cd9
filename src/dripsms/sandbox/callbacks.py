"""Status callbacks: Twilio's form, signed like Twilio, posted by a background worker.

The worker posts one callback at a time with a short timeout, so a slow or dead receiver
delays only later callbacks, never the API. Like Twilio by default, a failed post is not
retried.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from dripsms.sandbox.lifecycle import Status
from dripsms.sandbox.message import Message
from dripsms.sandbox.posting import SignedPost, post_form
from dripsms.sandbox.wire import API_VERSION

StatusCallback = SignedPost
"""A status callback request."""


def status_callback(message: Message, auth_token: str) -> StatusCallback | None:
    """The callback reporting ``message``'s current status, or ``None`` without a URL."""
    if not message.status_callback:
        return None
    params = [
        ("MessageSid", message.sid),
        ("SmsSid", message.sid),
        ("MessageStatus", message.status.value),
        ("SmsStatus", message.status.value),
        ("AccountSid", message.account_sid),
        ("From", message.from_),
        ("To", message.to),
        ("ApiVersion", API_VERSION),
    ]
    if message.messaging_service_sid:
        params.append(("MessagingServiceSid", message.messaging_service_sid))
    if message.status in (Status.FAILED, Status.UNDELIVERED) and message.error_code:
        params.append(("ErrorCode", str(message.error_code)))
    return StatusCallback(message.status_callback, tuple(params), auth_token)


class CallbackSink(Protocol):
    """Where the sandbox hands the callbacks of each status change."""

    def deliver(self, callbacks: Sequence[StatusCallback]) -> None:
        """Send ``callbacks``, in this order, without blocking the caller."""

    def close(self) -> None:
        """Send what is pending, then stop."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """The result of posting one callback: the receiver's HTTP status, or the error."""

    callback: StatusCallback
    status_code: int | None
    error: str | None = None


_STOP = object()


class CallbackDispatcher:
    """Posts status callbacks from a worker thread, started on first use."""

    def __init__(self, *, timeout: float = 3.0, history: int = 1000) -> None:
        self._timeout = timeout
        self._queue: queue.Queue[object] = queue.Queue()
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self.deliveries: deque[Delivery] = deque(maxlen=history)
        """The latest posts, oldest first."""

    def deliver(self, callbacks: Sequence[StatusCallback]) -> None:
        """Queue ``callbacks`` for posting, in order."""
        if not callbacks:
            return
        with self._lock:
            if self._worker is None:
                self._worker = threading.Thread(
                    target=self._run, name="dripsms-sandbox-callbacks", daemon=True
                )
                self._worker.start()
            for callback in callbacks:
                self._queue.put(callback)

    def close(self, timeout: float = 5.0) -> None:
        """Post what is queued (each with the usual timeout), then stop the worker."""
        with self._lock:
            worker, self._worker = self._worker, None
            if worker is None:
                return
            self._queue.put(_STOP)
        worker.join(timeout)

    def _run(self) -> None:
        while (item := self._queue.get()) is not _STOP:
            assert isinstance(item, StatusCallback)
            self.deliveries.append(self._post(item))

    def _post(self, callback: StatusCallback) -> Delivery:
        answer = post_form(
            callback.url,
            callback.params,
            signature=callback.signature,
            idempotency_token=callback.idempotency_token,
            timeout=self._timeout,
        )
        return Delivery(callback, answer.status_code, answer.error)
