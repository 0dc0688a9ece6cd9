"""The sandbox in a child process, for benchmarks: it plays Twilio on CPU the measured
process does not count, and is driven through its admin routes."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def start(server: str) -> tuple[subprocess.Popen[str], str]:
    """Run ``server`` (Python that prints the sandbox's base URL, then reads stdin to its
    end) in a child process; the process and the URL."""
    process = subprocess.Popen(
        [sys.executable, "-c", server], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True, cwd=ROOT,
    )  # fmt: skip
    assert process.stdout is not None
    base_url = process.stdout.readline().strip()
    if not base_url.startswith("http"):
        raise RuntimeError("the sandbox process did not start")
    return process, base_url


def admin(base_url: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """GET ``path`` (or POST ``body`` as JSON) on the sandbox; its JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        base_url + path, data=data, method="GET" if body is None else "POST",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def stop(process: subprocess.Popen[str]) -> None:
    """Close the child's stdin (it then stops) and wait for it, killing it after 10 s."""
    assert process.stdin is not None
    process.stdin.close()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
