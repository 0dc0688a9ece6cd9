"""``dripsms demo``: three patients through the example post-op sequence on a virtual
clock, in seconds, leaving the database for the console."""

from __future__ import annotations

import typer

from dripsms.cli import common, render
from dripsms.cli.common import JSON


def demo(as_json: JSON = False) -> None:
    """Three patients through the post-op example on the sandbox and a virtual clock: an
    8/10 on day 1 escalates, a STOP on day 2 cancels, silence raises a no-reply alert.
    Refuses Twilio credentials; leaves the database (DRIPSMS_DATABASE_URL) for the console."""
    from dripsms.engine.demo import run_demo

    settings = common.settings()
    result = run_demo(settings, common.clock()())
    render.demo(result, settings.database_url, as_json=as_json)
    if not result.ok:
        raise typer.Exit(1)
