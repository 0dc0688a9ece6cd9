"""Schemathesis against the app's own OpenAPI document, over real HTTP: every /v1 operation,
/healthz and /metrics get requests derived from the schema the server serves, valid and
invalid, and every answer must be no 5xx, a documented status code with a body of the
documented schema and the documented content type (an undocumented method: 405 and ``Allow``).

Two kinds of input per operation, both deterministic:
- the coverage phase: boundary values of each parameter and body field (lengths, ranges,
  types, missing fields, unexpected methods), enumerated rather than drawn;
- the fuzzing phase: Hypothesis draws, derandomized, positive (valid by the schema) and
  negative (invalid by it). The positive ones are mixed with requests for a contact, an
  enrollment and a sequence that exist, and with enrollments that can succeed, so that the 2xx
  answers and their bodies are checked too, not only the refusals.

``/twilio/*`` is left out: Twilio signs each webhook request (``X-Twilio-Signature``, an HMAC of
the URL and parameters with the account's auth token), which a generated request cannot carry,
so all of them would stop at the 403. tests/web/test_webhooks.py covers those routes with
signed requests.

Not ``schemathesis.pytest.from_fixture`` with ``@schema.parametrize()``: the schema comes from
the server a fixture starts, and that lazy loader fails on this pytest (it sets
``Item._nodeid``, which pytest 9 no longer has). ``APIOperation.as_strategy`` under Hypothesis's
own ``@given`` is the documented alternative, and ``case.call_and_validate`` checks as usual.
"""

from __future__ import annotations

from datetime import date

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from .conftest import TOKEN, Served

