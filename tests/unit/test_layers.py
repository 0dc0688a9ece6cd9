"""The import rules between layers (CONTRIBUTING.md, "Layers").

- ``core/`` is pure: it imports no I/O library and no other dripsms layer (only
  ``dripsms.core`` and the error tree, ``dripsms.errors``).
- ``engine/``, ``web/`` and ``cli/`` build no SQL: they import no SQLAlchemy statement
  builder (``select``, ``insert``, ``update``, ``func``…) and no table of
  ``dripsms.store.tables``; the queries live in ``store/``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

CORE_MAY_IMPORT = ("dripsms.core", "dripsms.errors")
CORE_BANNED_LIBRARIES = {"sqlalchemy", "twilio", "fastapi", "starlette", "typer", "rich",
                         "uvicorn", "requests", "httpx", "alembic"}  # fmt: skip
STATEMENT_BUILDERS = {
    "select", "insert", "update", "delete", "func", "text", "and_", "or_", "not_", "case",
    "exists", "literal", "literal_column", "bindparam", "union", "union_all", "tuple_",
    "column", "table", "cast", "null", "true", "false", "distinct", "values",
}  # fmt: skip
"""Names that build SQL statements, from ``sqlalchemy`` or any of its submodules."""
NO_SQL_LAYERS = ("engine", "web", "cli")
TABLES = ("dripsms.store", "tables")


def _imports(path: Path, src: Path = SRC) -> Iterator[tuple[str, str | None]]:
    """(module, name) for every import in ``path`` (name None for ``import module``),
    function-level and ``TYPE_CHECKING`` ones included."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: resolve against the file's package
                parts = path.relative_to(src).with_suffix("").parts[: -node.level]
                module = ".".join([*parts, module] if module else parts)
            for alias in node.names:
                yield module, alias.name


def _modules(layer: str, src: Path = SRC) -> list[Path]:
    return sorted((src / "dripsms" / layer).rglob("*.py"))


def _name(path: Path, src: Path = SRC) -> str:
    return path.relative_to(src).as_posix()


def test_the_core_imports_no_io_library_and_no_other_layer() -> None:
    offenders: dict[str, list[str]] = {}
    for path in _modules("core"):
        for module, _ in _imports(path):
            top = module.split(".")[0]
            other_layer = top == "dripsms" and not module.startswith(CORE_MAY_IMPORT)
            if top in CORE_BANNED_LIBRARIES or other_layer:
                offenders.setdefault(_name(path), []).append(module)
    assert offenders == {}


def sql_builders(src: Path = SRC) -> dict[str, set[str]]:
    """Each engine/web/cli module importing SQLAlchemy statement builders, with the names."""
    found: dict[str, set[str]] = {}
    for layer in NO_SQL_LAYERS:
        for path in _modules(layer, src):
            for module, name in _imports(path, src):
                if module.split(".")[0] != "sqlalchemy":
                    continue
                if name is None and module in {"sqlalchemy", "sqlalchemy.sql"}:
                    found.setdefault(_name(path, src), set()).add(f"import {module}")
                elif name in STATEMENT_BUILDERS or name == "*":
                    found.setdefault(_name(path, src), set()).add(name)
            for module, name in _imports(path, src):
                if module == "dripsms.store.tables" or (module, name) == (
                    "dripsms.store",
                    "tables",
                ):
                    found.setdefault(_name(path, src), set()).add("dripsms.store.tables")
    return found


def test_engine_web_and_cli_build_no_sql() -> None:
    assert sql_builders() == {}, "queries belong in dripsms/store/ (see CONTRIBUTING.md)"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from sqlalchemy import Engine, select\n", {"select"}),
        ("from sqlalchemy.dialects.postgresql import insert\n", {"insert"}),
        ("import sqlalchemy\n", {"import sqlalchemy"}),
        ("def f():\n    from sqlalchemy import func\n", {"func"}),
        ("from sqlalchemy.exc import IntegrityError\n", set()),
        ("from dripsms.store.tables import messages\n", {"dripsms.store.tables"}),
    ],
)
def test_the_scan_sees_builders_however_they_are_imported(
    source: str, expected: set[str], tmp_path: Path
) -> None:
    (tmp_path / "dripsms" / "engine").mkdir(parents=True)
    (tmp_path / "dripsms" / "engine" / "probe.py").write_text(source)
    assert sql_builders(tmp_path).get("dripsms/engine/probe.py", set()) == expected
