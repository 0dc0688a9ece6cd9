"""Bounded before read: a body over its route's limit, declared or streamed, is refused with
413 before anything parses it or checks its signature; JSON nested too deep is a 400.

The big bodies go to a real uvicorn server over a raw socket, so the test sees when the
server answers relative to what the client has sent."""

from __future__ import annotations

import json
import os
import resource
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import Engine

from dripsms.store.database import connect, upgrade
from dripsms.testing import free_port
from dripsms.web.limits import BodyRefused, JsonDepth

from .conftest import REPO, TOKEN, Served, served

MB = 1024 * 1024
CHUNK = 64 * 1024


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """These limits act before the database: one backend is enough."""
    engine = connect(f"sqlite:///{tmp_path / 'limits.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def app(sqlite_engine: Engine) -> Iterator[Served]:
    yield from served(sqlite_engine)


def _head(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: dripsms.test"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _chunked(total: int) -> Iterator[bytes]:
    """``total`` bytes of one JSON object, as HTTP/1.1 chunks (no Content-Length), made as
    they are sent so that the client never holds the whole body either."""
    start, end = b'{"sequence": "', b'"}'
    filler = total - len(start) - len(end)
    pieces = [start] + [b"x" * CHUNK] * (filler // CHUNK) + [b"x" * (filler % CHUNK), end]
    for piece in pieces:
        yield f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    yield b"0\r\n\r\n"


def _exchange(
    url: str, head: bytes, chunks: Iterator[bytes] | None = None
) -> tuple[int, dict[str, object], int]:
    """Send ``head`` then ``chunks`` until the server answers; (status, JSON body, bytes sent).

    The client stops sending as soon as an answer is readable, as a client that watches
    its socket would: how much it had sent by then shows what the server waited for."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    sent = 0
    with socket.create_connection((parts.hostname, parts.port), timeout=20) as sock:
        sock.sendall(head)
        for chunk in chunks or ():
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break  # the server closed: its answer is already on the way or here
            sent += len(chunk)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer) < _expected_length(answer):
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    head_text, _, body = answer.partition(b"\r\n\r\n")
    status = int(head_text.split(b" ", 2)[1])
    return status, json.loads(body[: _expected_length(answer) - len(head_text) - 4]), sent


def _expected_length(answer: bytes) -> int:
    head, sep, _ = answer.partition(b"\r\n\r\n")
    if not sep:
        return 1 << 62
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(head) + 4 + int(value)
    return 1 << 62


API = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize(
    ("path", "headers", "limit"),
    [
        ("/v1/enrollments", API, 65536),
        ("/twilio/inbound", FORM, 65536),
        ("/twilio/status", FORM, 65536),
    ],
    ids=["api", "inbound webhook", "status webhook"],
)
def test_a_declared_length_over_the_limit_is_413_before_a_byte_is_read(
    app: Served, path: str, headers: dict[str, str], limit: int
) -> None:
    # No body follows the headers: the answer can only come from Content-Length alone. The
    # webhooks are unsigned, so a 413 (not a 403) shows the limit acts before the signature.
    status, body, _ = _exchange(app.url, _head(path, {**headers, "Content-Length": str(400 * MB)}))
    assert status == 413
    assert body == {"error": {"field": None, "message": f"the body is larger than {limit} bytes"}}


def test_a_chunked_body_is_refused_while_it_streams_and_memory_stays_bounded(app: Served) -> None:
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    total = 50 * MB
    head = _head("/v1/enrollments", {**API, "Transfer-Encoding": "chunked"})
    status, body, sent = _exchange(app.url, head, _chunked(total))
    assert status == 413
    assert "larger than 65536 bytes" in str(body)
    # The server answered long before the client finished: what it had sent by then is
    # the 64 KiB the server read plus what the kernel's socket buffers took in.
    assert sent < total // 4
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    assert grown_kib < 20 * 1024  # the server (in this process) never held the body


@pytest.mark.parametrize(
    ("path", "headers", "total", "status"),
    [
        ("/v1/enrollments", API, 65536, 422),  # read whole and parsed: too long a sequence key
        ("/v1/enrollments", API, 65537, 413),
        ("/twilio/inbound", FORM, 65536, 403),  # read whole: then the signature is refused
        ("/twilio/inbound", FORM, 65537, 413),
    ],
)
def test_a_chunked_body_is_refused_one_byte_past_the_limit(
    app: Served, path: str, headers: dict[str, str], total: int, status: int
) -> None:
    head = _head(path, {**headers, "Transfer-Encoding": "chunked"})
    answer_status, body, _ = _exchange(app.url, head, _chunked(total))
    assert answer_status == status, body


def test_a_body_at_the_limit_is_read(app: Served) -> None:
    payload = b'{"sequence": "' + b"x" * (65536 - 16) + b'"}'
    assert len(payload) == 65536
    answer = app.api(
        "POST", "/v1/enrollments", data=payload, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 422  # read and parsed: the sequence is too long a key
    assert answer.json()["error"]["field"] == "sequence"


def test_the_api_limit_is_a_setting(sqlite_engine: Engine) -> None:
    for small in served(sqlite_engine, max_body_bytes=2048):
        answer = small.api("POST", "/v1/enrollments", json={"sequence": "x" * 3000})
        assert answer.status_code == 413
        assert answer.json()["error"]["message"] == "the body is larger than 2048 bytes"


def nested(depth: int) -> bytes:
    return (
        b'{"sequence": "postop", "phone": "+14155550100", "x": '
        + b"[" * depth
        + b"]" * depth
        + b"}"
    )


@pytest.mark.parametrize(
    ("method", "path", "extra"),
    [
        ("POST", "/v1/enrollments", {}),
        ("PATCH", "/v1/contacts/+14155550100", {}),
        ("POST", "/twilio/inbound", {"Authorization": ""}),
    ],
    ids=["enroll", "patch contact", "unsigned webhook"],
)
def test_json_nested_too_deep_is_a_400_naming_the_problem(
    app: Served, method: str, path: str, extra: dict[str, str]
) -> None:
    answer = app.api(
        method, path, data=nested(10_000), headers={"Content-Type": "application/json", **extra}
    )
    assert answer.status_code == 400, answer.text
    assert answer.json() == {
        "error": {"field": None, "message": "the JSON body nests deeper than 32 levels"}
    }


def test_json_nested_to_the_limit_is_parsed(app: Served) -> None:
    answer = app.api(
        "POST", "/v1/enrollments", data=nested(31), headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 422  # parsed: the extra field "x" is no attribute of postop
    assert answer.json()["error"]["field"] in ("x", "attributes.x")


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        (b'{"a": [1, {"b": 2}]}', 0),
        (b'{"a": "[[[[{{{{"}', 0),
        (b'{"a": "quote \\" then [[[["}', 0),
        (b'{"a": "backslash \\\\", "b": [[', 3),
        (b'["\\u005b", [', 2),
    ],
)
def test_the_depth_tracker_skips_strings_and_escapes_in_any_chunking(
    text: bytes, depth: int
) -> None:
    for split in (None, 1, 2, 3):
        tracker = JsonDepth(limit=1000)
        pieces = (
            [text] if split is None else [text[i : i + split] for i in range(0, len(text), split)]
        )
        for piece in pieces:
            tracker.feed(piece)
        assert tracker.depth == depth, (text, split)


def test_the_depth_tracker_refuses_one_level_past_its_limit() -> None:
    tracker = JsonDepth(limit=3)
    tracker.feed(b"[[[")
    with pytest.raises(BodyRefused, match="deeper than 3 levels"):
        tracker.feed(b"[")


def _memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (the peak) of a process, in KiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {name: int(fields[name].split()[0]) for name in ("VmRSS", "VmHWM")}


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_dripsms_serve_stays_small_under_repeated_50_mb_bodies(tmp_path: Path) -> None:
    """``dripsms serve`` as deployed, in its own process: its peak memory barely moves
    while clients send it 50 MB bodies, declared and chunked, again and again."""
    engine = connect(f"sqlite:///{tmp_path / 'serve.db'}")
    upgrade(engine)
    engine.dispose()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DRIPSMS_", "TWILIO_"))}
    env.update(
        DRIPSMS_DATABASE_URL=f"sqlite:///{tmp_path / 'serve.db'}",
        DRIPSMS_SEQUENCES_DIR=str(REPO / "sequences"),
        DRIPSMS_API_TOKENS=TOKEN,
    )
    with subprocess.Popen(
        [sys.executable, "-m", "dripsms", "serve", "--port", str(port)], cwd=tmp_path, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    ) as server:  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
                assert time.monotonic() < deadline, "dripsms serve did not start"
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            _exchange(url, _head("/v1/enrollments", API), None)  # warm: first request's imports
            # The peak from here on (not startup's): Linux resets VmHWM on "5" to clear_refs.
            Path(f"/proc/{server.pid}/clear_refs").write_text("5")
            before = _memory_kib(server.pid)
            for _ in range(3):
                chunked = _head("/v1/enrollments", {**API, "Transfer-Encoding": "chunked"})
                status, _, sent = _exchange(url, chunked, _chunked(50 * MB))
                assert (status, sent < 12 * MB) == (413, True)
                declared = _head("/twilio/inbound", {**FORM, "Content-Length": str(50 * MB)})
                assert _exchange(url, declared, _chunked(50 * MB))[0] == 413
            after = _memory_kib(server.pid)
            assert after["VmHWM"] - before["VmRSS"] < 16 * 1024, (before, after)
        finally:
            server.terminate()
            server.wait(timeout=30)
