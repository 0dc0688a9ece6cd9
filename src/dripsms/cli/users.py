"""``dripsms users`` (add, list, disable operators of the console) and ``dripsms audit``.

Both act on the real clock: an audit row says when a person did something, whatever the
sandbox's virtual clock says.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from dripsms.cli import common, render
from dripsms.cli.common import JSON
from dripsms.clock import system_clock
from dripsms.errors import InvalidInput

MAX_AUDIT_ROWS = 1000  # dripsms.engine.users.MAX_AUDIT_ROWS (not imported: SQLAlchemy is slow)

users = typer.Typer(
    name="users", help="Operators of the console: add, list, disable.", no_args_is_help=True
)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        try:
            line = sys.stdin.readline()
        except UnicodeDecodeError:
            raise InvalidInput("password: standard input is not valid text") from None
        if not line:
            raise InvalidInput("password: nothing on standard input")
        return line.rstrip("\r\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@users.command("add")
def add(
    email: Annotated[str, typer.Argument(help="The operator's email (their sign-in name).")],
    role: Annotated[
        str, typer.Option(help="nurse (views, acknowledges, replies) or admin (also users).")
    ],
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read the password from one line of standard input instead of prompting.",
        ),
    ] = False,
) -> None:
    """Add an operator who can sign in to the console (prompts twice for the password)."""
    from dripsms.engine.users import Actor, add_user

    runtime = common.runtime()
    operator = add_user(
        runtime.engine, email, role, _password(password_stdin), by=Actor.command_line(),
        now=system_clock(),
    )  # fmt: skip
    render.operator_added(operator)


@users.command("list")
def list_(as_json: JSON = False) -> None:
    """Every operator: email, role, when added, when disabled."""
    from dripsms.engine.users import list_users

    render.operators(list_users(common.runtime().engine), as_json=as_json)


@users.command("disable")
def disable(
    email: Annotated[str, typer.Argument(help="The operator to disable.")],
) -> None:
    """Disable an operator: they cannot sign in, and their open sessions end now."""
    from dripsms.engine.users import Actor, disable_user

    row = disable_user(common.runtime().engine, email, by=Actor.command_line(), now=system_clock())
    render.operator_disabled(row)


def audit(
    since: Annotated[
        str | None,
        typer.Option(
            help="From a date (2026-11-30, midnight in DRIPSMS_CLINIC_TIMEZONE), an ISO "
            "instant (2026-11-30T08:00Z) or a time back from now (30m, 24h, 7d, 2w).",
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option(help=f"At most this many rows (1 to {MAX_AUDIT_ROWS}).")
    ] = 200,
    as_json: JSON = False,
) -> None:
    """The audit log, newest first: who signed in, viewed, exported, replied, changed what."""
    from dripsms.engine.users import audit_log, parse_since

    runtime = common.runtime()
    zone = runtime.settings.clinic_timezone
    start = parse_since(since, now=system_clock(), zone=zone, field="--since") if since else None
    if not 1 <= limit <= MAX_AUDIT_ROWS:
        raise InvalidInput(f"--limit: between 1 and {MAX_AUDIT_ROWS}")
    render.audit_events(audit_log(runtime.engine, since=start, limit=limit), zone, as_json=as_json)
