"""What the routes use, built once per app from a :class:`Runtime` (no globals)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import Engine

from dripsms.clock import Clock
from dripsms.engine.conversations import Conversations
from dripsms.engine.enrollment import Enroller
from dripsms.engine.library import SequenceLibrary
from dripsms.runtime import Runtime
from dripsms.web.metrics import Metrics


@dataclass
class Services:
    """The app's view of the engine."""

    runtime: Runtime
    metrics: Metrics

    @property
    def engine(self) -> Engine:
        """The database."""
        return self.runtime.engine

    @property
    def library(self) -> SequenceLibrary:
        """The sequences."""
        return self.runtime.library

    @property
    def enroller(self) -> Enroller:
        """Enrollment."""
        return self.runtime.enroller

    @property
    def clock(self) -> Clock:
        """The clock."""
        return self.runtime.clock

    @property
    def auth_token(self) -> str | None:
        """The key Twilio signs webhooks with; ``None``: none known, webhooks answer 503."""
        return self.runtime.webhook_auth_token

    @property
    def callback_secret(self) -> str:
        """The key status-callback URLs are signed with."""
        return self.runtime.callback_secret

    @property
    def public_url(self) -> str:
        """The URL Twilio reaches us at."""
        return self.runtime.settings.public_url

    @property
    def api_tokens(self) -> list[str]:
        """Accepted API tokens."""
        return [t.get_secret_value() for t in self.runtime.settings.api_tokens]

    @property
    def conversations(self) -> Conversations:
        """Inbound handling."""
        return self.runtime.conversations


def services_of(request: Request) -> Services:
    """The services of the app serving ``request``."""
    services = request.app.state.services
    assert isinstance(services, Services)
    return services
