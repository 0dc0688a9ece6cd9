"""Who is who in the sandbox: accounts and their API keys, the numbers Messaging Services
send from, their inbound webhook URLs, and the recipients (opt-outs, landlines, numbers
that cannot be reached). Thread-safe; :class:`~dripsms.sandbox.state.Sandbox` builds on it.
"""

from __future__ import annotations

import hmac
import random
import threading
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from dripsms.sandbox.ids import (
    SANDBOX_ACCOUNT_SID,
    SANDBOX_API_KEY_SECRET,
    SANDBOX_API_KEY_SID,
    SANDBOX_AUTH_TOKEN,
    SANDBOX_FROM_NUMBER,
    SANDBOX_MESSAGING_SERVICE_SID,
    is_sid,
    new_auth_token,
    new_sid,
)
from dripsms.sandbox.lifecycle import Status
from dripsms.sandbox.recipients import Recipients


@dataclass(frozen=True, slots=True)
class Account:
    """An account: its SID and the auth token that authenticates it and signs its callbacks."""

    sid: str
    auth_token: str = field(repr=False)


class Directory:
    """The sandbox's accounts, senders and recipients, behind one lock.

    ``seed`` makes SIDs reproducible; ``auth_token`` is the token of
    :data:`SANDBOX_ACCOUNT_SID` (default: the published :data:`SANDBOX_AUTH_TOKEN`).
    """

    def __init__(self, *, seed: int | None = None, auth_token: str | None = None) -> None:
        self._lock = threading.RLock()
        # No seed: seeded from the OS, so a restarted sandbox mints new SIDs.
        self._rng = random.Random(seed)
        self._accounts: dict[str, Account] = {}
        self._api_keys: dict[str, tuple[str, str]] = {}
        self._senders: dict[str, str] = {}
        self._inbound_urls: dict[str, str] = {}
        self._recipients = Recipients()
        self.account = self.add_account(SANDBOX_ACCOUNT_SID, auth_token or SANDBOX_AUTH_TOKEN)
        """The account every request and webhook of this sandbox uses by default."""
        self.add_api_key(SANDBOX_ACCOUNT_SID, SANDBOX_API_KEY_SID, SANDBOX_API_KEY_SECRET)

    # -- accounts and senders ---------------------------------------------------------

    def add_account(self, sid: str | None = None, auth_token: str | None = None) -> Account:
        """Add (or replace) an account; SID and token are generated when not given."""
        with self._lock:
            account = Account(sid or new_sid("AC", self._rng), auth_token or new_auth_token())
            if not is_sid("AC", account.sid):
                raise ValueError(f"{account.sid!r} is not an account SID (AC + 32 hex)")
            self._accounts[account.sid] = account
            return account

    def add_api_key(
        self, account_sid: str, key_sid: str | None = None, secret: str | None = None
    ) -> tuple[str, str]:
        """Give ``account_sid`` an API key; returns ``(key_sid, secret)``."""
        with self._lock:
            self._account(account_sid)
            key = (key_sid or new_sid("SK", self._rng), secret or new_auth_token())
            self._api_keys[key[0]] = (key[1], account_sid)
            return key

    def authenticate(self, username: str, password: str) -> Account | None:
        """The account that HTTP Basic credentials (account SID + token, or API key) open."""
        with self._lock:
            account = self._accounts.get(username)
            if account is not None:
                return account if _same(password, account.auth_token) else None
            secret, account_sid = self._api_keys.get(username, ("", ""))
            if secret and _same(password, secret):
                return self._accounts.get(account_sid)
            return None

    def set_sender(self, messaging_service_sid: str, from_number: str) -> None:
        """The number a Messaging Service sends from (default :data:`SANDBOX_FROM_NUMBER`)."""
        with self._lock:
            self._senders[messaging_service_sid] = from_number

    def set_inbound_url(self, messaging_service_sid: str, url: str | None) -> None:
        """Where the Messaging Service posts inbound messages (``None`` or ``""``: nowhere)."""
        if not is_sid("MG", messaging_service_sid):
            raise ValueError(f"{messaging_service_sid!r} is not a Messaging Service SID")
        if url:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"the inbound URL {url!r} is not an http(s) URL")
        with self._lock:
            if url:
                self._inbound_urls[messaging_service_sid] = url
            else:
                self._inbound_urls.pop(messaging_service_sid, None)

    def inbound_urls(self) -> dict[str, str]:
        """Each Messaging Service's inbound webhook URL."""
        with self._lock:
            return dict(self._inbound_urls)

    # -- recipients ----------------------------------------------------------------------

    def opt_out(self, number: str, messaging_service_sid: str | None = None) -> None:
        """``number`` opts out: creates to it get 21610, and due messages to it fail.

        With ``messaging_service_sid``, only of that service (as a STOP texted to it does);
        without, of every sender.
        """
        with self._lock:
            self._recipients.opt_out(number, messaging_service_sid)

    def opt_in(self, number: str, messaging_service_sid: str | None = None) -> None:
        """``number`` opts back in: to that service (and everywhere), or to every service."""
        with self._lock:
            self._recipients.opt_in(number, messaging_service_sid)

    def opted_out_of(self, number: str) -> list[str]:
        """The Messaging Services ``number`` opted out of; ``"*"`` first when of every sender."""
        with self._lock:
            everywhere = ["*"] if number in self._recipients.opted_out else []
            return everywhere + self._recipients.services_opted_out(number)

    def add_landline(self, number: str) -> None:
        """``number`` is a landline: creates to it get 21614."""
        with self._lock:
            self._recipients.landlines.add(number)

    def mark_undeliverable(
        self, number: str, error_code: int = 30003, status: Status = Status.UNDELIVERED
    ) -> None:
        """Messages released to ``number`` end ``status`` (undelivered, failed) with the code."""
        with self._lock:
            self._recipients.mark_undeliverable(number, error_code, status)

    # -- inside the lock ---------------------------------------------------------------------

    def _account(self, sid: str) -> Account:
        account = self._accounts.get(sid)
        if account is None:
            raise ValueError(f"no account {sid} in this sandbox")
        return account

    def _sender(self, messaging_service_sid: str) -> str:
        return self._senders.get(messaging_service_sid, SANDBOX_FROM_NUMBER)

    def _scopes(self, messaging_service_sid: str | None, sender: str) -> list[str]:
        """The Messaging Services whose opt-outs block a message through these."""
        if messaging_service_sid is not None:
            return [messaging_service_sid]
        # Sent From a number alone: blocked where that number serves a service left by STOP.
        return [s for s in self._recipients.opted_out_of if self._sender(s) == sender]

    def _service_for(self, to: str | None) -> str:
        if to is None:
            return SANDBOX_MESSAGING_SERVICE_SID
        for service, number in self._senders.items():
            if number == to:
                return service
        if to == SANDBOX_FROM_NUMBER:
            return SANDBOX_MESSAGING_SERVICE_SID
        raise ValueError(f"no Messaging Service sends from {to}: give messaging_service_sid")


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())
