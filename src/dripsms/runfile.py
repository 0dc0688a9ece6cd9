"""The run file: how the CLI finds a running ``dripsms run`` in sandbox mode.

``dripsms run`` writes it at start (mode 0600: the URL and a fresh per-run control token)
and removes it at exit. It lives next to a SQLite database file (``dripsms.db`` →
``dripsms.db.run.json``), else in ``.dripsms/run.json`` under the working directory.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from dripsms.errors import DripError, Unavailable

FOLDER = ".dripsms"


@dataclass(frozen=True, slots=True)
class RunFile:
    """Where a running server answers and the token its sandbox controls take."""

    url: str
    token: str
    pid: int


def new_control_token() -> str:
    """A fresh token for one run (URL-safe, 256 bits)."""
    return secrets.token_urlsafe(32)


def path_for(database_url: str, cwd: Path | None = None) -> Path:
    """The run file of the server using ``database_url``."""
    base = cwd or Path.cwd()
    try:
        url = make_url(database_url)
    except ArgumentError:
        url = None
    if url is not None and url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            return (base / database).resolve().with_name(Path(database).name + ".run.json")
    return base / FOLDER / "run.json"


def write(path: Path, run: RunFile) -> None:
    """Write the run file, readable by its owner only (it holds a token)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"url": run.url, "token": run.token, "pid": run.pid})
    temporary = path.with_name(path.name + f".{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    os.replace(temporary, path)


def remove(path: Path, run: RunFile) -> None:
    """Remove the run file if it is still this run's (a later run may have replaced it)."""
    try:
        if read(path).token == run.token:
            path.unlink()
    except (DripError, OSError):
        pass


def read(path: Path) -> RunFile:
    """The run file at ``path``; :class:`Unavailable` when there is none."""
    try:
        data = json.loads(path.read_text())
        return RunFile(url=str(data["url"]), token=str(data["token"]), pid=int(data["pid"]))
    except FileNotFoundError:
        raise Unavailable(
            f"no running `dripsms run` found (no {path}): start `dripsms run` without Twilio "
            "credentials in this folder, or pass --url and --token"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DripError(f"{path}: not a dripsms run file ({type(exc).__name__})") from None
