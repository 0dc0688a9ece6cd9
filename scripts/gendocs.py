"""Generate the reference parts of the docs from their one source; ``--check``: fail if stale.

- ``docs/settings.md``: the table of settings, from :class:`dripsms.settings.Settings`.
- ``docs/cli.md``: the command reference, from each command's ``--help``.

Each generated part sits between two markers in the page; the prose around them is
written by hand. ``make docs`` rewrites them, ``make docs-check`` (and
``tests/unit/test_generated_docs.py``) fails when a page is stale.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BEGIN = "<!-- generated: {name} by scripts/gendocs.py (`make docs`); edit the source, not this -->"
END = "<!-- end generated: {name} -->"


def settings_table() -> str:
    """The settings table: name, environment variable, default, meaning."""
    from pydantic import AliasChoices

    from dripsms.settings import Settings

    lines = ["| setting | environment | default | meaning |", "| --- | --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        env = f"DRIPSMS_{name.upper()}"
        if isinstance(field.validation_alias, AliasChoices):
            env = str(field.validation_alias.choices[0])
        default = field.get_default(call_default_factory=True)
        lines.append(f"| `{name}` | `{env}` | {_default(default)} | {field.description} |")
    return "\n".join(lines)


def _default(value: Any) -> str:
    from dripsms.core.durations import format_duration

    if value is None or value == [] or value == ():
        return "—"
    if isinstance(value, timedelta):
        return f"`{format_duration(value)}`"
    return f"`{value}`"


def cli_reference() -> str:
    """Every command's usage, description and options, as ``--help`` gives them."""
    import typer

    from dripsms.cli.app import app

    root = typer.main.get_command(app)
    parts: list[str] = []
    _commands(root, ["dripsms"], parts, top=True)
    return "\n".join(parts).rstrip()


def _commands(command: Any, path: list[str], parts: list[str], *, top: bool = False) -> None:
    import click

    ctx = click.Context(command, info_name=" ".join(path))
    if not top:
        parts += [f"### `{' '.join(path)}`", "", "```text", _help(command, ctx), "```", ""]
    if _is_group(command):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                _commands(sub, [*path, name], parts)


def _help(command: Any, ctx: Any) -> str:
    """The help as plain text, 88 columns (click's own formatter: no colour, no boxes)."""
    import click

    formatter = click.HelpFormatter(width=88)
    click.Command.format_usage(command, ctx, formatter)
    click.Command.format_help_text(command, ctx, formatter)
    rows = [r for p in command.get_params(ctx) if (r := p.get_help_record(ctx))]
    if rows:
        with formatter.section("Arguments and options"):
            formatter.write_dl(rows)
    if _is_group(command):
        subs = [(n, command.get_command(ctx, n)) for n in command.list_commands(ctx)]
        listed = [(n, c.get_short_help_str(70)) for n, c in subs if c is not None and not c.hidden]
        if listed:
            with formatter.section("Commands"):
                formatter.write_dl(listed)
    return "\n".join(line.rstrip() for line in formatter.getvalue().rstrip().splitlines())


def _is_group(command: Any) -> bool:
    # Typer may bring its own copy of click: a group is what lists commands.
    return callable(getattr(command, "list_commands", None))


PAGES: dict[str, tuple[str, Callable[[], str]]] = {
    "settings": ("docs/settings.md", settings_table),
    "commands": ("docs/cli.md", cli_reference),
}


def render(text: str, name: str, content: str) -> str:
    """``text`` with the part ``name`` between its markers replaced by ``content``."""
    begin, end = BEGIN.format(name=name), END.format(name=name)
    if text.count(begin) != 1 or text.count(end) != 1:
        raise SystemExit(f"{name}: the page needs exactly one pair of markers:\n{begin}\n{end}")
    head, rest = text.split(begin)
    _, tail = rest.split(end)
    return f"{head}{begin}\n{content}\n{end}{tail}"


def stale(repo: Path = REPO) -> list[str]:
    """The pages whose generated parts differ from what their source gives now."""
    return [
        page
        for name, (page, build) in PAGES.items()
        if render((repo / page).read_text(), name, build()) != (repo / page).read_text()
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when a page is stale")
    args = parser.parse_args(argv)
    if args.check:
        pages = stale()
        for page in pages:
            print(f"{page} is stale: run `make docs` (scripts/gendocs.py)", file=sys.stderr)
        return 1 if pages else 0
    for name, (page, build) in PAGES.items():
        path = REPO / page
        path.write_text(render(path.read_text(), name, build()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
