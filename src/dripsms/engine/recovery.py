"""Missed-reply recovery: Twilio barely retries webhooks, so replies received while the
server was down are fetched from Twilio's message list and handled as if just received.

A cursor per number remembers the newest inbound message seen; each pass lists inbound
messages to that number sent since the cursor (a day's overlap: Twilio filters by day),
and hands every one that dripsms has not stored to :class:`Conversations`. Answers go to
the outbox (there is no webhook response to carry TwiML).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine

from dripsms.engine.conversations import Conversations, Inbound
from dripsms.provider.base import Provider, ProviderError
from dripsms.store.replies import load_cursor, save_cursor, stored_sids


def recover_replies(
    engine: Engine,
    provider: Provider,
    conversations: Conversations,
    numbers: list[str],
    *,
    now: datetime,
    first_look: timedelta = timedelta(days=1),
) -> int:
    """Handle inbound texts the webhook missed; how many were recovered."""
    recovered = 0
    for number in numbers:
        name = f"inbound:{number}"
        with engine.connect() as connection:
            since = load_cursor(connection, name) or now - first_look
        try:
            listed = provider.received(to=number, since=since - timedelta(days=1))
        except ProviderError:
            continue  # try again next pass; the cursor stays
        fresh = [m for m in listed if m.date_created is None or m.date_created >= since]
        if not fresh:
            continue
        with engine.connect() as connection:
            known = stored_sids(connection, (m.sid for m in fresh))
        newest = since
        for message in sorted(fresh, key=lambda m: m.date_created or now):
            when = message.date_created or now
            newest = max(newest, when)
            if message.sid in known:
                continue
            conversations.receive(
                Inbound(message.sid, message.from_ or "", message.body, when, to=number),
                immediate=False,
            )
            recovered += 1
        with engine.begin() as connection:
            save_cursor(connection, name, newest, now)
    return recovered