OPERATIONS = [
    "GET /healthz",
    "GET /metrics",
    "POST /v1/enrollments",
    "GET /v1/enrollments/{enrollment_id}",
    "DELETE /v1/enrollments/{enrollment_id}",
    "GET /v1/contacts/{phone}",
    "PATCH /v1/contacts/{phone}",
    "GET /v1/sequences",
    "GET /v1/sequences/{key}",
]
WITHOUT_INPUT = {"GET /healthz", "GET /metrics", "GET /v1/sequences"}  # nothing to make invalid
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
    unsupported_method,
]
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PHONE = "+14155550100"
GOOD = {
    "sequence": "postop",
    "phone": PHONE,
    "timezone": "America/New_York",
    "anchor": "2026-03-07",
    "attributes": {"first_name": "Ada"},
}
EXISTING = {"enrollment_id": 1, "phone": PHONE, "key": "postop"}
PHONES = [f"+1415555{n:04d}" for n in range(100, 110)] + ["(415) 555-0111", "415.555.0112"]
# NUL and an unpaired surrogate (JSON carries both; no database column or UTF-8 answer takes
# them), a right-to-left override, a combining mark, the astral plane, a zero-width space:
# rare in draws, so offered as they are.
ODD_TEXT = ["a\x00b", "\ud800x", "\u202eabc", "e\u0301", "\U0001f642" * 32, "\u200b"]
# The ends of the calendar and of the supported anchor range, then any date at all.
EXTREME_DATES = (
    st.sampled_from([date.min, date.max, date(1899, 12, 31), date(2200, 1, 1)]) | st.dates()
)
FUZZING = settings(
    max_examples=60,
    derandomize=True,  # the same requests on every run and machine
    database=None,  # and no replaying what another run found
    deadline=None,  # a request's time depends on the machine, not on the input
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.fixture
def api(app: Served) -> tuple[Served, schemathesis.BaseSchema]:
    """The served app with a contact and an enrollment (id 1), and the schema it serves."""
    assert app.api("POST", "/v1/enrollments", json=GOOD).status_code == 201
    # An explicit config, so that no schemathesis.toml on the machine gets a say.
    schema = schemathesis.openapi.from_url(f"{app.url}/openapi.json", config=schemathesis.Config())
    return app, schema


def operation_of(schema: schemathesis.BaseSchema, label: str) -> schemathesis.APIOperation:
    method, path = label.split(" ", 1)
    return schema[path][method]


def test_every_operation_but_the_webhooks_is_exercised(
    api: tuple[Served, schemathesis.BaseSchema],
) -> None:
    _, schema = api
    served = {result.ok().label for result in schema.get_all_operations()}
    assert {label for label in served if not label.startswith("POST /twilio/")} == set(OPERATIONS)


@pytest.mark.parametrize("label", OPERATIONS)
def test_boundary_values(api: tuple[Served, schemathesis.BaseSchema], label: str) -> None:
    app, schema = api
    operation = operation_of(schema, label)
    cases = list(
        schema.iter_coverage_cases(
            operation,
            generation_modes=list(GenerationMode),
            generation_config=schema.config.generation_for(operation=operation),
        )
    )
    assert cases
    if operation.path.startswith("/v1/"):  # the documented 401, once
        response = cases[0].call_and_validate(session=app.session, checks=CHECKS)
        assert response.status_code == 401, response.text
    for case in cases:
        case.call_and_validate(session=app.session, headers=AUTH, checks=CHECKS)


def _plausible(
    case: schemathesis.Case, phone: str, odd: str | None, anchor: date | None
) -> schemathesis.Case:
    """A generated enrollment made valid where generated ones almost never are (a known
    sequence, a real phone, a date), with the free text it drew, or odd text instead, and
    sometimes any date at all as the anchor (0001-01-01 to 9999-12-31: a 422, never a 5xx)."""
    drawn = case.body if isinstance(case.body, dict) else {}
    external_id = drawn.get("external_id")
    first_name = (drawn.get("attributes") or {}).get("first_name")
    if odd is not None and case.media_type == "application/json":
        external_id, first_name = odd, odd[::-1]
    body = {**GOOD, "phone": phone, "attributes": {"first_name": first_name or "Ada"}}
    if anchor is not None:
        body["anchor"] = anchor.isoformat()
    if isinstance(external_id, str):
        body["external_id"] = external_id
    if case.media_type == "application/x-www-form-urlencoded":  # as Twilio Studio sends it
        attributes = body.pop("attributes")
        body.update({f"attributes[{k}]": v for k, v in attributes.items()})
    case.body = body
    return case


def _cases(
    operation: schemathesis.APIOperation, mode: GenerationMode
) -> SearchStrategy[schemathesis.Case]:
    generated = operation.as_strategy(generation_mode=mode)
    if mode is GenerationMode.NEGATIVE:
        return generated
    if operation.label == "POST /v1/enrollments":
        odd = st.none() | st.sampled_from(ODD_TEXT)
        anchor = st.none() | EXTREME_DATES
        return generated | st.builds(_plausible, generated, st.sampled_from(PHONES), odd, anchor)
    if operation.label == "PATCH /v1/contacts/{phone}":  # changes that can succeed, or not
        changes = st.fixed_dictionaries(
            {},
            optional={
                "surgery_date": EXTREME_DATES.map(date.isoformat),
                "first_name": st.text(max_size=1100) | st.sampled_from(ODD_TEXT),
                "procedure": st.sampled_from(["knee", "HIP", "elbow"]),
            },
        )
        return generated | st.builds(_changed, generated, changes)
    existing = {p.name: EXISTING[p.name] for p in operation.path_parameters}
    if not existing:
        return generated
    return generated | operation.as_strategy(path_parameters=existing)


def _changed(case: schemathesis.Case, attributes: dict[str, str]) -> schemathesis.Case:
    """A generated contact change for the contact that exists, with declared attributes."""
    case.path_parameters = {"phone": PHONE}
    case.body = {"attributes": attributes}
    return case


@pytest.mark.parametrize(
    ("label", "mode"),
    [(label, GenerationMode.POSITIVE) for label in OPERATIONS]
    + [(label, GenerationMode.NEGATIVE) for label in OPERATIONS if label not in WITHOUT_INPUT],
    ids=lambda value: value.value if isinstance(value, GenerationMode) else value,
)
def test_generated_requests(
    api: tuple[Served, schemathesis.BaseSchema], label: str, mode: GenerationMode
) -> None:
    app, schema = api

    @FUZZING
    @given(case=_cases(operation_of(schema, label), mode))
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(session=app.session, headers=AUTH, checks=CHECKS)

    check()
