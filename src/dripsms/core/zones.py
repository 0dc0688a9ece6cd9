"""IANA time zones by name, for every place a person types one (a sequence's default, a
contact's zone, ``--tz``, ``DRIPSMS_CLINIC_TIMEZONE``)."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def time_zone(name: str) -> ZoneInfo:
    """The zone called ``name``; ``ValueError`` (a message fit for a person) for a name that
    is not one: unknown, malformed, or too long for a file name (which ``ZoneInfo`` reports
    as ``OSError``)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"unknown time zone {name[:64]!r}; use an IANA name such as 'America/New_York'"
        ) from None
