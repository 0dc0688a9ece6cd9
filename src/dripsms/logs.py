"""Logging for every command: one line per event (key=value text or JSON), phones masked.

An event is a log call with ``extra={"action": ..., ...}``: the text form prints
``time level logger action=... key=value ... msg="..."``, the JSON form one object per
line with the same fields. Message bodies are never passed to a log call; as a second
line of defence every phone-number-like run of digits in the final line is masked.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO
from urllib.parse import unquote

FORMATS = ("text", "json")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

# What a LogRecord carries by itself; everything else on it came from ``extra``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's copy of the message with terminal colours
}
# A phone number in any usual form: E.164 (+14155550123), national with separators
# ((415) 555-0123, 415.555.0123), bare digits (4155550123). Not inside words or SIDs.
_PHONE = re.compile(r"(?<![\w.+-])\+?\d(?:[ ().-]{0,2}\d){6,14}(?![\w])")
_NOT_A_PHONE = re.compile(r"\d{4}-\d\d-\d\d|\d{1,3}(?:\.\d{1,3}){3}$")  # a date, an IPv4 address
_BARE = re.compile(r"^[0-9a-zA-Z_.:/-]+$")


def mask_phone(phone: str) -> str:
    """``+14155550123`` -> ``+1415*****23``: the country and area code, the last two digits."""
    digits = [i for i, ch in enumerate(phone) if ch.isdigit()]
    if len(digits) < 7:
        return "*" * len(phone)
    keep = set(digits[:4] + digits[-2:])
    return "".join(ch if (i in keep or not ch.isdigit()) else "*" for i, ch in enumerate(phone))


def mask_phones(text: str) -> str:
    """``text`` with every phone-number-like part masked by :func:`mask_phone`."""

    def masked(found: re.Match[str]) -> str:
        text = found.group()
        return text if _NOT_A_PHONE.match(text) else mask_phone(text)

    return _PHONE.sub(masked, text)


def event_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The ``extra`` fields of a record, in the order they were given."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


def _instant(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _text_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if text and _BARE.match(text) else json.dumps(text)


class TextFormatter(logging.Formatter):
    """``time level logger action=... key=value msg="..."`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        """One line per event."""
        fields = event_fields(record)
        parts = [_instant(record), record.levelname, record.name]
        if "action" in fields:
            parts.append(f"action={_text_value(fields.pop('action'))}")
        parts += [f"{key}={_text_value(value)}" for key, value in fields.items()]
        parts.append(f"msg={_text_value(record.getMessage())}")
        if record.exc_info and record.exc_info[0] is not None:
            parts.append(f"error={record.exc_info[0].__name__}")
            if record.levelno <= logging.DEBUG:  # a traceback only when asked for in detail
                parts.append("traceback=" + json.dumps(self.formatException(record.exc_info)))
        return mask_phones(" ".join(parts))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        """One line per event."""
        event: dict[str, Any] = {
            "time": _instant(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **event_fields(record),
        }
        if record.exc_info and record.exc_info[0] is not None:
            event["error"] = record.exc_info[0].__name__
            if record.levelno <= logging.DEBUG:
                event["traceback"] = self.formatException(record.exc_info)
        return mask_phones(json.dumps(event, default=str, ensure_ascii=False))


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        """The current standard error."""
        return sys.stderr

    @stream.setter
    def stream(self, _: TextIO) -> None:
        pass


class WithoutQuery(logging.Filter):
    """Drops the query string from uvicorn's access lines (callback URLs carry ids, keys), and
    decodes the path so that a phone in it (``/console/contacts/%2B1415…``) is masked too."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the path argument; keep the record."""
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            path = unquote(args[2].split("?", 1)[0])
            record.args = (args[0], args[1], path, args[3], args[4])
        return True


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Send every log record at ``level`` or above to standard error, in ``fmt``.

    Idempotent: a second call replaces the handler of the first.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_dripsms", False):
            root.removeHandler(handler)
    handler = StderrHandler()
    handler._dripsms = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Alembic says "Context impl SQLiteImpl." each time /healthz reads the revision, and
    # lists its plugins whenever it loads: `db upgrade` reports the migration itself.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, WithoutQuery) for f in access.filters):
        access.addFilter(WithoutQuery())
