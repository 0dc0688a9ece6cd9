"""Wiring: settings in, the engine's parts out (database, sequences, provider, dispatcher)."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
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
from dripsms.engine.recovery import recover_replies
from dripsms.engine.supervisor import DispatcherHealth
from dripsms.engine.timers import close_reply_windows
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

    def __init__(self, settings: Settings, clock: Clock, *, sandbox_url: str | None = None):
        self.settings = settings
        self.clock = clock
        self._sandbox_url = sandbox_url
        self._last_recovery: datetime | None = None
        self.dispatcher_health: DispatcherHealth | None = None
        """Set when a dispatcher runs in this process (``dripsms run``): /healthz reads it."""

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
        """The SDK, pointed at Twilio, or at the sandbox without credentials."""
        s = self.settings
        if s.uses_sandbox:
            log.warning(
                "no Twilio credentials: using the dripsms sandbox at %s", self.sandbox_url,
                extra={"action": "sandbox"},
            )  # fmt: skip
            return TwilioProvider(
                account_sid=SANDBOX_ACCOUNT_SID, auth_token=SANDBOX_AUTH_TOKEN,
                api_base=self.sandbox_url, timeout=s.request_timeout,
            )  # fmt: skip
        assert s.twilio_account_sid is not None
        return TwilioProvider(
            account_sid=s.twilio_account_sid,
            auth_token=s.twilio_auth_token.get_secret_value() if s.twilio_auth_token else None,
            api_key=s.twilio_api_key,
            api_secret=s.twilio_api_secret.get_secret_value() if s.twilio_api_secret else None,
            api_base=s.twilio_api_base,
            timeout=s.request_timeout,
        )

    @property
    def callback_secret(self) -> str:
        """The key that signs status-callback URLs (the auth token, or the API secret)."""
        s = self.settings
        if s.uses_sandbox:
            return SANDBOX_AUTH_TOKEN
        for secret in (s.twilio_auth_token, s.twilio_api_secret):
            if secret is not None:
                return secret.get_secret_value()
        return s.twilio_account_sid or ""

    @property
    def webhook_auth_token(self) -> str:
        """The auth token Twilio signs webhooks with (the sandbox's without credentials)."""
        s = self.settings
        if s.uses_sandbox:
            return SANDBOX_AUTH_TOKEN
        return s.twilio_auth_token.get_secret_value() if s.twilio_auth_token else ""

    @property
    def messaging_service_sid(self) -> str | None:
        """The Messaging Service to send through."""
        if self.settings.messaging_service_sid:
            return self.settings.messaging_service_sid
        return SANDBOX_MESSAGING_SERVICE_SID if self.settings.uses_sandbox else None

    def dispatcher(self) -> Dispatcher:
        """A dispatcher with this process's identity as its lease owner."""
        s = self.settings
        config = DispatcherConfig(
            messaging_service_sid=self.messaging_service_sid,
            public_url=s.public_url,
            callback_secret=self.callback_secret,
            window=ProviderWindow(s.min_lead, s.horizon, s.window_margin),
            scheduled_budget=s.scheduled_budget,
            batch_size=s.batch_size,
            lease=s.lease,
            reconcile_after=s.reconcile_after,
            max_attempts=s.max_attempts,
            concurrency=s.concurrency,
            rate_limit=s.rate_limit,
            owner=f"{socket.gethostname()}:{os.getpid()}",
        )
        return Dispatcher(self.engine, self.provider, self.library, config, passes=self.timers())

    @cached_property
    def conversations(self) -> Conversations:
        """Inbound handling (the webhook and missed-reply recovery share it)."""
        s = self.settings
        config = ConversationConfig(
            advanced_opt_out=s.advanced_opt_out,
            help_text=s.help_text,
            opt_out_text=s.opt_out_text,
            opt_in_text=s.opt_in_text,
            free_text_opt_out=s.free_text_opt_out,
            max_reprompts=s.max_reprompts,
            unmatched_reply=s.unmatched_reply,
        )
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

    def timers(self) -> list[Callable[[datetime], dict[str, int]]]:
        """What a dispatcher pass runs besides handoffs."""

        def reply_windows(now: datetime) -> dict[str, int]:
            return {"no_reply": close_reply_windows(self.conversations, now=now)}

        def notify(now: datetime) -> dict[str, int]:
            done = deliver_due(self.engine, self.notify_secret, now=now)
            return {"notified": done.delivered, "notify_retrying": done.retrying}

        def recover(now: datetime) -> dict[str, int]:
            # A listing at Twilio per number: not on every pass, once per interval.
            last = self._last_recovery
            if last is not None and now - last < self.settings.recovery_interval:
                return {}
            self._last_recovery = now
            count = recover_replies(
                self.engine, self.provider, self.conversations, self.inbound_numbers, now=now
            )
            return {"recovered": count}

        return [recover, reply_windows, notify]
