"""Project-wide rules: the core stays pure, and the docs keep up with settings and commands."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from pydantic import AliasChoices

from dripsms.cli.app import app
from dripsms.settings import Settings

REPO = Path(__file__).resolve().parents[2]
CORE = REPO / "src" / "dripsms" / "core"
IO_LIBRARIES = {"sqlalchemy", "twilio", "fastapi", "typer", "rich", "httpx", "requests", "os"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_core_imports_no_io_library() -> None:
    offenders = {
        str(path.relative_to(REPO)): sorted(_imports(path) & IO_LIBRARIES)
        for path in CORE.rglob("*.py")
        if _imports(path) & IO_LIBRARIES
    }
    assert offenders == {}


def test_core_never_reads_the_clock() -> None:
    pattern = re.compile(r"\b(datetime\.now|datetime\.utcnow|date\.today|time\.time)\(")
    readers = [str(p) for p in CORE.rglob("*.py") if pattern.search(p.read_text())]
    assert readers == []


def test_every_setting_is_documented() -> None:
    doc = (REPO / "docs" / "settings.md").read_text()
    for name, field in Settings.model_fields.items():
        env = f"DRIPSMS_{name.upper()}"
        if isinstance(field.validation_alias, AliasChoices):
            env = str(field.validation_alias.choices[0])
        assert f"`{env}`" in doc, name
        assert field.description and field.description in doc, name
    scaffold = (REPO / "src" / "dripsms" / "scaffold" / "dripsms.toml").read_text()
    for name in Settings.model_fields:
        assert f"{name} =" in scaffold, name


def test_every_command_is_documented() -> None:
    doc = (REPO / "docs" / "cli.md").read_text()
    commands = [
        c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands
    ]
    assert commands
    for command in commands:
        assert f"## `dripsms {command}" in doc, command


def test_the_example_sequence_is_the_scaffold() -> None:
    example = REPO / "sequences" / "postop.yaml"
    scaffold = REPO / "src" / "dripsms" / "scaffold" / "sequences" / "postop.yaml"
    assert example.read_text() == scaffold.read_text()
