"""The /v1 enrollment API over real HTTP: JSON and Studio's form bodies, auth, idempotency,
and a catalogue of bad input that must each be a 4xx naming the problem, writing nothing."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from dripsms.core.sequence.loader import parse_sequence
from dripsms.store.tables import contacts, enrollments, events, messages, sequence_versions

from .conftest import REPO, TOKEN, Served

GOOD = {
    "sequence": "postop",
    "phone": "+14155550100",
    "timezone": "America/New_York",
    "anchor": "2026-03-07",
    "attributes": {"first_name": "Ada"},
}


def written(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as connection:
        return tuple(  # type: ignore[return-value]
            connection.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (contacts, enrollments, messages)
        )


def test_enroll_with_json_returns_the_planned_timeline(app: Served) -> None:
    answer = app.api("POST", "/v1/enrollments", json=GOOD)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert (body["phone"], body["sequence"], body["state"]) == ("+14155550100", "postop", "active")
    assert body["messages"][0] == {
        "step": "day1", "kind": "step", "state": "planned", "due_utc": "2026-03-08T14:00:00Z",
        "due_local": "2026-03-08T10:00:00-04:00", "sid": None, "error_code": None, "reply": None,
    }  # fmt: skip
    fetched = app.api("GET", f"/v1/enrollments/{body['id']}").json()
    assert [m["step"] for m in fetched["messages"]] == [m["step"] for m in body["messages"]]


def test_enroll_with_studio_form_fields(app: Served) -> None:
    form = {
        "sequence": "postop", "phone": "(415) 555-0101", "timezone": "America/Chicago",
        "anchor": "2026-03-07", "attributes[first_name]": "Bo", "procedure": "knee",
    }  # fmt: skip
    basic = base64.b64encode(f"studio:{TOKEN}".encode()).decode()
    answer = app.session.post(
        f"{app.url}/v1/enrollments", data=form, headers={"Authorization": f"Basic {basic}"},
        timeout=10,
    )  # fmt: skip
    assert answer.status_code == 201, answer.text
    contact = app.api("GET", "/v1/contacts/+14155550101").json()
    assert contact["attributes"] == {
        "first_name": "Bo",
        "procedure": "knee",
        "surgery_date": "2026-03-07",
    }
    assert contact["timezone"] == "America/Chicago"


def test_an_idempotency_key_replays_the_first_answer(app: Served) -> None:
    first = app.api("POST", "/v1/enrollments", json=GOOD, headers={"Idempotency-Key": "k-1"})
    again = app.api("POST", "/v1/enrollments", json=GOOD, headers={"Idempotency-Key": "k-1"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json() == again.json()
    assert written(app.runtime.engine)[1] == 1
    other = dict(GOOD, phone="+14155550199")
    reused = app.api("POST", "/v1/enrollments", json=other, headers={"Idempotency-Key": "k-1"})
    assert reused.status_code == 422
    assert reused.json()["error"]["field"] == "Idempotency-Key"


def test_an_active_duplicate_is_409(app: Served) -> None:
    assert app.api("POST", "/v1/enrollments", json=GOOD).status_code == 201
    duplicate = app.api("POST", "/v1/enrollments", json=GOOD)
    assert duplicate.status_code == 409
    assert "already enrolled" in duplicate.json()["error"]["message"]
    second = app.api("POST", "/v1/enrollments", json=dict(GOOD, external_id="surgery-2"))
    assert second.status_code == 201


def test_delete_unenrolls(app: Served) -> None:
    created = app.api("POST", "/v1/enrollments", json=GOOD).json()
    assert app.api("DELETE", f"/v1/enrollments/{created['id']}").json() == {
        "unenrolled": [created["id"]]
    }
    fetched = app.api("GET", f"/v1/enrollments/{created['id']}").json()
    assert fetched["state"] == "canceled"
    assert {m["state"] for m in fetched["messages"]} == {"canceled"}
    assert app.api("DELETE", f"/v1/enrollments/{created['id']}").status_code == 404


def test_patching_the_surgery_date_replans_what_is_not_sent(app: Served) -> None:
    app.api("POST", "/v1/enrollments", json=GOOD)
    answer = app.api(
        "PATCH", "/v1/contacts/+14155550100", json={"attributes": {"surgery_date": "2026-03-14"}}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["replanned"] == 5
    enrollment = app.api("GET", "/v1/enrollments/1").json()
    assert enrollment["anchor"] == "2026-03-14"
    assert enrollment["messages"][0]["due_utc"] == "2026-03-15T14:00:00Z"


def test_sequences_are_listed(app: Served) -> None:
    listed = app.api("GET", "/v1/sequences").json()
    assert [s["key"] for s in listed] == ["postop"]
    one = app.api("GET", "/v1/sequences/postop").json()
    assert one["anchor"] == "surgery_date"
    assert one["attributes"]["first_name"] == {"type": "string", "required": True, "values": None}


RAW_GOOD = json.dumps(GOOD).encode()
JSON = {"Content-Type": "application/json"}


def bad(**changes: Any) -> dict[str, Any]:
    body = {**GOOD, **changes}
    return {k: v for k, v in body.items() if v is not None}


CATALOGUE: list[tuple[str, dict[str, Any], int, str | None, str]] = [
    ("bad phone", {"json": bad(phone="12345")}, 422, "phone", "not a possible number"),
    ("fictional phone", {"json": bad(phone="+15555550100")}, 422, "phone", "not a valid number"),
    ("letters for phone", {"json": bad(phone="call me")}, 422, "phone", "not a phone number"),
    ("empty phone", {"json": bad(phone="")}, 422, "phone", "missing"),
    ("phone too long", {"json": bad(phone="1" * 41)}, 422, "phone", "at most 40"),
    ("no phone", {"json": {k: v for k, v in GOOD.items() if k != "phone"}}, 422, "phone", "Field required"),
    ("unknown zone", {"json": bad(timezone="Mars/Olympus")}, 422, "timezone", "unknown time zone"),
    ("zone not a string", {"json": bad(timezone=5)}, 422, "timezone", "valid string"),
    ("unknown sequence", {"json": bad(sequence="nope")}, 422, "sequence", "unknown sequence"),
    ("no sequence", {"json": {k: v for k, v in GOOD.items() if k != "sequence"}}, 422, "sequence", "Field required"),
    ("missing attribute", {"json": bad(attributes={})}, 422, "attributes.first_name", "required"),
    ("undeclared attribute", {"json": bad(attributes={"first_name": "A", "age": 3})}, 422, "attributes.age", "not an attribute"),
    ("bad choice", {"json": bad(attributes={"first_name": "A", "procedure": "elbow"})}, 422, "attributes.procedure", "expected one of"),
    ("bad boolean", {"json": bad(attributes={"first_name": "A", "escalated": "maybe"})}, 422, "attributes.escalated", "true or false"),
    ("attribute as list", {"json": bad(attributes={"first_name": ["A"]})}, 422, "attributes.first_name", "valid string"),
    ("flat attribute as object", {"json": bad(first_name={"a": 1})}, 422, "first_name", "text, a number"),
    ("no anchor", {"json": bad(anchor=None)}, 422, "anchor", "required"),
    ("bad anchor", {"json": bad(anchor="03/07/2026")}, 422, "anchor", "expected a date"),
    ("anchor not text", {"json": bad(anchor=20260307)}, 422, "anchor", "valid string"),
    ("external id too long", {"json": bad(external_id="x" * 129)}, 422, "external_id", "at most 128"),
    ("attributes not an object", {"json": bad(attributes="first_name=Ada")}, 422, "attributes", "valid dictionary"),
    ("body is a list", {"json": [GOOD]}, 422, None, "JSON object"),
    ("body is null", {"data": "null", "headers": {"Content-Type": "application/json"}}, 422, None, "JSON object"),
    ("bad JSON", {"data": "{not json", "headers": {"Content-Type": "application/json"}}, 400, None, "not valid JSON"),
    ("wrong content type", {"data": "x", "headers": {"Content-Type": "text/plain"}}, 415, None, "application/json"),
    ("no content type", {"data": b"x"}, 415, None, "application/json"),
    ("oversized body", {"json": bad(attributes={"first_name": "A" * 70_000})}, 413, None, "larger than"),
    ("anchor 9999-12-31", {"json": bad(anchor="9999-12-31")}, 422, "anchor", "outside the supported range"),
    ("anchor 0001-01-01", {"json": bad(anchor="0001-01-01", timezone="Asia/Tokyo")}, 422, "anchor", "outside the supported range"),
    ("anchor 2023-02-30", {"json": bad(anchor="2023-02-30")}, 422, "anchor", "expected a date"),
    ("anchor as attribute 9999", {"json": bad(anchor=None, attributes={"first_name": "A", "surgery_date": "9999-12-31"})}, 422, "anchor", "outside the supported range"),
    ("text attribute 10**400", {"data": RAW_GOOD.replace(b'"Ada"', b"1" + b"0" * 400), "headers": JSON}, 422, "attributes.first_name", "must be sent as text"),
    ("number 1e309", {"data": RAW_GOOD.replace(b'"Ada"', b"1e309"), "headers": JSON}, 422, "attributes.first_name", "finite number"),
    ("NaN literal", {"data": RAW_GOOD.replace(b'"Ada"', b"NaN"), "headers": JSON}, 422, "attributes.first_name", "finite number"),
    ("Infinity literal", {"data": RAW_GOOD.replace(b'"Ada"', b"-Infinity"), "headers": JSON}, 422, "attributes.first_name", "finite number"),
    ("5,000 digits", {"data": RAW_GOOD.replace(b'"Ada"', b"9" * 5000), "headers": JSON}, 400, None, "not valid JSON"),
    ("nested 10,000 deep", {"data": RAW_GOOD.replace(b'"Ada"', b"[" * 10_000 + b"]" * 10_000), "headers": JSON}, 400, None, "nests deeper than 32"),
    ("unpaired surrogate", {"data": RAW_GOOD.replace(b'"Ada"', b'"\\ud800"'), "headers": JSON}, 422, "attributes.first_name", "unpaired surrogate"),
    ("NUL in text", {"data": RAW_GOOD.replace(b'"Ada"', b'"A\\u0000"'), "headers": JSON}, 422, "attributes.first_name", "NUL"),
    ("text attribute too long", {"json": bad(attributes={"first_name": "A" * 1001})}, 422, "attributes.first_name", "at most 1000 characters"),
    ("too many attributes", {"json": bad(attributes={f"a{i}": "x" for i in range(65)})}, 422, "attributes", "at most 64 attributes"),
    ("attribute name too long", {"json": bad(attributes={"n" * 65: "x"})}, 422, "attributes", "name is at most 64"),
    ("empty idempotency key", {"json": GOOD, "headers": {"Idempotency-Key": ""}}, 400, "Idempotency-Key", "1 to 255"),
    ("no token", {"json": GOOD, "headers": {"Authorization": ""}}, 401, None, "missing credentials"),
    ("bad token", {"json": GOOD, "headers": {"Authorization": "Bearer nope"}}, 401, None, "invalid token"),
    ("bad basic", {"json": GOOD, "headers": {"Authorization": "Basic !!!"}}, 401, None, "missing credentials"),
    ("basic wrong password", {"json": GOOD, "headers": {"Authorization": "Basic " + base64.b64encode(b"u:x").decode()}}, 401, None, "invalid token"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "request_kwargs", "status", "field", "message"),
    CATALOGUE,
    ids=[c[0] for c in CATALOGUE],
)
def test_bad_input_is_a_4xx_naming_the_problem_and_writes_nothing(
    app: Served,
    name: str,
    request_kwargs: dict[str, Any],
    status: int,
    field: str | None,
    message: str,
) -> None:
    answer = app.api("POST", "/v1/enrollments", **request_kwargs)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    if field is not None:
        assert error["field"] == field
    assert message in error["message"]
    assert written(app.runtime.engine) == (0, 0, 0)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v1/enrollments/999", 404),
        ("GET", "/v1/enrollments/abc", 422),
        ("GET", "/v1/enrollments/0", 422),
        ("DELETE", "/v1/enrollments/999", 404),
        ("GET", "/v1/contacts/+14155550123", 404),
        ("GET", "/v1/contacts/not-a-phone", 422),
        ("GET", "/v1/sequences/nope", 404),
    ],
)
def test_lookups_of_what_does_not_exist(app: Served, method: str, path: str, status: int) -> None:
    answer = app.api(method, path)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["message"]


def everything(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row a request could write, to compare before and after a refused one."""
    with engine.connect() as connection:
        return {
            table.name: [
                tuple(r) for r in connection.execute(select(table).order_by(*table.primary_key))
            ]
            for table in (contacts, enrollments, messages, sequence_versions, events)
        }


