"""The README's walkthrough runs exactly as written, so that it cannot drift again.

Every ```console block preceded by ``<!-- walkthrough -->`` in README.md is a walkthrough.
Its ``$ `` commands (with their ``\\`` continuation lines) run in order, in one ``bash``
session of its own, in a temporary directory laid out like a fresh clone (``.venv`` and
``sequences/``), with a PATH that does *not* hold dripsms: the README's own words must put
it there. Each command must exit 0. A command ending in ``&`` runs in the background (its
output to a log; the next command starts once it has printed its first line, i.e. it is
listening); whatever is still running at the end is killed.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.e2e.conftest import REPO

MARKER = "<!-- walkthrough -->"
_BACKGROUND = re.compile(r"^(?P<command>.*?[^&])&\s*(?:#[^'\"]*)?$", re.DOTALL)


@dataclass(frozen=True)
class Command:
    text: str
    """The command as written (continuation lines kept, the ``$ `` prompt removed)."""
    line: int
    """Its line in the README."""

    @property
    def background(self) -> str | None:
        """The command without its trailing ``&`` (and comment), when it runs in the background."""
        found = _BACKGROUND.match(self.text.strip())
        return found.group("command").strip() if found else None


def walkthroughs(markdown: str) -> list[list[Command]]:
    """The commands of each marked block, in order."""
    lines = markdown.splitlines()
    blocks: list[list[Command]] = []
    for i, line in enumerate(lines):
        if line.strip() != MARKER:
            continue
        start = i + 1
        while start < len(lines) and not lines[start].strip():
            start += 1
        if start >= len(lines) or not lines[start].startswith("```"):
            raise ValueError(f"README.md:{i + 1}: {MARKER} is not followed by a code block")
        commands: list[Command] = []
        current: list[str] = []
        first = 0
        for n in range(start + 1, len(lines)):
            text = lines[n]
            if text.startswith("```"):
                break
            if current:
                current.append(text)
            elif text.startswith("$ "):
                current, first = [text[2:]], n + 1
            else:
                continue  # output shown in the block: not a command
            if not _continues(current[-1]):
                commands.append(Command("\n".join(current), first))
                current = []
        if current:
            raise ValueError(f"README.md:{first}: the command's last line ends with '\\'")
        blocks.append(commands)
    return blocks


def _continues(line: str) -> bool:
    return line.split(" #", 1)[0].rstrip().endswith("\\")


def script(commands: list[Command], ready_seconds: int = 60) -> str:
    """A bash script running ``commands`` in order, stopping at the first that fails."""
    out = [
        "set -m",  # each background job in its own process group: killed with its children
        "__jobs=()",
        'trap \'for p in "${__jobs[@]}"; do kill -TERM -- "-$p" 2>/dev/null; done; wait\' EXIT',
    ]
    for n, command in enumerate(commands, 1):
        out.append(f"echo '>>> README.md:{command.line}' >&2")
        background = command.background
        if background is None:
            out.append(command.text)
            out.append(
                f'__rc=$?; if [ "$__rc" -ne 0 ]; then echo "walkthrough: README.md:{command.line}'
                f' exited $__rc" >&2; exit 97; fi'
            )
            continue
        log = f".walkthrough-{n}.log"
        out.append(f"{background} > {log} 2>&1 &")
        out.append('__pid=$!; __jobs+=("$__pid")')
        out.append(
            f"for __i in $(seq {ready_seconds * 10}); do [ -s {log} ] && break; "
            f'kill -0 "$__pid" 2>/dev/null || break; sleep 0.1; done'
        )
        out.append(
            f'if ! kill -0 "$__pid" 2>/dev/null || [ ! -s {log} ]; then cat {log} >&2; '
            f'echo "walkthrough: README.md:{command.line} did not start" >&2; exit 98; fi'
        )
    return "\n".join(out) + "\n"


def _clean_path() -> str:
    """The PATH without any virtual environment (or this interpreter's directory)."""
    venv_bins = {str(Path(sys.executable).parent), str(Path(sys.prefix) / "bin")}
    keep = [
        p
        for p in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep)
        if p and p not in venv_bins and not Path(p, "activate").exists()
    ]
    return os.pathsep.join(keep) or "/usr/bin:/bin"


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _clone_like(directory: Path) -> None:
    """What a fresh clone offers the walkthrough: its ``.venv`` and its ``sequences/``."""
    (directory / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    shutil.copytree(REPO / "sequences", directory / "sequences", symlinks=False)


# -- the parser, on small examples -------------------------------------------------------------


def test_marked_blocks_give_their_commands_with_continuations() -> None:
    text = "\n".join([
        "```console", "$ not marked", "```",
        MARKER, "```console",
        "$ one --a \\", "      --b   # comment", "output line", "$ two &   # bg", "```",
    ])  # fmt: skip
    [block] = walkthroughs(text)
    assert [c.text for c in block] == ["one --a \\\n      --b   # comment", "two &   # bg"]
    assert [c.background for c in block] == [None, "two"]
    assert Command("a && b", 1).background is None


def test_a_marker_without_a_block_is_an_error() -> None:
    with pytest.raises(ValueError, match="not followed by a code block"):
        walkthroughs(f"{MARKER}\ntext\n")


def test_a_failing_command_stops_the_walkthrough(tmp_path: Path) -> None:
    commands = [Command("true", 1), Command("false  # fails", 2), Command("touch ran", 3)]
    done = subprocess.run(
        ["bash", "-c", script(commands)], cwd=tmp_path, capture_output=True, text=True,
        timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 97 and "README.md:2 exited 1" in done.stderr
    assert not (tmp_path / "ran").exists()


def test_background_commands_are_waited_for_and_killed(tmp_path: Path) -> None:
    commands = [
        Command("bash -c 'echo up; exec sleep 300' &  # a server", 1),
        Command("true", 2),
    ]
    done = subprocess.run(
        ["bash", "-c", script(commands) + "echo $__pid > pid"], cwd=tmp_path,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    pid = int((tmp_path / "pid").read_text())
    assert not Path(f"/proc/{pid}").exists(), "the background command was killed"


# -- the README itself ---------------------------------------------------------------------------


def test_the_readme_has_a_walkthrough() -> None:
    blocks = walkthroughs((REPO / "README.md").read_text())
    assert blocks and all(blocks), "README.md marks at least one walkthrough block"


BLOCKS = walkthroughs((REPO / "README.md").read_text())


@pytest.mark.parametrize("block", range(len(BLOCKS)), ids=lambda n: f"block{n + 1}")
def test_the_readme_walkthrough_runs_as_written(tmp_path: Path, block: int) -> None:
    commands = BLOCKS[block]
    for port in (8787, 8000):  # the sandbox's and dripsms run's defaults, which it uses
        if not _port_free(port):
            pytest.fail(f"port {port} (a default the README uses) is taken")
    _clone_like(tmp_path)
    path = _clean_path()
    assert shutil.which("dripsms", path=path) is None, "the README must put dripsms on PATH"
    env = {
        "PATH": path,
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "COLUMNS": "120",
    }  # nothing of this test's environment: no DRIPSMS_*, TWILIO_*, VIRTUAL_ENV
    done = subprocess.run(
        ["bash", "-c", script(commands)], cwd=tmp_path, env=env, capture_output=True,
        text=True, timeout=300, check=False,
    )  # fmt: skip
    logs = "".join(p.read_text() for p in sorted(tmp_path.glob(".walkthrough-*.log")))
    assert done.returncode == 0, f"{done.stderr}\n--- stdout\n{done.stdout}\n--- logs\n{logs}"
    assert "Traceback" not in done.stdout + done.stderr + logs
    for database in tmp_path.rglob("*.db"):
        # a walkthrough meets no Twilio error and no failed message
        with sqlite3.connect(database) as db:
            failed = db.execute(
                "select step_id, state, error_message from messages"
                " where state = 'failed' or error_code is not null"
            ).fetchall()
        assert failed == [], f"{failed}\n{done.stdout}"
