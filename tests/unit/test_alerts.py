"""What a nurse reads: who, which step, the answer and its value, and why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from dripsms.engine.alerts import Alert, alert_payload, alert_text, default_text, who
from dripsms.testing import make_sequence

SEQUENCE = make_sequence(
    [{"id": "day1", "at": {"days": 1}, "body": "Pain 0-10?", "expect_reply": {"type": "integer"}}]
)
AT = datetime(2026, 3, 8, 14, 0, tzinfo=UTC)


def alert(**fields: Any) -> Alert:
    base: dict[str, Any] = {
        "target": "care_team", "sequence": SEQUENCE, "step_id": "day1", "enrollment_id": 7,
        "contact_id": 3, "phone": "+14155550100", "answer": "8/10", "value": 8,
        "reason": "reply", "rule": "reply >= 7", "tries": 0, "window": timedelta(hours=24),
        "at": AT, "tag": "SM1",
    }  # fmt: skip
    return Alert(**{**base, **fields})


def test_who_names_the_patient_when_the_attributes_say_and_masks_the_number() -> None:
    assert who({"first_name": "Ada", "last_name": "Lovelace"}, "+14155550100") == (
        "Ada Lovelace (+1415***0100)"
    )
    assert who({"first_name": " "}, "+14155550100") == "a patient (+1415***0100)"
    assert who({}, "+14155550100") == "a patient (+1415***0100)"


def test_an_answer_a_missing_answer_and_an_unreadable_one_read_differently() -> None:
    context = {"first_name": "Ada"}
    answered = default_text(alert(), context)
    silent = default_text(alert(answer=None, value=None, reason="no_reply", rule=None), context)
    unreadable = default_text(alert(answer="ouch", value=None, reason="gave_up", tries=3), context)
    assert answered == (
        'dripsms alert (Test): Ada (+1415***0100) answered day1: "8/10" = 8; '
        "rule matched: reply >= 7."
    )
    assert (
        silent
        == "dripsms alert (Test): Ada (+1415***0100) did not answer day1: no reply after 24 hours."
    )
    assert unreadable.endswith('gave no readable answer to day1 after 3 tries (last: "ouch").')
    assert "4155550100" not in answered + silent + unreadable


def test_a_message_template_reads_alert_fields_and_falls_back_when_it_cannot_render() -> None:
    context = {"first_name": "Ada"}
    worded = alert_text(alert(), context, "{{ alert.who }}: {{ alert.value }} ({{ alert.why }})")
    assert worded == "Ada (+1415***0100): 8 (rule matched: reply >= 7)"
    broken = alert_text(alert(), context, "{{ alert.value.nope.deeper }}")
    assert broken == default_text(alert(), context)


def test_the_webhook_payload_has_structured_fields() -> None:
    payload = alert_payload(alert(), "text")
    assert payload["contact"] == {"id": 3, "phone": "+14155550100", "url": None}
    assert (payload["step"], payload["answer"], payload["value"], payload["reason"]) == (
        "day1", "8/10", 8, "reply"
    )  # fmt: skip
    assert payload["why"] == "rule matched: reply >= 7"
    assert alert_payload(alert(reason="no_reply"), "t")["event"] == "no_reply"


def test_an_alert_links_to_the_contact_page_of_the_console() -> None:
    linked = alert(public_url="https://dripsms.clinic.example/")
    page = "https://dripsms.clinic.example/console/contacts/+14155550100"
    by_id = "https://dripsms.clinic.example/console/c/3"  # the SMS never carries the number
    assert default_text(linked, {"first_name": "Ada"}).endswith(f"reply >= 7. {by_id}")
    assert alert_text(linked, {}, "see {{ alert.link }}") == f"see {by_id}"
    assert alert_payload(linked, "text")["contact"]["url"] == page
    assert alert_payload(alert(), "text")["contact"]["url"] is None  # no public URL: no link