PATCHES: list[tuple[str, dict[str, Any], str, str]] = [
    ("undeclared attribute", {"json": {"attributes": {"junk": "x" * 1000}}}, "attributes.junk", "not an attribute of postop"),
    ("a valid move, then an undeclared one", {"json": {"attributes": {"surgery_date": "2026-03-14", "junk": 1}}}, "attributes.junk", "not an attribute"),
    ("bad boolean", {"json": {"attributes": {"escalated": "maybe"}}}, "attributes.escalated", "true or false"),
    ("bad choice", {"json": {"attributes": {"procedure": "elbow"}}}, "attributes.procedure", "expected one of"),
    ("anchor 9999-12-31", {"json": {"attributes": {"surgery_date": "9999-12-31"}}}, "attributes.surgery_date", "outside the supported range"),
    ("anchor 0001-01-01", {"json": {"attributes": {"surgery_date": "0001-01-01"}}}, "attributes.surgery_date", "outside the supported range"),
    ("anchor 2023-02-30", {"json": {"attributes": {"surgery_date": "2023-02-30"}}}, "attributes.surgery_date", "expected a date"),
    ("text too long", {"json": {"attributes": {"first_name": "A" * 1001}}}, "attributes.first_name", "at most 1000 characters"),
    ("too many attributes", {"json": {"attributes": {f"a{i}": 1 for i in range(65)}}}, "attributes", "at most 64 attributes"),
    ("name too long", {"json": {"attributes": {"n" * 65: 1}}}, "attributes", "name is at most 64"),
    ("value a list", {"json": {"attributes": {"first_name": ["A"]}}}, "attributes.first_name", "valid string"),
    ("10**400", {"data": b'{"attributes": {"first_name": 1' + b"0" * 400 + b"}}", "headers": JSON}, "attributes.first_name", "must be sent as text"),
    ("NaN", {"data": b'{"attributes": {"first_name": NaN}}', "headers": JSON}, "attributes.first_name", "finite number"),
    ("unknown zone", {"json": {"timezone": "Mars/Olympus"}}, "timezone", "unknown time zone"),
    ("unknown field", {"json": {"attributes": {}, "sequence": "postop"}}, "sequence", "Extra inputs"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "request_kwargs", "field", "message"), PATCHES, ids=[p[0] for p in PATCHES]
)
def test_a_refused_contact_change_is_a_422_naming_the_field_and_writes_nothing(
    app: Served, name: str, request_kwargs: dict[str, Any], field: str, message: str
) -> None:
    assert app.api("POST", "/v1/enrollments", json=GOOD).status_code == 201
    before = everything(app.runtime.engine)
    answer = app.api("PATCH", f"/v1/contacts/{GOOD['phone']}", **request_kwargs)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == field
    assert message in answer.json()["error"]["message"]
    assert everything(app.runtime.engine) == before


