"""The Twilio provider: the official ``twilio`` SDK with a settable base URL.

The same code talks to api.twilio.com, to the built-in sandbox, or to any
Twilio-compatible endpoint: only ``api_base`` changes.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from requests.adapters import HTTPAdapter
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from dripsms.provider.base import (
    Handoff,
    ProviderError,
    ProviderMessage,
    http_error,
    no_answer_error,
)

# The SDK logs query strings (phone numbers) at INFO; health data stays out of INFO logs.
_HTTP_LOG = logging.getLogger("dripsms.provider.http")
_HTTP_LOG.setLevel(logging.WARNING)


def format_send_at(instant: datetime) -> str:
    """``SendAt`` as Twilio wants it: UTC, ``YYYY-MM-DDTHH:MM:SSZ``."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Session(requests.Session):
    """A ``requests`` session that reads the environment's proxy and CA settings once per
    host, not once per request.

    For every request ``requests`` looks up ``HTTPS_PROXY``, ``NO_PROXY``,
    ``REQUESTS_CA_BUNDLE`` and the like by walking the whole process environment (twice:
    ``getproxies_environment``); at hundreds of creates a second that walk was a fifth of
    a worker's CPU. The environment of a running process does not change, and a provider
    talks to one host, so the answer is kept per (scheme, host). Explicit arguments (the
    SDK passes none) are merged as ``requests`` always does.
    """

    def __init__(self) -> None:
        super().__init__()
        self._environment: dict[tuple[str, str], dict[str, Any]] = {}

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> dict[str, Any]:
        if proxies or stream is not None or verify is not None or cert is not None:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urlsplit(str(url))
        key = (parts.scheme, parts.netloc)
        settings = self._environment.get(key)
        if settings is None:
            settings = super().merge_environment_settings(url, {}, None, None, None)
            self._environment[key] = settings
        return {**settings, "proxies": dict(settings["proxies"])}


def form_encode(values: Mapping[str, Any]) -> str:
    """``values`` form-encoded exactly as ``requests`` encodes a dict of ``data`` (a list
    value repeats its key; ``None`` is left out), ahead of ``requests``.

    Given a dict, ``requests`` (2.33+) asks ``isinstance`` of two ``runtime_checkable``
    protocols (``SupportsRead``, ``SupportsItems``) on every request, and each such check
    walks the protocol's attributes (``typing._get_protocol_attrs``): about 7% of a
    worker's CPU at hundreds of creates a second. A string is taken as it is. The SDK sets
    ``Content-Type: application/x-www-form-urlencoded`` on every POST itself.
    """
    pairs: list[tuple[str, Any]] = []
    for key, value in values.items():
        many = not isinstance(value, (str, bytes)) and hasattr(value, "__iter__")
        pairs.extend((key, item) for item in (value if many else [value]) if item is not None)
    return urlencode(pairs, doseq=True)


class _HttpClient(TwilioHttpClient):  # type: ignore[misc]  # the SDK ships no types
    """The SDK's client, remembering each thread's last response (for ``Retry-After``).

    Its connection pool keeps ``pool_size`` connections to a host (``requests`` keeps 10,
    and the SDK at most 32 for https): as many as the calls in flight, so none is closed
    and opened again between calls. It never retries (``max_retries=0``): a create is not
    repeated blindly (see docs/exactly-once.md).
    """

    def __init__(self, timeout: float, pool_size: int = 10) -> None:
        super().__init__(timeout=timeout, logger=_HTTP_LOG)
        self.session = _Session()
        self._local = threading.local()
        for prefix in ("https://", "http://"):
            adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
            self.session.mount(prefix, adapter)

    def request(self, *args: Any, **kwargs: Any) -> Response:
        """Make the request; keep the response for this thread.

        A read (GET) that fails to connect is tried once more: a pooled keep-alive
        connection the server has just closed fails that way, and a read changes nothing.
        A create or a cancel is never repeated here (see docs/exactly-once.md). A POST's
        form is encoded here (:func:`form_encode`), not by ``requests``.
        """
        self._local.response = None
        method = str(args[0] if args else kwargs.get("method", "")).upper()
        if isinstance(kwargs.get("data"), Mapping):
            kwargs["data"] = form_encode(kwargs["data"])
        if not kwargs.get("params"):  # a query string (the SDK logs it) is left to requests
            kwargs["params"] = ""
        try:
            response = super().request(*args, **kwargs)
        except requests.exceptions.ConnectionError:
            if method != "GET":
                raise
            response = super().request(*args, **kwargs)
        self._local.response = response
        return response

    def retry_after(self) -> float | None:
        """The last response's ``Retry-After`` in seconds, if it had one."""
        response = getattr(self._local, "response", None)
        if response is None or not response.headers:
            return None
        value = response.headers.get("Retry-After")
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None


