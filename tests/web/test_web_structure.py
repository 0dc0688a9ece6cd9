"""The web layer's shape: the OpenAPI document declares how to authenticate, one handler
turns each error category into its status, and no module of web/ builds SQL."""

from __future__ import annotations

import base64
import inspect
from pathlib import Path

import pytest

from dripsms.core.planning import EnrollmentError
from dripsms.core.states import IllegalTransition, MessageState
from dripsms.engine.contacts import UnknownContact
from dripsms.engine.enrollment import DuplicateEnrollment
from dripsms.engine.library import UnknownSequence
from dripsms.errors import Conflict, DripError, InvalidInput, InvariantBroken, NotFound, Unavailable
from dripsms.store.idempotency import KeyReused
from dripsms.web import webhooks
from dripsms.web.problems import answer_of

from .conftest import Served

WEB = Path(__file__).resolve().parents[2] / "src" / "dripsms" / "web"
SCHEMES = {
    "HTTPBearer": {"type": "http", "scheme": "bearer"},
    "HTTPBasic": {"type": "http", "scheme": "basic"},
}
STATEMENT_BUILDERS = {"select", "insert", "update", "delete", "func", "text", "exists"}
REUSED = "this Idempotency-Key was used with a different body"
NO_CONTACT = "no contact with this phone"
ALREADY = "already enrolled in postop (external id 'a1') and still active"


def test_the_openapi_document_declares_bearer_and_basic(app: Served) -> None:
    document = app.session.get(f"{app.url}/openapi.json", timeout=10).json()
    declared = document["components"]["securitySchemes"]
    for name, scheme in SCHEMES.items():
        assert scheme.items() <= declared[name].items(), declared


def test_every_v1_route_requires_a_token_and_no_other_route_does(app: Served) -> None:
    document = app.session.get(f"{app.url}/openapi.json", timeout=10).json()
    either = [{"HTTPBearer": []}, {"HTTPBasic": []}]  # alternatives: one of them is enough
    v1 = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if path.startswith("/v1/"):
                v1 += 1
                assert operation.get("security") == either, (method, path)
            else:  # webhooks are signed by Twilio; /healthz and /metrics are open
                assert "security" not in operation, (method, path)
    assert v1 == 7


@pytest.mark.parametrize(
    ("path", "status", "field", "message"),
    [
        ("/v1/sequences/nope", 404, "key", "nope"),
        ("/v1/contacts/+14155550123", 404, "phone", "no contact with this phone"),
        ("/v1/enrollments/999", 404, None, "no enrollment 999"),
    ],
)
def test_what_does_not_exist_is_named(
    app: Served, path: str, status: int, field: str | None, message: str
) -> None:
    answer = app.api("GET", path)
    assert answer.status_code == status
    assert answer.json()["error"]["field"] == field
    assert message in answer.json()["error"]["message"]


def test_an_unreadable_basic_header_is_the_apis_own_401(app: Served) -> None:
    # HTTPBasic itself would answer "Not authenticated" with a Basic-only challenge.
    for value in ("Basic !!!", "Basic " + base64.b64encode(b"\xff\xfe").decode()):
        answer = app.api("GET", "/v1/sequences", headers={"Authorization": value})
        assert answer.status_code == 401
        assert answer.json()["error"]["message"] == "missing credentials: send a bearer token"
        assert "Bearer" in answer.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    ("error", "status", "field", "message"),
    [
        (EnrollmentError("anchor", "not a date"), 422, "anchor", "not a date"),
        (KeyReused(), 422, "Idempotency-Key", REUSED),
        (InvalidInput("bad"), 422, None, "bad"),
        (UnknownSequence("no sequence 'x'"), 404, None, "no sequence 'x'"),
        # Both InvalidInput and NotFound / Conflict: the narrower category decides.
        (UnknownContact("phone", NO_CONTACT), 404, "phone", NO_CONTACT),
        (DuplicateEnrollment("postop", "a1"), 409, "phone", ALREADY),
        (NotFound("gone"), 404, None, "gone"),
        (Conflict("clash"), 409, None, "clash"),
        (Unavailable("down"), 503, None, "down"),
        (IllegalTransition(MessageState.SENT, MessageState.PLANNED), 500, None, "internal error"),
        (InvariantBroken("secret detail"), 500, None, "internal error"),
        (DripError("no category"), 500, None, "internal error"),
    ],
)  # fmt: skip
def test_each_error_category_has_one_status(
    error: DripError, status: int, field: str | None, message: str
) -> None:
    answer = answer_of(error)
    assert answer.status_code == status
    assert bytes(answer.body).decode() == (
        '{"error":{"field":'
        + (f'"{field}"' if field else "null")
        + f',"message":"{message}"'
        + "}}"
    )


def test_webhook_routes_take_the_verified_form_not_the_request() -> None:
    # The signature check is a dependency: a route cannot read a parameter it was not given
    # after the check held.
    for route in (webhooks.inbound, webhooks.status):
        hints = inspect.get_annotations(route, eval_str=True)
        assert hints["form"] == webhooks.Signed, route.__name__
        assert not any("Request" in str(hint) for hint in hints.values()), route.__name__
