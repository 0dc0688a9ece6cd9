"""The sandbox against Twilio's official OpenAPI description of the 2010-04-01 API.

The description is fetched from npm (``@twilio-alpha/mcp``) into ``.cache/twilio-oai/``
once; see the ``twilio_openapi`` fixture.
"""

from __future__ import annotations

import re
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
import requests
from sandbox_support import START

from dripsms.sandbox import (
    SANDBOX_ACCOUNT_SID,
    SANDBOX_AUTH_TOKEN,
    SANDBOX_FROM_NUMBER,
    SANDBOX_MESSAGING_SERVICE_SID,
    Sandbox,
    SandboxServer,
    Status,
)
from dripsms.sandbox.listing import LIST_PARAMETERS
from dripsms.sandbox.rules import CREATE_PARAMETERS

MESSAGES = "/2010-04-01/Accounts/{AccountSid}/Messages.json"
MESSAGE = "/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json"
JSON_TYPES = {"string": str, "integer": int, "object": dict, "boolean": bool}


def schema(spec: dict[str, Any], ref_or_schema: dict[str, Any]) -> dict[str, Any]:
    """Follow a ``$ref`` inside the spec."""
    if "$ref" in ref_or_schema:
        name = ref_or_schema["$ref"].rsplit("/", 1)[-1]
        return dict(spec["components"]["schemas"][name])
    return ref_or_schema


def form_properties(operation: dict[str, Any]) -> dict[str, Any]:
    content = operation["requestBody"]["content"]["application/x-www-form-urlencoded"]
    return dict(content["schema"]["properties"])


def test_create_reads_only_parameters_twilio_defines(twilio_openapi: dict[str, Any]) -> None:
    defined = form_properties(twilio_openapi["paths"][MESSAGES]["post"])

    assert set(CREATE_PARAMETERS) <= set(defined)
    assert schema(twilio_openapi, defined["ScheduleType"])["enum"] == ["fixed"]


def test_list_reads_only_parameters_twilio_defines(twilio_openapi: dict[str, Any]) -> None:
    parameters = twilio_openapi["paths"][MESSAGES]["get"]["parameters"]
    defined = {p["name"] for p in parameters if p["in"] == "query"}

    assert set(LIST_PARAMETERS) <= defined


def test_cancel_is_an_update_twilio_defines(twilio_openapi: dict[str, Any]) -> None:
    defined = form_properties(twilio_openapi["paths"][MESSAGE]["post"])

    assert "canceled" in schema(twilio_openapi, defined["Status"])["enum"]


def test_every_status_is_in_twilio_enum(twilio_openapi: dict[str, Any]) -> None:
    message = twilio_openapi["components"]["schemas"]["api.v2010.account.message"]
    enum = schema(twilio_openapi, message["properties"]["status"])["enum"]

    assert {status.value for status in Status} <= set(enum)


@pytest.fixture
def raw_messages(server: SandboxServer, sandbox: Sandbox) -> list[dict[str, Any]]:
    """The JSON of messages in every status the sandbox gives, as fetched over HTTP."""
    session = requests.Session()
    session.auth = (SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN)
    base = f"{server.base_url}/2010-04-01/Accounts/{SANDBOX_ACCOUNT_SID}"
    sandbox.mark_undeliverable("+15551230012", 30003)
    sandbox.mark_undeliverable("+15551230013", 30008, Status.FAILED)
    service = {"MessagingServiceSid": SANDBOX_MESSAGING_SERVICE_SID}
    later = {**service, "SendAt": "2026-11-27T09:00:00Z", "ScheduleType": "fixed"}
    forms = [
        {"To": "+15551230010", "From": SANDBOX_FROM_NUMBER, "Body": "queued"},
        {"To": "+15551230010", **service, "Body": "accepted"},
        {"To": "+15551230010", **later, "Body": "scheduled"},
        {"To": "+15551230011", **later, "Body": "canceled"},
        {"To": "+15551230012", "From": SANDBOX_FROM_NUMBER, "Body": "undelivered"},
        {"To": "+15551230013", "From": SANDBOX_FROM_NUMBER, "Body": "failed"},
        {"To": "+15551230014", "From": SANDBOX_FROM_NUMBER, "MediaUrl": "https://e.com/a.png"},
    ]
    created = [session.post(f"{base}/Messages.json", data=form, timeout=5) for form in forms]
    assert [answer.status_code for answer in created] == [201] * len(forms)
    session.post(f"{base}/Messages/{created[3].json()['sid']}.json", data={"Status": "canceled"})
    # An inbound message ("received") and Twilio's answer to HELP ("outbound-reply").
    inbound = sandbox.receive("+15551230015", "HELP")
    sids = [answer.json()["sid"] for answer in created] + [inbound.sid]
    sids += [m.sid for m in sandbox.messages() if m.direction == "outbound-reply"]
    sandbox.process()
    snapshots = [answer.json() for answer in created]  # as created: queued, accepted, ...
    for sid in sids:
        snapshots.append(session.get(f"{base}/Messages/{sid}.json").json())
    session.close()
    assert {s["direction"] for s in snapshots} == {"outbound-api", "inbound", "outbound-reply"}
    # "sent" is passed through within one release: only status callbacks report it.
    assert {s["status"] for s in snapshots} == {status.value for status in Status} - {"sent"}
    assert sandbox.now() == START
    return snapshots


def test_message_json_follows_twilio_schema(
    twilio_openapi: dict[str, Any], raw_messages: list[dict[str, Any]]
) -> None:
    message = twilio_openapi["components"]["schemas"]["api.v2010.account.message"]
    properties = message["properties"]

    for raw in raw_messages:
        assert set(raw) <= set(properties), set(raw) - set(properties)
        for name, value in raw.items():
            field = schema(twilio_openapi, properties[name])
            if value is None:
                assert field.get("nullable"), name
                continue
            assert isinstance(value, JSON_TYPES[field.get("type", "string")]), name
            if "pattern" in field:
                assert re.fullmatch(field["pattern"], value), (name, value)
            if "enum" in field:
                assert value in field["enum"], (name, value)
            if field.get("format") == "date-time-rfc-2822":
                assert parsedate_to_datetime(value).utcoffset() == timedelta(0), (name, value)


def test_list_page_has_twilio_page_properties(
    twilio_openapi: dict[str, Any], server: SandboxServer
) -> None:
    answer = twilio_openapi["paths"][MESSAGES]["get"]["responses"]["200"]
    page_schema = answer["content"]["application/json"]["schema"]["properties"]
    url = f"{server.base_url}/2010-04-01/Accounts/{SANDBOX_ACCOUNT_SID}/Messages.json"

    page = requests.get(url, auth=(SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN), timeout=5).json()

    assert set(page) == set(page_schema)
    for name, value in page.items():
        expected = schema(twilio_openapi, page_schema[name])
        if value is None:
            assert expected.get("nullable"), name
        elif expected.get("type") in JSON_TYPES:
            assert isinstance(value, JSON_TYPES[expected["type"]]), name
