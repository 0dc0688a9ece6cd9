"""``dripsms clock`` and ``dripsms sandbox reply``: the sandbox controls of a running
``dripsms run``, over its ``/v1/sandbox/*`` routes. The server is found through its run
file (see :mod:`dripsms.runfile`); ``--url`` and ``--token`` override it."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dripsms.cli import common, render
from dripsms.cli.common import JSON
from dripsms.errors import DripError, Unavailable

URL = Annotated[
    str | None,
    typer.Option(
        "--url", help="The running server (default: from the run file `dripsms run` writes)."
    ),
]
TOKEN = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="DRIPSMS_CONTROL_TOKEN",
        help="Its control token or an API token (default: from the run file).",
        show_envvar=False,
    ),
]
TIMEOUT = 60.0
"""A reply waits for dripsms's webhook answer; a move for the sandbox's releases."""


def _call(method: str, path: str, url: str | None, token: str | None, body: Any = None) -> Any:
    """One control request; every failure is a clear :class:`DripError`, never a traceback."""
    import requests

    from dripsms import runfile

    if url is None or token is None:
        where = runfile.path_for(common.settings().database_url)
        found = runfile.read(where)
        url, token = url or found.url, token or found.token
    target = f"{url.rstrip('/')}{path}"
    try:
        answer = requests.request(
            method, target, json=body, timeout=TIMEOUT,
            headers={"Authorization": f"Bearer {token}"},
        )  # fmt: skip
    except requests.RequestException as exc:
        raise Unavailable(
            f"cannot reach dripsms at {url} ({type(exc).__name__}): is `dripsms run` running?"
        ) from None
    if answer.status_code == 401:
        raise DripError(
            f"{url} refused the token (401): pass the control token of this run (from its run "
            "file) or one of DRIPSMS_API_TOKENS with --token"
        )
    if answer.status_code == 404 and path.startswith("/v1/sandbox"):
        detail = _message(answer)
        if "no message" in detail:
            raise DripError(detail)
        raise DripError(
            f"{url} has no sandbox controls (404): it runs with real Twilio, or is not a "
            "`dripsms run`; the virtual clock exists in sandbox mode only"
        )
    if answer.status_code >= 400:
        raise DripError(f"{url} answered {answer.status_code}: {_message(answer)}")
    try:
        return answer.json()
    except ValueError:
        raise DripError(f"{url} answered something that is not JSON") from None


def _message(answer: Any) -> str:
    try:
        error = answer.json().get("error", {})
        return str(error.get("message") or error)
    except (ValueError, AttributeError):
        return str(answer.text[:200])


def clock_show(url: URL = None, token: TOKEN = None, as_json: JSON = False) -> None:
    """The virtual clock of the running `dripsms run` (sandbox mode) and the next due message."""
    render.clock_status(_call("GET", "/v1/sandbox/clock", url, token), as_json=as_json)


def clock_advance(
    duration: Annotated[str, typer.Argument(help="How far: 30m, 1h, 1d, 2d12h.")],
    url: URL = None,
    token: TOKEN = None,
    as_json: JSON = False,
) -> None:
    """Move the virtual clock forward: the sandbox sends what comes due, the dispatcher runs."""
    from dripsms.core.durations import parse_duration

    try:
        parse_duration(duration)
    except ValueError as exc:
        raise DripError(f"DURATION: {exc}") from None
    move = _call("POST", "/v1/sandbox/clock", url, token, {"advance": duration})
    render.clock_moved(move, as_json=as_json)


def clock_next(url: URL = None, token: TOKEN = None, as_json: JSON = False) -> None:
    """Move the virtual clock to the next due message."""
    move = _call("POST", "/v1/sandbox/clock", url, token, {"to": "next"})
    render.clock_moved(move, as_json=as_json)


def sandbox_reply(
    phone: Annotated[str, typer.Argument(help="The phone that texts (E.164 or national form).")],
    text: Annotated[str, typer.Argument(help="What it texts, e.g. 8 or STOP.")],
    url: URL = None,
    token: TOKEN = None,
    as_json: JSON = False,
) -> None:
    """A sandbox phone texts dripsms: a signed inbound webhook, as Twilio sends it."""
    result = _call("POST", "/v1/sandbox/replies", url, token, {"phone": phone, "text": text})
    render.phone_replied(result, as_json=as_json)
