"""The files ``dripsms init`` writes: a working sequence, a commented config, an env example."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from dripsms.errors import DripError

FILES = ("sequences/postop.yaml", "dripsms.toml", ".env.example")


def _template(name: str) -> str:
    source = name if name != ".env.example" else "env.example"
    return resources.files(__package__).joinpath(source).read_text(encoding="utf-8")


def init_project(directory: Path, *, force: bool = False) -> list[Path]:
    """Write the starter files into ``directory``; refuse to overwrite unless ``force``."""
    targets = [directory / name for name in FILES]
    existing = [t for t in targets if t.exists()]
    if existing and not force:
        names = ", ".join(str(t) for t in existing)
        raise DripError(f"{names} already exist; use --force to overwrite")
    for name, target in zip(FILES, targets, strict=True):
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_template(name), encoding="utf-8")
    return targets
