"""The Twilio port: the official SDK, pointed at Twilio, the sandbox, or any compatible API."""

from __future__ import annotations

from dripsms.provider.base import (
    Handoff,
    Provider,
    ProviderError,
    ProviderMessage,
)
from dripsms.provider.twilio import TwilioProvider

__all__ = ["Handoff", "Provider", "ProviderError", "ProviderMessage", "TwilioProvider"]
