"""A Twilio-compatible emulator of the Messages API, for demos without an account and for tests.

The official ``twilio`` SDK talks to it over real HTTP::

    with SandboxServer(Sandbox()) as server:
        client = Client(SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN)
        client.api.base_url = server.base_url
        client.messages.create(to="+15551234567", messaging_service_sid=..., body="Hi")

    sandbox.set_inbound_url(SANDBOX_MESSAGING_SERVICE_SID, "http://127.0.0.1:8000/twilio/inbound")
    sandbox.receive("+15551234567", "8")   # the phone replies: a signed inbound webhook

See ``docs/sandbox.md`` for what it emulates, its clock, faults, inbound messages, the
phone simulator and the admin routes.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from dripsms.sandbox.callbacks import CallbackDispatcher, StatusCallback
from dripsms.sandbox.directory import Account
from dripsms.sandbox.errors import ApiError
from dripsms.sandbox.faults import CallbackFaults, CallKind, Fault, FaultConfig, FaultRule
from dripsms.sandbox.ids import (
    DEFAULT_PORT,
    SANDBOX_ACCOUNT_SID,
    SANDBOX_API_KEY_SECRET,
    SANDBOX_API_KEY_SID,
    SANDBOX_AUTH_TOKEN,
    SANDBOX_FROM_NUMBER,
    SANDBOX_MESSAGING_SERVICE_SID,
    new_auth_token,
)
from dripsms.sandbox.inbound import InboundDelivery, InboundWebhook
from dripsms.sandbox.lifecycle import Status
from dripsms.sandbox.message import Direction, Message
from dripsms.sandbox.optout import OptOutType
from dripsms.sandbox.rules import SchedulingWindow
from dripsms.sandbox.state import Sandbox

if TYPE_CHECKING:
    from dripsms.sandbox.app import create_app
    from dripsms.sandbox.server import SandboxServer, serve

# The HTTP side (FastAPI, uvicorn) loads on first use: code that needs only the constants,
# like the provider's settings, stays light.
_HTTP_SIDE = {
    "create_app": "dripsms.sandbox.app",
    "SandboxServer": "dripsms.sandbox.server",
    "serve": "dripsms.sandbox.server",
}


def __getattr__(name: str) -> Any:
    module = _HTTP_SIDE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "DEFAULT_PORT",
    "SANDBOX_ACCOUNT_SID",
    "SANDBOX_API_KEY_SECRET",
    "SANDBOX_API_KEY_SID",
    "SANDBOX_AUTH_TOKEN",
    "SANDBOX_FROM_NUMBER",
    "SANDBOX_MESSAGING_SERVICE_SID",
    "Account",
    "ApiError",
    "CallKind",
    "CallbackDispatcher",
    "CallbackFaults",
    "Direction",
    "Fault",
    "FaultConfig",
    "FaultRule",
    "InboundDelivery",
    "InboundWebhook",
    "Message",
    "OptOutType",
    "Sandbox",
    "SandboxServer",
    "SchedulingWindow",
    "Status",
    "StatusCallback",
    "create_app",
    "new_auth_token",
    "serve",
]
