"""What the routes take, as typed dependencies: the services (built once per app from a
:class:`Runtime`, no globals), a request body read as JSON or a form, a phone in the path."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Request
from sqlalchemy import Engine

from dripsms.clock import Clock, system_clock
from dripsms.core.phones import normalize_phone
from dripsms.engine.conversations import Conversations
from dripsms.engine.enrollment import Enroller
from dripsms.engine.library import SequenceLibrary
from dripsms.engine.operators import LoginThrottle
from dripsms.runtime import Runtime
from dripsms.store.database import MAX_ID
from dripsms.web.metrics import Metrics
from dripsms.web.problems import unstorable
from dripsms.web.schemas import EXAMPLE_PHONE


@dataclass
class Services:
    """The app's view of the engine."""

    runtime: Runtime
    metrics: Metrics
    session_clock: Clock = field(default=system_clock)
    """The real clock console sessions expire on (never the sandbox's virtual clock)."""
    login_throttle: LoginThrottle = field(default_factory=LoginThrottle)
    """Failed sign-ins per email, in this process."""

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


def get_services(request: Request) -> Services:
    """The services of the app serving ``request``."""
    services = request.app.state.services
    assert isinstance(services, Services)
    return services


async def _services(request: Request) -> Services:
    """:func:`get_services` as a dependency: ``async``, so that FastAPI calls it on the event
    loop rather than hopping to its threadpool and back for a dict lookup."""
    return get_services(request)


ServicesDep = Annotated[Services, Depends(_services)]


async def read_payload(request: Request) -> dict[str, Any]:
    """The body as a dict, from JSON or a form (``attributes[name]`` fields gathered into
    ``attributes``); 400, 415 or 422 when it cannot be one, or holds what no database keeps."""
    data: dict[str, Any]
    body = await request.body()  # bounded (size, JSON depth) by web.limits as it is read
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            parsed = json.loads(body or b"null")
        except ValueError:
            raise HTTPException(400, "the body is not valid JSON") from None
        if not isinstance(parsed, dict):
            raise HTTPException(422, "the body must be a JSON object")
        data = parsed
    elif kind == "application/x-www-form-urlencoded":
        data = _form_fields((await request.form()).multi_items())
    else:
        raise HTTPException(415, "send application/json or application/x-www-form-urlencoded")
    unstorable(data)
    return data


def _form_fields(items: list[tuple[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    for key, value in items:
        if key.startswith("attributes[") and key.endswith("]"):
            attributes[key[11:-1]] = value
        else:
            data[key] = value
    if attributes:
        data["attributes"] = attributes
    return data


Payload = Annotated[dict[str, Any], Depends(read_payload)]


def normalized_phone(
    phone: Annotated[str, Path(max_length=40, examples=[EXAMPLE_PHONE])], services: ServicesDep
) -> str:
    """The ``{phone}`` of the path in E.164 (:class:`InvalidPhone`, a 422, when it is not one)."""
    return normalize_phone(phone, services.runtime.settings.default_region)


Phone = Annotated[str, Depends(normalized_phone)]
"""A phone number in the path, normalized."""


RowId = Annotated[int, Path(ge=1, le=MAX_ID, examples=[1])]
"""A row's id in the path: a number any database column holds (a larger one is a 422)."""
