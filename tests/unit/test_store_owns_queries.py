"""The store owns the queries: ``engine/``, ``web/`` and the CLI import no SQLAlchemy statement
builders (only ``Connection``/``Engine`` and exceptions)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "dripsms"
ALLOWED = {"Connection", "Engine"}
"""What a module outside ``store/`` may take from ``sqlalchemy`` itself: the types it passes on."""
LAYERS = ["engine", "web", "cli"]
"""The layers that ask the store, and build no SQL of their own."""


def _sqlalchemy_names(path: Path) -> set[str]:
    """What ``path`` imports from SQLAlchemy outside ``sqlalchemy.exc``, as dotted names."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            if node.module == "sqlalchemy.exc":
                continue
            found.update(
                alias.name if node.module == "sqlalchemy" else f"{node.module}.{alias.name}"
                for alias in node.names
            )
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("sqlalchemy"))
    return found


def _modules() -> list[Path]:
    return [path for layer in LAYERS for path in sorted((SRC / layer).rglob("*.py"))]


def test_the_engine_and_the_cli_build_no_sql() -> None:
    leaks = {
        str(path.relative_to(SRC)): sorted(names - ALLOWED)
        for path in _modules()
        if (names := _sqlalchemy_names(path)) - ALLOWED
    }
    assert leaks == {}


def test_the_check_sees_a_statement_builder(tmp_path: Path) -> None:
    leaky = tmp_path / "leaky.py"
    leaky.write_text("from sqlalchemy import Engine, select, update\nimport sqlalchemy.sql\n")
    assert _sqlalchemy_names(leaky) - ALLOWED == {"select", "update", "sqlalchemy.sql"}
