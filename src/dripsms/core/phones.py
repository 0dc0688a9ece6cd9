"""Phone numbers to E.164 with Google's libphonenumber rules (the ``phonenumbers`` port)."""

from __future__ import annotations

import phonenumbers

from dripsms.errors import InvalidInput


class InvalidPhone(InvalidInput):
    """A phone number that cannot be read or does not exist."""


def normalize_phone(text: str, default_region: str = "US") -> str:
    """``"(415) 555-0100"`` → ``"+14155550100"``; national forms use ``default_region``.

    Raises :class:`InvalidPhone` naming the problem; the number itself is not repeated in
    the message, since messages may reach logs and a phone number is health data.
    """
    raw = (text or "").strip()
    if not raw:
        raise InvalidPhone("phone: missing")
    if raw.startswith("00"):
        raw = "+" + raw[2:]  # the international call prefix most of the world dials
    try:
        number = phonenumbers.parse(raw, None if raw.startswith("+") else default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"phone: not a phone number ({_reason(exc)})") from None
    if not phonenumbers.is_possible_number(number):
        raise InvalidPhone("phone: not a possible number (wrong length for its country)")
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone("phone: not a valid number in its country's numbering plan")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _reason(exc: phonenumbers.NumberParseException) -> str:
    reasons = {
        phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
        phonenumbers.NumberParseException.NOT_A_NUMBER: "no digits",
        phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
        phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
        phonenumbers.NumberParseException.TOO_LONG: "too long",
    }
    return reasons.get(exc.error_type, "unreadable")


def mask_phone(phone: str) -> str:
    """``+14155550100`` → ``+1415•••0100``: enough to tell numbers apart in a log."""
    if len(phone) <= 8:
        return "•" * len(phone)
    return phone[:5] + "•" * (len(phone) - 9) + phone[-4:]
