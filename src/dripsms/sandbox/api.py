"""The emulated Twilio REST routes: create, list, fetch and cancel Messages."""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import FormData

from dripsms.sandbox.errors import ApiError, invalid_parameter, not_authenticated
from dripsms.sandbox.faults import ABORT_EXTENSION, CallKind, Fault, FaultDecision
from dripsms.sandbox.listing import MessageQuery, PageRequest, paginate
from dripsms.sandbox.rules import CreateRequest
from dripsms.sandbox.state import Sandbox
from dripsms.sandbox.wire import API_VERSION, error_json, message_json, page_json


def twilio_routes(sandbox: Sandbox) -> APIRouter:
    """The ``/2010-04-01/Accounts/{AccountSid}/Messages`` routes over ``sandbox``."""
    router = APIRouter(prefix=f"/{API_VERSION}/Accounts/{{account_sid}}")

    @router.post("/Messages.json")
    async def create_message(request: Request, account_sid: str) -> Response:
        _authorize(sandbox, request, account_sid)
        create = CreateRequest.from_form(_values(await request.form()))

        def handle() -> Response:
            message = sandbox.create_message(account_sid, create)
            return JSONResponse(message_json(message), status_code=201)

        return await _answer(request, sandbox.faults.draw(CallKind.CREATE), handle)

    @router.get("/Messages.json")
    async def list_messages(request: Request, account_sid: str) -> Response:
        _authorize(sandbox, request, account_sid)
        params = dict(request.query_params)

        def handle() -> Response:
            query, page = MessageQuery.from_params(params), PageRequest.from_params(params)
            listed = paginate(sandbox.list_messages(account_sid, query), page)
            return JSONResponse(page_json(account_sid, query, listed))

        return await _answer(request, sandbox.faults.draw(CallKind.LIST), handle)

    @router.get("/Messages/{sid}.json")
    async def fetch_message(request: Request, account_sid: str, sid: str) -> Response:
        _authorize(sandbox, request, account_sid)

        def handle() -> Response:
            return JSONResponse(message_json(sandbox.fetch_message(account_sid, sid)))

        return await _answer(request, sandbox.faults.draw(CallKind.FETCH), handle)

    @router.post("/Messages/{sid}.json")
    async def update_message(request: Request, account_sid: str, sid: str) -> Response:
        _authorize(sandbox, request, account_sid)
        status = (_values(await request.form()).get("Status") or [""])[0]

        def handle() -> Response:
            if status != "canceled":
                raise invalid_parameter("The sandbox updates a Message only with Status=canceled")
            return JSONResponse(message_json(sandbox.cancel_message(account_sid, sid)))

        return await _answer(request, sandbox.faults.draw(CallKind.CANCEL), handle)

    return router


def error_response(error: ApiError) -> JSONResponse:
    """Twilio's error body, status and headers."""
    return JSONResponse(error_json(error), status_code=error.status, headers=error.headers)


def _authorize(sandbox: Sandbox, request: Request, account_sid: str) -> None:
    # Credentials of another account are refused like wrong ones (Twilio's 20003 page:
    # "scoped to the wrong account").
    credentials = _basic_credentials(request.headers.get("Authorization", ""))
    account = sandbox.authenticate(*credentials) if credentials else None
    if account is None or account.sid != account_sid:
        raise not_authenticated()


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    return (username, password) if sep else None


def _values(form: FormData) -> dict[str, list[str]]:
    return {name: [v for v in form.getlist(name) if isinstance(v, str)] for name in form}


async def _answer(
    request: Request, decision: FaultDecision, handle: Callable[[], Response]
) -> Response:
    """Run ``handle`` (the call's processing) under the fault drawn for this call."""
    if decision.latency:
        await asyncio.sleep(decision.latency)
    if decision.fault is Fault.RATE_LIMITED:
        headers = {"Retry-After": str(decision.retry_after)}
        return error_response(ApiError(20429, "Too Many Requests", 429, headers))
    if decision.fault is Fault.ERROR_BEFORE:
        return error_response(ApiError(20500, "Internal Server Error", 500))
    try:
        response = handle()
    except ApiError as error:
        response = error_response(error)
    if decision.fault is Fault.ERROR_AFTER:
        return error_response(ApiError(20500, "Internal Server Error", 500))
    if decision.fault is Fault.TIMEOUT_AFTER:
        await _hold(request, decision.delay)
    elif decision.fault is Fault.RESET_AFTER:
        await _drop_connection(request)
    return response


async def _hold(request: Request, seconds: float) -> None:
    # Stop holding once the client has given up: nobody is left to answer.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        if await request.is_disconnected():
            return
        await asyncio.sleep(min(left, 0.05))


async def _drop_connection(request: Request) -> None:
    extension = request.scope.get("extensions", {}).get(ABORT_EXTENSION)
    if extension is None:
        raise RuntimeError("reset_after needs a server that can drop connections: SandboxServer")
    extension["abort"]()
    # One loop turn lets the server see the connection gone, so nothing is written to it.
    await asyncio.sleep(0)
