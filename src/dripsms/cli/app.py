"""The ``dripsms`` command: a Typer app whose commands live in the modules beside this one.

Each command parses its options, calls one library function, and renders the result.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

import dripsms.cli.users as users_cli
from dripsms import __version__
from dripsms.cli import controls, demo, doctor, engine, render, sandbox, sequences
from dripsms.errors import DripError, InvariantBroken, SequenceError, Unavailable

app = typer.Typer(
    name="dripsms",
    help="Reply-aware SMS drip sequences on Twilio Message Scheduling.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(sequences.validate)
app.command()(sequences.preview)
app.command()(sequences.init)
app.command()(engine.enroll)
app.command("import")(engine.import_)
app.command()(engine.unenroll)
app.command()(engine.tick)
app.command()(engine.worker)
app.command()(engine.run)
app.command()(engine.serve)
app.command()(engine.timeline)
app.command()(engine.stats)
sandbox_group = typer.Typer(
    name="sandbox",
    invoke_without_command=True,
    help="Run the Twilio-compatible sandbox (no subcommand); `reply`: a phone texts dripsms.",
)
sandbox_group.callback()(sandbox.sandbox)
sandbox_group.command("reply")(controls.sandbox_reply)
app.add_typer(sandbox_group)
clock_group = typer.Typer(
    name="clock", help="The virtual clock of a running `dripsms run` (sandbox mode).",
    no_args_is_help=True,
)  # fmt: skip
clock_group.command("show")(controls.clock_show)
clock_group.command("advance")(controls.clock_advance)
clock_group.command("next")(controls.clock_next)
app.add_typer(clock_group)
app.command()(doctor.doctor)
app.command()(demo.demo)
db = typer.Typer(name="db", help="The database: migrations.", no_args_is_help=True)
db.command("upgrade")(engine.db_upgrade)
app.add_typer(db)
sequences_group = typer.Typer(
    name="sequences", help="Sequence versions: list them, migrate enrollments.",
    no_args_is_help=True,
)  # fmt: skip
sequences_group.command("list")(engine.sequences_list)
sequences_group.command("migrate")(engine.sequences_migrate)
app.add_typer(sequences_group)
app.add_typer(users_cli.users)
app.command()(users_cli.audit)


class LogFormat(StrEnum):
    """How log lines look."""

    text = "text"
    json = "json"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dripsms {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
    log_format: Annotated[
        LogFormat | None,
        typer.Option(
            "--log-format",
            help="Log lines as key=value text or one JSON object per line "
            "(default: DRIPSMS_LOG_FORMAT, else text).",
        ),
    ] = None,
) -> None:
    """Reply-aware SMS drip sequences on Twilio Message Scheduling."""
    _configure_logs(log_format.value if log_format else None)


def _configure_logs(log_format: str | None) -> None:
    from dripsms.logs import configure_logging
    from dripsms.settings import Settings

    try:
        settings = Settings()
        level, default = settings.log_level, settings.log_format
    except Exception:  # a bad setting: the command itself reports it, by name
        level, default = "INFO", "text"
    configure_logging(level, log_format or default)


EXIT_CODES: tuple[tuple[type[DripError], int], ...] = (
    (InvariantBroken, 70),  # a bug in dripsms (sysexits' EX_SOFTWARE)
    (Unavailable, 3),  # the database or Twilio: trying again later may work
    (DripError, 2),  # the input, a setting, something that does not exist or clashes
)
"""Each error category's exit status, the first match wins (one place for the whole CLI).
A sequence file with problems exits 1, as `validate` does; a usage error is Click's 2."""


def exit_code(error: DripError) -> int:
    """The exit status for ``error``, by its category."""
    return next(code for category, code in EXIT_CODES if isinstance(error, category))


def main() -> None:
    """The console script: a DripError becomes a clean message and its category's status."""
    try:
        app()  # handles usage errors and exit codes itself, then raises SystemExit
    except SequenceError as exc:
        render.problems(exc.problems, [], len({p.file for p in exc.problems}))
        raise SystemExit(1) from None
    except DripError as exc:
        render.error(str(exc))
        raise SystemExit(exit_code(exc)) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None
