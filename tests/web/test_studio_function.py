"""The Twilio Function for Studio's *Run Function* widget (examples/functions/enroll.js),
run by Node against the real API, and the flow that calls it: dates as people type them,
a 422 that makes the flow ask again."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .conftest import TOKEN, Served

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FUNCTION = EXAMPLES / "functions" / "enroll.js"
FLOW = EXAMPLES / "studio" / "enroll-function-flow.json"
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed (the JS is not run)")

# Twilio's Functions runtime gives a handler `Twilio.Response`; this is its shape.
DRIVER = """
global.Twilio = { Response: class {
  constructor() { this.status = 200; this.headers = {}; this.body = null; }
  setStatusCode(s) { this.status = s; } appendHeader(k, v) { this.headers[k] = v; }
  setBody(b) { this.body = b; } } };
const [context, event] = JSON.parse(process.argv[1]);
require(process.argv[2]).handler(context, event, (err, response) => {
  if (err) { console.error(err); process.exit(1); }
  console.log(JSON.stringify({ status: response.status, body: response.body }));
});
"""


def run(app: Served, event: dict[str, str], token: str = TOKEN) -> dict[str, Any]:
    assert NODE is not None
    context = {"DRIPSMS_URL": app.url + "/", "DRIPSMS_API_TOKEN": token, "DATE_ORDER": "MDY"}
    done = subprocess.run(
        [NODE, "-e", DRIVER, json.dumps([context, event]), str(FUNCTION)],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def event(date: str, phone: str = "+14155550100") -> dict[str, str]:
    return {"phone": phone, "first_name": "Ada", "date": date, "external_id": "FW" + "0" * 32}


@needs_node
def test_the_functions_own_tests_pass() -> None:
    assert NODE is not None
    done = subprocess.run(
        [NODE, "--test", str(FUNCTION.parent)], capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    passed = re.search(r"^# pass (\d+)$", done.stdout, re.MULTILINE)
    assert passed and int(passed.group(1)) >= 4, done.stdout  # the tests ran (not zero found)


@needs_node
@pytest.mark.parametrize("typed", ["March 11 2026", "3/11/2026", "11 March 2026", "2026-03-11"])
def test_a_date_as_typed_enrolls_with_that_anchor(app: Served, typed: str) -> None:
    answer = run(app, event(typed))
    assert answer["status"] == 200, answer
    assert answer["body"]["anchor"] == "2026-03-11"
    assert answer["body"]["phone"] == "+14155550100"
    again = run(app, event(typed))  # a retried widget: the first answer, not a 409
    assert again["status"] == 200 and again["body"]["id"] == answer["body"]["id"]


@needs_node
def test_an_unreadable_date_is_a_422_and_enrolls_nobody(app: Served) -> None:
    answer = run(app, event("next tuesday"))
    assert answer["status"] == 422
    assert answer["body"]["error"]["field"] == "anchor"
    assert "3/11 or March 11" in answer["body"]["error"]["message"]
    assert app.api("GET", "/v1/contacts/+14155550100").status_code == 404


@needs_node
def test_a_date_dripsms_refuses_comes_back_as_its_422(app: Served) -> None:
    answer = run(app, event("1/1/1850"))
    assert answer["status"] == 422
    assert answer["body"]["error"]["field"] == "anchor"


@needs_node
def test_a_wrong_token_is_a_failure_not_a_422(app: Served) -> None:
    answer = run(app, event("2026-03-11"), token="wrong")
    assert answer["status"] == 502  # the flow says "call the clinic", it does not re-ask


def test_the_flow_asks_again_on_a_422_and_passes_the_typed_date() -> None:
    flow = json.loads(FLOW.read_text())
    states = {s["name"]: s for s in flow["states"]}
    for state in flow["states"]:  # every transition goes somewhere that exists
        for transition in state["transitions"]:
            assert transition.get("next") is None or transition["next"] in states
    enroll = states["enroll"]
    assert enroll["type"] == "run-function"
    params = {p["key"]: p["value"] for p in enroll["properties"]["parameters"]}
    assert params["date"] == "{{widgets.ask_date.inbound.Body}}"
    assert params["phone"] == "{{contact.channel.address}}"
    fail = next(t["next"] for t in enroll["transitions"] if t["event"] == "fail")
    [match] = [t for t in states[fail]["transitions"] if t["event"] == "match"]
    assert match["next"] == "ask_date"
    assert match["conditions"][0]["value"] == "422"
    assert "widgets.enroll.parsed.error.message" in states["ask_date"]["properties"]["body"]
