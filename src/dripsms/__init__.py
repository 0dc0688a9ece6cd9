"""dripsms: reply-aware SMS drip sequences on Twilio Message Scheduling."""

from __future__ import annotations

__version__ = "0.1.0.dev0"
