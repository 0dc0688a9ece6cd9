"""``dripsms doctor``: is this installation set up to send, and to trust what comes back?"""

from __future__ import annotations

from typing import Annotated

import typer

from dripsms.cli import common, render


def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="Print the checks as JSON.")] = False,
) -> None:
    """Check settings, Twilio credentials, webhook signatures, the Messaging Service, the
    public URL, the database and the sequences; exit 1 when something is wrong."""
    from dripsms.diagnosis import diagnose, healthy

    checks = diagnose(common.clock())
    render.checks(checks, as_json=as_json)
    if not healthy(checks):
        raise typer.Exit(1)
