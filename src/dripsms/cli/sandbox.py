"""``dripsms sandbox``: the Twilio-compatible emulator on its own."""

from __future__ import annotations

from typing import Annotated

import typer

from dripsms.cli import common, render


def sandbox(
    context: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8787,
    fresh_token: Annotated[
        bool,
        typer.Option(
            "--fresh-token",
            help="Give the account a fresh auth token (printed) instead of the published one, "
            "so that dripsms accepts the webhooks it signs.",
        ),
    ] = False,
) -> None:
    """Run the Twilio-compatible sandbox (until Ctrl-C); point DRIPSMS_TWILIO_API_BASE at it.
    `dripsms sandbox reply` texts a running `dripsms run` from a sandbox phone."""
    if context.invoked_subcommand is not None:
        return
    from dripsms.sandbox import Sandbox, new_auth_token, serve

    token = new_auth_token() if fresh_token else None

    def ready(url: str) -> None:
        render.sandbox_ready(url, token)

    # Its clock stands still unless moved; it starts at DRIPSMS_NOW when that is set, so that
    # commands pinned to DRIPSMS_NOW and the sandbox agree on what SendAt is in the future.
    start = common.clock()()
    serve(host, port, sandbox=Sandbox(auth_token=token, now=start), ready=ready)