class TwilioProvider:
    """Messages through Twilio's REST API (or anything that speaks it)."""

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str | None = None,
        api_key: str | None = None,
        api_secret: str | None = None,
        api_base: str = "https://api.twilio.com",
        timeout: float = 15.0,
        pool_size: int = 10,
    ) -> None:
        self._http = _HttpClient(timeout, pool_size)
        if api_key and api_secret:
            self._client = Client(api_key, api_secret, account_sid, http_client=self._http)
        else:
            self._client = Client(account_sid, auth_token, http_client=self._http)
        self._client.api.base_url = api_base.rstrip("/")

    @contextmanager
    def _errors(self, *, creates: bool) -> Iterator[None]:
        try:
            yield
        except TwilioRestException as exc:
            raise self._rest_error(exc, creates=creates) from None
        except TwilioException as exc:  # a list page with an error status ("Unable to fetch page")
            raise self._rest_error(_page_error(exc), creates=creates) from None
        except (requests.ConnectTimeout, requests.exceptions.SSLError) as exc:
            raise ProviderError(f"cannot connect: {type(exc).__name__}", retryable=True) from None
        except requests.ConnectionError as exc:
            refused = "NewConnectionError" in repr(exc) or "Connection refused" in repr(exc)
            raise ProviderError(
                f"connection failed: {type(exc).__name__}",
                retryable=True,
                outcome_unknown=creates and not refused,
            ) from None
        except requests.RequestException as exc:  # a read timeout, a broken response
            raise no_answer_error(type(exc).__name__, creates=creates) from None

    def _rest_error(self, exc: TwilioRestException, *, creates: bool) -> ProviderError:
        return http_error(
            exc.status, exc.code, exc.msg, creates=creates, retry_after=self._http.retry_after()
        )

    def create(
        self,
        *,
        to: str,
        body: str,
        messaging_service_sid: str,
        send_at: datetime | None,
        status_callback: str | None,
    ) -> Handoff:
        """Create a message; scheduled (``SendAt``, ``ScheduleType=fixed``) when ``send_at``."""
        params: dict[str, Any] = {
            "to": to,
            "body": body,
            "messaging_service_sid": messaging_service_sid,
        }
        if status_callback:
            params["status_callback"] = status_callback
        if send_at is not None:
            params["send_at"] = format_send_at(send_at)
            params["schedule_type"] = "fixed"
        with self._errors(creates=True):
            message = self._client.messages.create(**params)
        return Handoff(sid=str(message.sid), status=str(message.status))

    def cancel(self, sid: str) -> str:
        """Cancel a scheduled message (``Status=canceled``)."""
        with self._errors(creates=False):
            message = self._client.messages(sid).update(status="canceled")
        return str(message.status)

    def fetch(self, sid: str) -> ProviderMessage:
        """One message by SID."""
        with self._errors(creates=False):
            return _message(self._client.messages(sid).fetch())

    def recent(self, *, to: str, limit: int = 50) -> list[ProviderMessage]:
        """The newest messages to ``to``, newest first."""
        with self._errors(creates=False):
            return [_message(m) for m in self._client.messages.list(to=to, limit=limit)]

    def received(self, *, to: str, since: datetime) -> list[ProviderMessage]:
        """Inbound messages to ``to`` sent since ``since`` (Twilio filters by day)."""
        with self._errors(creates=False):
            listed = self._client.messages.list(to=to, date_sent_after=since, limit=1000)
        return [_message(m) for m in listed if _inbound(m)]


def _inbound(resource: Any) -> bool:
    return str(getattr(resource, "direction", "")) == "inbound"


def _page_error(exc: TwilioException) -> TwilioRestException:
    """The SDK's page error as the REST error it reports (its status, code and message)."""
    response = exc.args[1] if len(exc.args) > 1 else None
    if not isinstance(response, Response):
        return TwilioRestException(500, "", msg=str(exc))  # unreadable: no answer we can trust
    try:
        payload = json.loads(response.text or "{}")
    except ValueError:
        payload = {}
    payload = payload if isinstance(payload, dict) else {}
    return TwilioRestException(
        response.status_code, "", msg=str(payload.get("message") or exc.args[0]),
        code=payload.get("code"),
    )  # fmt: skip


def _message(resource: Any) -> ProviderMessage:
    created = resource.date_created
    sent = getattr(resource, "date_sent", None)
    return ProviderMessage(
        sid=str(resource.sid),
        to=str(resource.to),
        body=str(resource.body or ""),
        status=str(resource.status),
        messaging_service_sid=resource.messaging_service_sid,
        date_created=created.astimezone(UTC) if isinstance(created, datetime) else None,
        from_=getattr(resource, "from_", None),
        date_sent=sent.astimezone(UTC) if isinstance(sent, datetime) else None,
        error_code=_code(getattr(resource, "error_code", None)),
    )


def _code(value: Any) -> int | None:
    """Twilio's error code as a number (the API gives a number, null, or sometimes text)."""
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
