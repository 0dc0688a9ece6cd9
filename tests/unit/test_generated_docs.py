"""docs/settings.md's table and docs/cli.md's command reference are generated, and current."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]


def _gendocs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gendocs", REPO / "scripts" / "gendocs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_generated_docs_are_current() -> None:
    assert _gendocs().stale() == [], "run `make docs` (scripts/gendocs.py) and commit the pages"


def test_a_setting_or_command_changed_without_the_docs_is_caught(tmp_path: Path) -> None:
    gendocs = _gendocs()
    (tmp_path / "docs").mkdir()
    for page in ("settings.md", "cli.md"):
        shutil.copy(REPO / "docs" / page, tmp_path / "docs" / page)
    settings = tmp_path / "docs" / "settings.md"
    settings.write_text(
        settings.read_text().replace("`DRIPSMS_LEASE` | `2m`", "`DRIPSMS_LEASE` | `3m`")
    )
    cli = tmp_path / "docs" / "cli.md"
    cli.write_text(cli.read_text().replace("Print the result as JSON.", "Print JSON."))
    assert gendocs.stale(tmp_path) == ["docs/settings.md", "docs/cli.md"]


def test_regenerating_keeps_the_hand_written_prose() -> None:
    gendocs = _gendocs()
    text = "intro\n" + gendocs.BEGIN.format(name="x") + "\nold\n" + gendocs.END.format(name="x")
    rendered = gendocs.render(text + "\noutro\n", "x", "new")
    assert rendered.startswith("intro\n") and rendered.endswith("\noutro\n")
    assert "new" in rendered and "old" not in rendered
