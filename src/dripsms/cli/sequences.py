"""Commands about sequence files: validate, preview, init."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dripsms.catalog import load_all, load_file
from dripsms.cli import common, render
from dripsms.cli.common import SET
from dripsms.clock import parse_instant
from dripsms.core.preview import preview as build_preview
from dripsms.scaffold import init_project


def validate(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Files or folders; default: the sequences folder.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the problems as JSON.")] = False,
) -> None:
    """Check sequence files; print every problem as file:line:col: message. Exit 1 on errors."""
    settings = common.settings()
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


def preview(
    sequence_file: Annotated[Path, typer.Argument(help="The sequence file to preview.")],
    tz: Annotated[str, typer.Option("--tz", help="The contact's IANA time zone.")],
    anchor: Annotated[
        str | None, typer.Option(help="The anchor: a date (YYYY-MM-DD) or an ISO date-time.")
    ] = None,
    enrolled_at: Annotated[
        str | None, typer.Option(help="Enrollment instant (ISO 8601); default: now.")
    ] = None,
    set_: SET = None,
    reply: Annotated[
        list[str] | None,
        typer.Option(help="Simulate a reply, STEP=VALUE (repeatable); its rules' 'set' apply."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the rows as JSON.")] = False,
) -> None:
    """Show when each step would go out for one contact, and what it would say."""
    settings = common.settings()
    loaded = load_file(sequence_file, max_segments=settings.max_segments)
    zone = common.zone(tz)
    enrolled = (
        parse_instant(enrolled_at, source="--enrolled-at") if enrolled_at else common.clock()()
    )
    chosen = common.anchor(anchor)
    if chosen is None and loaded.sequence.anchor != "enrolled_at":
        chosen = enrolled.astimezone(zone).date()
    rows = build_preview(
        loaded.sequence,
        zone=zone,
        enrolled_at=enrolled,
        anchor=chosen,
        attributes=common.pairs(set_ or [], "--set"),
        replies=common.pairs(reply or [], "--reply"),
    )
    if as_json:
        render.print_json([row.as_json() for row in rows])
        return
    title = f"{loaded.sequence.name} ({loaded.sequence.key} @ {loaded.version}) in {zone.key}"
    render.preview_table(title, rows)


def init(
    directory: Annotated[Path, typer.Argument(help="Where to write the files.")] = Path("."),
    force: Annotated[bool, typer.Option(help="Overwrite files that exist.")] = False,
) -> None:
    """Write a working sequences/postop.yaml, a commented dripsms.toml and a .env.example."""
    render.wrote(init_project(directory, force=force))
