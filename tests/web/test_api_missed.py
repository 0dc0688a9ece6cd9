"""``POST /v1/enrollments`` says which steps are missed, and ``catch_up`` sends one now."""

from __future__ import annotations

import base64

from .conftest import TOKEN, Served

LATE = {
    "sequence": "postop",
    "phone": "+14155550100",
    "timezone": "America/New_York",
    "anchor": "2026-01-01",  # 59 days before the server's clock
    "attributes": {"first_name": "Ada"},
}


def test_the_response_lists_the_missed_steps_and_their_states(app: Served) -> None:
    answer = app.api("POST", "/v1/enrollments", json=LATE)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["missed"] == ["day1", "day3", "day3_escalated", "day7", "day30"]
    assert body["caught_up"] == []
    assert {m["state"] for m in body["messages"]} == {"missed"}
    fetched = app.api("GET", f"/v1/enrollments/{body['id']}").json()
    assert fetched["missed"] == body["missed"]


def test_catch_up_true_plans_the_most_recent_missed_step_now(app: Served) -> None:
    answer = app.api("POST", "/v1/enrollments", json={**LATE, "catch_up": True})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["caught_up"] == ["day30"]
    assert body["missed"] == ["day1", "day3", "day3_escalated", "day7"]
    day30 = next(m for m in body["messages"] if m["step"] == "day30")
    assert (day30["state"], day30["due_utc"]) == ("planned", "2026-03-01T15:00:00Z")


def test_catch_up_from_a_studio_form_and_a_bad_value(app: Served) -> None:
    form = {
        "sequence": "postop", "phone": "+14155550101", "timezone": "America/New_York",
        "anchor": "2026-01-01", "attributes[first_name]": "Bo", "catch_up": "true",
    }  # fmt: skip
    basic = base64.b64encode(f"studio:{TOKEN}".encode()).decode()
    headers = {"Authorization": f"Basic {basic}"}
    answer = app.session.post(f"{app.url}/v1/enrollments", data=form, headers=headers, timeout=10)
    assert answer.status_code == 201, answer.text
    assert answer.json()["caught_up"] == ["day30"]
    bad = app.api("POST", "/v1/enrollments", json={**LATE, "catch_up": "perhaps"})
    assert bad.status_code == 422
    assert "catch_up" in bad.text
