"""Everything the CLI prints. The only module that imports Rich."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from dripsms.core.preview import SKIPPED, WAITING, PreviewRow, format_utc
from dripsms.errors import Problem

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(value: Any) -> None:
    """JSON on stdout, for scripts."""
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def problem_json(problem: Problem, severity: str) -> dict[str, Any]:
    """A problem as ``validate --json`` prints it."""
    return {
        "file": problem.file,
        "line": problem.line,
        "column": problem.column,
        "field": problem.field,
        "message": problem.message,
        "severity": severity,
    }


def problems(errors: Sequence[Problem], warnings: Sequence[Problem], files: int) -> None:
    """``file:line:col: message`` lines (what editors and CI annotators parse), then a total."""
    for problem in errors:
        out.print(str(problem), markup=False)
    for problem in warnings:
        out.print(
            f"{problem.file}:{problem.line}:{problem.column}: warning: ", end="", markup=False
        )
        out.print(f"{problem.field}: {problem.message}" if problem.field else problem.message,
                  markup=False)  # fmt: skip
    noun = "file" if files == 1 else "files"
    if errors:
        err.print(f"[red]{len(errors)} error(s)[/] in {files} {noun}")
    else:
        extra = f", {len(warnings)} warning(s)" if warnings else ""
        err.print(f"[green]ok[/]: {files} {noun} valid{extra}")


def preview_table(title: str, rows: Sequence[PreviewRow]) -> None:
    """The preview as a table: step, local time, UTC, body, encoding, segments."""
    table = Table(title=title, show_lines=True, title_justify="left")
    for column in ("step", "local time", "UTC", "body", "encoding", "seg."):
        table.add_column(column, overflow="fold")
    for row in rows:
        local = row.due_local.strftime("%a %Y-%m-%d %H:%M %Z") if row.due_local else "—"
        utc = format_utc(row.due_utc) if row.due_utc else "—"
        step = row.step
        if row.status in (SKIPPED, WAITING) or row.note:
            step += f"\n[dim]{row.status}{': ' + row.note if row.note else ''}[/]"
        style = "dim" if row.status == SKIPPED else None
        table.add_row(
            step, local, utc, _escape(row.body), row.encoding, str(row.segments), style=style
        )
    out.print(table)


def _escape(text: str) -> str:
    return text.replace("[", r"\[")


def error(message: str) -> None:
    """An error for a person, on stderr."""
    err.print(f"[red]error[/]: {_escape(message)}")


def wrote(paths: Sequence[Any]) -> None:
    """What ``init`` created."""
    for path in paths:
        out.print(f"wrote {path}", markup=False)
