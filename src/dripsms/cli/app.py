"""``dripsms`` commands. Each parses its options, calls one library function, renders."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer

from dripsms import __version__
from dripsms.catalog import load_all, load_file
from dripsms.cli import render
from dripsms.clock import Clock, clock_from_environment, parse_instant
from dripsms.core.preview import preview as build_preview
from dripsms.errors import DripError, SequenceError
from dripsms.scaffold import init_project
from dripsms.settings import Settings

app = typer.Typer(
    name="dripsms",
    help="Reply-aware SMS drip sequences on Twilio Message Scheduling.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _settings() -> Settings:
    try:
        return Settings()
    except Exception as exc:  # pydantic's ValidationError, a bad dripsms.toml
        raise DripError(f"invalid settings: {exc}") from None


def _clock() -> Clock:
    return clock_from_environment()


def _pairs(values: list[str], option: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise DripError(f"{option} {item!r}: write NAME=VALUE")
        pairs[name.strip()] = value
    return pairs


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise DripError(f"--tz: unknown time zone {name!r}; use an IANA name") from None


def _anchor(text: str | None) -> date | datetime | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise DripError(
            f"--anchor: {text!r} is neither a date (YYYY-MM-DD) nor an ISO date-time"
        ) from None


@app.command()
def validate(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Files or folders; default: the sequences folder.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the problems as JSON.")] = False,
) -> None:
    """Check sequence files; print every problem as file:line:col: message. Exit 1 on errors."""
    settings = _settings()
    report = load_all(paths or [settings.sequences_dir], max_segments=settings.max_segments)
    if as_json:
        render.print_json(
            {
                "files": report.files,
                "valid": not report.errors,
                "problems": [render.problem_json(p, "error") for p in report.errors]
                + [render.problem_json(p, "warning") for p in report.warnings],
            }
        )
    else:
        render.problems(report.errors, report.warnings, report.files)
    if report.errors:
        raise typer.Exit(1)


@app.command()
def preview(
    sequence_file: Annotated[Path, typer.Argument(help="The sequence file to preview.")],
    tz: Annotated[str, typer.Option("--tz", help="The contact's IANA time zone.")],
    anchor: Annotated[
        str | None, typer.Option(help="The anchor: a date (YYYY-MM-DD) or an ISO date-time.")
    ] = None,
    enrolled_at: Annotated[
        str | None, typer.Option(help="Enrollment instant (ISO 8601); default: now.")
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="An attribute, NAME=VALUE (repeatable).")
    ] = None,
    reply: Annotated[
        list[str] | None,
        typer.Option(help="Simulate a reply, STEP=VALUE (repeatable); its rules' 'set' apply."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the rows as JSON.")] = False,
) -> None:
    """Show when each step would go out for one contact, and what it would say."""
    settings = _settings()
    loaded = load_file(sequence_file, max_segments=settings.max_segments)
    zone = _zone(tz)
    enrolled = parse_instant(enrolled_at, source="--enrolled-at") if enrolled_at else _clock()()
    chosen = _anchor(anchor)
    if chosen is None and loaded.sequence.anchor != "enrolled_at":
        chosen = enrolled.astimezone(zone).date()
    rows = build_preview(
        loaded.sequence,
        zone=zone,
        enrolled_at=enrolled,
        anchor=chosen,
        attributes=_pairs(set_ or [], "--set"),
        replies=_pairs(reply or [], "--reply"),
    )
    if as_json:
        render.print_json([row.as_json() for row in rows])
        return
    title = f"{loaded.sequence.name} ({loaded.sequence.key} @ {loaded.version}) in {zone.key}"
    render.preview_table(title, rows)


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Where to write the files.")] = Path("."),
    force: Annotated[bool, typer.Option(help="Overwrite files that exist.")] = False,
) -> None:
    """Write a working sequences/postop.yaml, a commented dripsms.toml and a .env.example."""
    render.wrote(init_project(directory, force=force))


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dripsms {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Reply-aware SMS drip sequences on Twilio Message Scheduling."""


def main() -> None:
    """The console script: DripError becomes a clean message and exit status 1 or 2."""
    try:
        app()  # handles usage errors and exit codes itself, then raises SystemExit
    except SequenceError as exc:
        render.problems(exc.problems, [], len({p.file for p in exc.problems}))
        raise SystemExit(1) from None
    except DripError as exc:
        render.error(str(exc))
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None
