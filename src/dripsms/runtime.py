"""Wiring: settings in, the engine's parts out (database, sequences, provider, dispatcher)."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import cached_property

from sqlalchemy import Engine

from dripsms.clock import Clock
from dripsms.core.handoff import ProviderWindow
from dripsms.engine.conversations import ConversationConfig, Conversations
from dripsms.engine.dispatcher import Dispatcher, DispatcherConfig
from dripsms.engine.enrollment import Enroller
from dripsms.engine.library import SequenceLibrary
from dripsms.engine.notifier import deliver_due
from dripsms.engine.ratelimit import RateLimited, TokenBucket
from dripsms.engine.recovery import recover_replies
from dripsms.engine.sandbox_session import SandboxSession
from dripsms.engine.status_reconciliation import ReconcileConfig, StatusReconciler
from dripsms.engine.supervisor import DispatcherHealth
from dripsms.engine.timers import run_reply_timers
from dripsms.provider.base import Provider
from dripsms.provider.twilio import TwilioProvider
from dripsms.sandbox import (
    DEFAULT_PORT,
    SANDBOX_ACCOUNT_SID,
    SANDBOX_AUTH_TOKEN,
    SANDBOX_FROM_NUMBER,
    SANDBOX_MESSAGING_SERVICE_SID,
)
from dripsms.settings import Settings
from dripsms.store.database import connect, ensure_ready

log = logging.getLogger(__name__)
TWILIO_API = "https://api.twilio.com"


class Runtime:
    """The parts of a running dripsms, built lazily from one :class:`Settings`."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        *,
        sandbox_url: str | None = None,
        sandbox_auth_token: str | None = None,
    ):
        self.settings = settings
        self.clock = clock
        self._sandbox_url = sandbox_url
        # The token of the sandbox this process started (``dripsms run``): fresh per run.
        self._sandbox_auth_token = sandbox_auth_token
        self._last_recovery: datetime | None = None
        self.dispatcher_health: DispatcherHealth | None = None
        """Set when a dispatcher runs in this process (``dripsms run``): /healthz reads it."""
        self.sandbox_session: SandboxSession | None = None
        """Set by ``dripsms run`` in sandbox mode: the virtual clock and the sandbox's
        controls (``/v1/sandbox/*``, the console's sandbox page); ``None`` with real Twilio."""

    @cached_property
    def engine(self) -> Engine:
        """The database."""
        return connect(self.settings.database_url)

    def ensure_ready(self) -> None:
        """Refuse to go on with an unmigrated database."""
        ensure_ready(self.engine)

    @cached_property
    def library(self) -> SequenceLibrary:
        """The sequence files."""
        return SequenceLibrary(self.settings.sequences_dir, max_segments=self.settings.max_segments)

    @cached_property
    def enroller(self) -> Enroller:
        """Enrollment."""
        return Enroller(self.engine, self.library, default_region=self.settings.default_region)

    @property
    def sandbox_url(self) -> str:
        """Where the sandbox is, when no Twilio credentials are set."""
        if self._sandbox_url:
            return self._sandbox_url
        if self.settings.twilio_api_base != TWILIO_API:
            return self.settings.twilio_api_base
        return f"http://127.0.0.1:{DEFAULT_PORT}"

    @cached_property
    def provider(self) -> TwilioProvider:
        """The SDK, pointed at Twilio, or at the sandbox when no credential at all is set."""
        s = self.settings
        if s.uses_sandbox:
            log.warning(
                "no Twilio credentials: using the dripsms sandbox at %s", self.sandbox_url,
                extra={"action": "sandbox"},
            )  # fmt: skip
            return TwilioProvider(
                account_sid=SANDBOX_ACCOUNT_SID,
                auth_token=self._sandbox_auth_token or SANDBOX_AUTH_TOKEN,
                api_base=self.sandbox_url, timeout=s.request_timeout,
                pool_size=s.concurrency,
            )  # fmt: skip
        assert s.twilio_account_sid is not None  # Settings refuse an incomplete set
        return TwilioProvider(
            account_sid=s.twilio_account_sid,
            auth_token=s.twilio_auth_token.get_secret_value() if s.twilio_auth_token else None,
            api_key=s.twilio_api_key,
            api_secret=s.twilio_api_secret.get_secret_value() if s.twilio_api_secret else None,
            api_base=s.twilio_api_base,
            timeout=s.request_timeout,
            pool_size=s.concurrency,
        )

    @property
    def account_sid(self) -> str:
        """The account messages are sent from (the sandbox's without credentials)."""
        return self.settings.twilio_account_sid or SANDBOX_ACCOUNT_SID

    @property
    def callback_secret(self) -> str:
        """The key that signs the message id in status-callback URLs.

        It ties a callback to its row; it proves nothing about the sender (the
        ``X-Twilio-Signature``, made with :attr:`webhook_auth_token`, does).
        """
        s = self.settings
        if s.uses_sandbox:
            return self._sandbox_auth_token or SANDBOX_AUTH_TOKEN
        for secret in (s.twilio_auth_token, s.twilio_api_secret):
            if secret is not None:
                return secret.get_secret_value()
        raise AssertionError("Settings refuse credentials without a token or an API secret")

    @property
    def webhook_auth_token(self) -> str | None:
        """The key Twilio signs webhooks with; ``None`` when no real key is known.

        Only an auth token checks Twilio's signatures (an API key cannot), and never the
        sandbox's published one: without a key, ``/twilio/*`` answer 503.
        """
        s = self.settings
        if s.uses_sandbox:
            token = self._sandbox_auth_token
            return token if token and token != SANDBOX_AUTH_TOKEN else None
        return s.twilio_auth_token.get_secret_value() if s.twilio_auth_token else None

    @property
    def webhook_problem(self) -> str | None:
        """Why webhook signatures cannot be checked here, and what to set; ``None`` if they can."""
        if self.webhook_auth_token is not None:
            return None
        if self.settings.uses_sandbox:
            return (
                "webhook signatures cannot be checked: no Twilio credentials are set and no "
                "sandbox was started by this process; set TWILIO_ACCOUNT_SID and "
                "TWILIO_AUTH_TOKEN, or use `dripsms run`, whose sandbox signs with a fresh token"
            )
        return (
            "webhook signatures cannot be checked: TWILIO_AUTH_TOKEN is not set (an API key "
            "cannot check Twilio's signatures); set TWILIO_AUTH_TOKEN to the account's auth token"
        )

    @property
    def messaging_service_sid(self) -> str | None:
        """The Messaging Service to send through."""
        if self.settings.messaging_service_sid:
            return self.settings.messaging_service_sid
        return SANDBOX_MESSAGING_SERVICE_SID if self.settings.uses_sandbox else None

    def dispatcher(self) -> Dispatcher:
        """A dispatcher with this process's identity as its lease owner."""
        s = self.settings
        config = DispatcherConfig.from_settings(
            s,
            messaging_service_sid=self.messaging_service_sid,
            callback_secret=self.callback_secret,
            owner=f"{socket.gethostname()}:{os.getpid()}",
        )
        # One bucket for handoffs and status fetches: together never above the rate limit.
        bucket = TokenBucket(s.rate_limit)
        passes: list[Callable[[datetime], Mapping[str, int]]] = [
            *self.timers(bucket),
            self.status_reconciler(bucket, config.window),
        ]
        return Dispatcher(
            self.engine, self.provider, self.library, config, bucket=bucket, passes=passes
        )

    def status_reconciler(self, bucket: TokenBucket, window: ProviderWindow) -> StatusReconciler:
        """The pass that fetches the status of messages whose callbacks never came."""
        config = ReconcileConfig.from_settings(self.settings, window)
        return StatusReconciler(self.engine, self.provider, bucket, config)

    @cached_property
    def conversations(self) -> Conversations:
        """Inbound handling (the webhook and missed-reply recovery share it)."""
        config = ConversationConfig.from_settings(self.settings)
        return Conversations(self.engine, self.library, config)

    @property
    def notify_secret(self) -> str:
        """The key notify webhooks are signed with."""
        secret = self.settings.notify_secret
        return secret.get_secret_value() if secret else self.callback_secret

    @property
    def inbound_numbers(self) -> list[str]:
        """Our numbers, whose inbound messages missed-reply recovery lists."""
        if self.settings.inbound_numbers:
            return list(self.settings.inbound_numbers)
        return [SANDBOX_FROM_NUMBER] if self.settings.uses_sandbox else []

    def timers(
        self, bucket: TokenBucket | None = None
    ) -> list[Callable[[datetime], dict[str, int]]]:
        """What a dispatcher pass runs besides handoffs (its Twilio calls take ``bucket``'s
        tokens, when given: the dispatcher's, so that together they keep the rate limit)."""
        provider: Provider = RateLimited(self.provider, bucket) if bucket else self.provider

        def reply_windows(now: datetime) -> dict[str, int]:
            lead = self.settings.min_lead + self.settings.window_margin
            return run_reply_timers(self.conversations, now=now, lead=lead)

        def notify(now: datetime) -> dict[str, int]:
            done = deliver_due(
                self.engine, self.notify_secret, now=now,
                twilio_auth_token=self.webhook_auth_token,
            )  # fmt: skip
            return {"notified": done.delivered, "notify_retrying": done.retrying}

        def recover(now: datetime) -> dict[str, int]:
            # A listing at Twilio per number: not on every pass, once per interval.
            last = self._last_recovery
            if last is not None and now - last < self.settings.recovery_interval:
                return {}
            self._last_recovery = now
            count = recover_replies(
                self.engine, provider, self.conversations, self.inbound_numbers, now=now
            )
            return {"recovered": count}

        return [recover, reply_windows, notify]