def test_megabytes_of_attributes_are_refused_before_they_are_read(app: Served) -> None:
    assert app.api("POST", "/v1/enrollments", json=GOOD).status_code == 201
    before = everything(app.runtime.engine)
    junk = {f"a{i}": "x" * 10_000 for i in range(300)}
    answer = app.api("PATCH", f"/v1/contacts/{GOOD['phone']}", json={"attributes": junk})
    assert answer.status_code == 413
    assert everything(app.runtime.engine) == before


def test_a_contact_without_enrollments_takes_attributes_any_sequence_declares(app: Served) -> None:
    assert app.api("POST", "/v1/enrollments", json=GOOD).status_code == 201
    app.api("DELETE", "/v1/enrollments/1")
    changed = app.api(
        "PATCH", f"/v1/contacts/{GOOD['phone']}", json={"attributes": {"procedure": "HIP"}}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["attributes"]["procedure"] == "hip"  # typed by postop's declaration
    junk = app.api("PATCH", f"/v1/contacts/{GOOD['phone']}", json={"attributes": {"junk": 1}})
    assert junk.status_code == 422
    assert junk.json()["error"] == {
        "field": "attributes.junk",
        "message": "not an attribute of any sequence this server runs",
    }


def test_a_refused_duplicate_stores_no_new_sequence_version(app: Served) -> None:
    assert app.api("POST", "/v1/enrollments", json=GOOD).status_code == 201
    text = (REPO / "sequences" / "postop.yaml").read_text()
    app.runtime.library.add(parse_sequence(text.replace("Post-surgery", "Post-op"), "postop.yaml"))
    before = everything(app.runtime.engine)
    answer = app.api("POST", "/v1/enrollments", json=GOOD)
    assert answer.status_code == 409, answer.text
    assert everything(app.runtime.engine) == before  # the new version is stored on first use only
