"""Log lines: one per event, key=value or JSON, phone numbers masked, no query strings."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from dripsms.logs import (
    JsonFormatter,
    TextFormatter,
    WithoutQuery,
    configure_logging,
    mask_phone,
    mask_phones,
)


def test_mask_phone_keeps_the_country_and_area_code_and_the_last_two_digits() -> None:
    assert mask_phone("+14155550123") == "+1415*****23"
    assert mask_phone("12345") == "*****"


@pytest.mark.parametrize(
    "text",
    ["+14155550123", "14155550123", "4155550123", "(415) 555-0123", "415-555-0123",
     "415.555.0123", "+44 20 7946 0958", "to=+14155550123&body=x"],
)  # fmt: skip
def test_every_usual_form_of_a_phone_number_is_masked(text: str) -> None:
    masked = mask_phones(text)
    assert "555-0123" not in masked
    assert "5550123" not in masked
    assert "7946 0958" not in masked
    assert "*" in masked


@pytest.mark.parametrize(
    "text",
    ["2026-03-01 12:00:00+00:00", "at 10.20.30.40:5555", "SM0123456789abcdef0123456789abcdef",
     "message_id=123456", "0:17:20"],
)  # fmt: skip
def test_dates_addresses_sids_and_ids_are_left_alone(text: str) -> None:
    assert mask_phones(text) == text


def record(msg: str = "tick", **extra: object) -> logging.LogRecord:
    logger = logging.getLogger("dripsms.test")
    return logger.makeRecord("dripsms.test", logging.INFO, __file__, 1, msg, (), None, extra=extra)


def test_text_lines_are_time_level_logger_then_the_action_and_the_fields() -> None:
    line = TextFormatter().format(
        record("handed off", action="tick", scheduled=3, error="database is locked")
    )
    time, level, logger, *rest = line.split(" ", 3)
    assert time.endswith("Z") and "T" in time
    assert (level, logger) == ("INFO", "dripsms.test")
    assert rest == ['action=tick scheduled=3 error="database is locked" msg="handed off"']
    assert "\n" not in TextFormatter().format(record("two\nlines", action="x"))


def test_json_lines_carry_the_extra_fields() -> None:
    line = JsonFormatter().format(record("tick", action="tick", scheduled=3, phone="+14155550123"))
    event = json.loads(line)
    assert event["action"] == "tick"
    assert event["scheduled"] == 3
    assert event["phone"] == "+1415*****23"
    assert {"time", "level", "logger", "message"} <= set(event)


def test_an_exception_is_named_but_its_traceback_only_shown_at_debug() -> None:
    try:
        raise RuntimeError("to 4155550123")
    except RuntimeError:
        import sys

        info = sys.exc_info()
    failed = logging.getLogger("x").makeRecord("x", logging.ERROR, "f", 1, "failed", (), info)
    line = TextFormatter().format(failed)
    assert "error=RuntimeError" in line
    assert "Traceback" not in line
    failed.levelno = logging.DEBUG
    assert "Traceback" in TextFormatter().format(failed)
    assert "4155550123" not in TextFormatter().format(failed)


def test_access_lines_lose_their_query_string() -> None:
    access = logging.LogRecord(
        "uvicorn.access", logging.INFO, "f", 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", "/twilio/status?m=12&s=abc", "1.1", 204), None,
    )  # fmt: skip
    assert WithoutQuery().filter(access)
    assert access.getMessage() == '127.0.0.1:5000 - "POST /twilio/status HTTP/1.1" 204'


def test_a_phone_in_an_access_lines_path_is_masked_even_percent_encoded() -> None:
    for path in ("/console/contacts/%2B14155550123", "/console/contacts/+14155550123"):
        access = logging.LogRecord(
            "uvicorn.access", logging.INFO, "f", 1, '%s - "%s %s HTTP/%s" %d',
            ("127.0.0.1:5000", "GET", path + "?tab=thread", "1.1", 200), None,
        )  # fmt: skip
        assert WithoutQuery().filter(access)
        line = TextFormatter().format(access)
        assert "/console/contacts/+1415*****23 " in line, line
        assert "55501" not in line


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restore_root")
def test_configure_logging_is_idempotent_and_writes_to_the_current_stderr(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configure_logging("INFO", "text")
    configure_logging("WARNING", "json")
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_dripsms", False)]
    assert len(ours) == 1
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    logging.getLogger("dripsms.test").info("hidden", extra={"action": "x"})
    logging.getLogger("dripsms.test").warning("shown", extra={"action": "y"})
    [line] = stream.getvalue().splitlines()
    assert json.loads(line)["action"] == "y"
    assert any(isinstance(f, WithoutQuery) for f in logging.getLogger("uvicorn.access").filters)
