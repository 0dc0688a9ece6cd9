"""The Studio example's *Make HTTP Request* widget, sent as Studio sends it, enrolls."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

from .conftest import TOKEN, Served

FLOW = Path(__file__).resolve().parents[2] / "examples" / "studio" / "enroll-flow.json"
LIQUID = {
    "contact.channel.address": "+14155550100",
    "widgets.ask_date.inbound.Body": "2026-03-07",
    "widgets.ask_name.inbound.Body": "Ada",
    "flow.sid": "FW" + "0" * 32,
}


def widget() -> dict[str, object]:
    flow = json.loads(FLOW.read_text())
    [found] = [s for s in flow["states"] if s["type"] == "make-http-request"]
    return found["properties"]  # type: ignore[no-any-return]


def liquid(value: str) -> str:
    return re.sub(r"\{\{\s*([^}]+?)\s*\}\}", lambda m: LIQUID[m.group(1)], value)


def test_the_flow_enrolls_with_the_same_fields_and_content_type(app: Served) -> None:
    props = widget()
    assert props["method"] == "POST"
    assert str(props["content_type"]).startswith("application/x-www-form-urlencoded")
    url = urlsplit(str(props["url"]))
    assert url.path == "/v1/enrollments"
    assert url.username == "studio"
    params = {p["key"]: liquid(p["value"]) for p in props["parameters"]}  # type: ignore[attr-defined]
    answer = app.session.post(
        f"{app.url}{url.path}",
        data=params,
        auth=(url.username, TOKEN),  # the URL's user, and the token where it says so
        headers={"Content-Type": str(props["content_type"])},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert (body["phone"], body["anchor"], body["external_id"]) == (
        "+14155550100", "2026-03-07", "FW" + "0" * 32,
    )  # fmt: skip
    assert body["messages"][0]["step"] == "day1"
    # the failure branch reads parsed.error.message: check a refusal has it
    again = app.session.post(
        f"{app.url}{url.path}", data=params, auth=(url.username, TOKEN), timeout=10
    )
    assert again.status_code == 409
    assert again.json()["error"]["message"]
