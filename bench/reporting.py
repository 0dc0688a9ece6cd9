"""What every benchmark shares: the machine's description, Markdown tables, and the
sections of ``bench/results.md`` (each script rewrites only its own ``## `` section)."""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results.md"
RESULTS_HEADER = """# dripsms benchmark results

Figures written by the scripts in `bench/` (see `bench/README.md`). Each `##` section
belongs to one script, which rewrites only its own section and states there the machine,
the date and the command that produced it. Absolute numbers drift from run to run and
machine to machine; the ratios to the peers measured in the same run are what to compare.
"""


def cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def cpu_model() -> str:
    """The processor's name, as the kernel reports it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def fmt(value: float, digits: int = 2) -> str:
    """A number with thousands separators."""
    return f"{value:,.{digits}f}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def replace_section(text: str, heading: str, section: list[str]) -> str:
    """``text`` with its ``heading`` section replaced (or appended); the others untouched."""
    lines = text.splitlines()
    try:
        start = lines.index(heading)
    except ValueError:
        while lines and not lines[-1].strip():
            lines.pop()
        return "\n".join([*lines, "", *section]).rstrip("\n") + "\n"
    end = start + 1
    while end < len(lines) and not lines[end].startswith("## "):
        end += 1
    return "\n".join([*lines[:start], *section, *lines[end:]]).rstrip("\n") + "\n"


def write_section(heading: str, section: list[str]) -> None:
    """Put ``section`` (starting with ``heading``) into bench/results.md."""
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else RESULTS_HEADER
    RESULTS.write_text(replace_section(text, heading, section), encoding="utf-8")
