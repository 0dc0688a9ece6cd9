"""``dripsms sandbox``: the Twilio-compatible emulator on its own."""

from __future__ import annotations

from typing import Annotated

import typer

from dripsms.cli import render


def sandbox(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8787,
) -> None:
    """Run the Twilio-compatible sandbox (until Ctrl-C); point DRIPSMS_TWILIO_API_BASE at it."""
    from dripsms.sandbox import serve

    serve(host, port, ready=render.sandbox_ready)
