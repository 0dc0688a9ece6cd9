"""A whole scenario (enroll, hand off, reply, alert, STOP) logged at INFO: no phone number
in any form and no message body reaches the log, in either format."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from dripsms.core.planning import EnrollmentRequest
from dripsms.engine.supervisor import DispatcherHealth, Supervisor
from dripsms.logs import JsonFormatter, TextFormatter, event_fields
from dripsms.sandbox import SANDBOX_MESSAGING_SERVICE_SID, Sandbox, SandboxServer
from dripsms.store import heartbeats
from dripsms.store.database import connect, upgrade
from dripsms.store.tables import messages
from dripsms.testing import SandboxWorld, free_port, sandbox_world, serve_app
from dripsms.web.app import create_app

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ADA = "+14155550100"
PHONE_FORMS = (ADA, "14155550100", "4155550100", "555-0100", "5550100", "555 0100")


class Kept(logging.Handler):
    """Keeps the records as they were logged, before any formatter masks them."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def logged() -> Iterator[tuple[Kept, io.StringIO, io.StringIO]]:
    kept, text, as_json = Kept(), io.StringIO(), io.StringIO()
    text_handler, json_handler = logging.StreamHandler(text), logging.StreamHandler(as_json)
    text_handler.setFormatter(TextFormatter())
    json_handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.INFO)
    for handler in (kept, text_handler, json_handler):
        root.addHandler(handler)
    yield kept, text, as_json
    for handler in (kept, text_handler, json_handler):
        root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def live(engine: Engine, tmp_path: Path) -> Iterator[SandboxWorld]:
    folder = tmp_path / "sequences"
    folder.mkdir()
    text = (REPO / "sequences" / "postop.yaml").read_text()
    # The care team's webhook is down: its failures are logged too.
    (folder / "postop.yaml").write_text(
        text.replace("https://clinic.example.org/hooks/dripsms", "http://127.0.0.1:9/hooks")
    )
    port = free_port()
    url = engine.url.render_as_string(hide_password=False)
    with (
        sandbox_world(
            url, folder, T0, public_url=f"http://127.0.0.1:{port}", rate_limit=10_000
        ) as world,
        serve_app(create_app(world.runtime), port=port) as served,
    ):
        world.sandbox.set_inbound_url(SANDBOX_MESSAGING_SERVICE_SID, f"{served}/twilio/inbound")
        yield world


def bodies(world: SandboxWorld) -> list[str]:
    with world.engine.connect() as connection:
        stored = [b for b in connection.execute(select(messages.c.body)).scalars() if b]
    return stored + [m.body for m in world.sandbox.messages()]


def test_a_whole_scenario_logs_no_phone_number_and_no_body(
    live: SandboxWorld, logged: tuple[Kept, io.StringIO, io.StringIO]
) -> None:
    kept, text, as_json = logged
    request = EnrollmentRequest(
        "postop", ADA, "America/New_York", {"first_name": "Zenobia"}, "2026-03-07"
    )
    live.runtime.enroller.enroll(request, now=live.now)
    dispatcher = live.runtime.dispatcher()
    # Passes as the worker runs them: through the supervisor, which logs their summaries.
    loop = Supervisor(
        dispatcher.tick, lambda: live.now, DispatcherHealth(lambda: live.now), threading.Event(),
        poll_interval=1.0,
    )  # fmt: skip
    live.at(datetime(2026, 3, 7, 12, 0, tzinfo=UTC))
    loop.run_once()  # day 1 is scheduled at the sandbox
    live.at(datetime(2026, 3, 8, 14, 5, tzinfo=UTC))
    live.sandbox.receive(ADA, "my pain is 8/10 today")  # matched: alerts the care team
    loop.run_once()  # the alert goes out, the webhook fails and is retried
    live.sandbox.receive(ADA, "STOP")
    loop.run_once()  # what Twilio holds is canceled
    live.at(datetime(2026, 3, 20, 14, 5, tzinfo=UTC))
    loop.run_once()
    dispatcher.close()

    sent = bodies(live)
    assert len(sent) >= 3  # the scenario did send texts, whose bodies are checked below
    raw = "\n".join(f"{r.getMessage()} {event_fields(r)} {r.args}" for r in kept.records)
    assert any(getattr(r, "action", None) == "tick" for r in kept.records)
    assert any(getattr(r, "action", None) == "inbound" for r in kept.records)
    for log in (raw, text.getvalue(), as_json.getvalue()):
        for form in PHONE_FORMS:
            assert form not in log, form
        assert "+15555550123" not in log  # the care team's phone
        assert "Zenobia" not in log
        assert "8/10" not in log and "STOP" not in log.replace("action=", "")
        for body in sent:
            for fragment in re.split(r"[.,?!\n]", body):
                if len(fragment.strip()) >= 12:
                    assert fragment.strip() not in log, fragment


def test_the_cli_logs_one_json_object_per_line_and_tick_leaves_a_heartbeat(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'dripsms.db'}"
    engine = connect(url)
    upgrade(engine)
    sandbox = Sandbox()
    sandbox.set_now(datetime(2026, 3, 7, 12, tzinfo=UTC))
    with SandboxServer(sandbox) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DRIPSMS_", "TWILIO_"))}
        env.update(
            DRIPSMS_DATABASE_URL=url, DRIPSMS_SEQUENCES_DIR=str(REPO / "sequences"),
            DRIPSMS_TWILIO_API_BASE=server.base_url, DRIPSMS_PUBLIC_URL="http://127.0.0.1:9",
            DRIPSMS_NOW="2026-03-07T12:00:00Z",
        )  # fmt: skip

        def dripsms(*args: str, **more: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "dripsms", *args], capture_output=True, text=True,
                cwd=tmp_path, env={**env, **more}, timeout=60, check=False,
            )  # fmt: skip

        enrolled = dripsms(
            "enroll", "postop", "--phone", ADA, "--set", "first_name=Zenobia",
            "--anchor", "2026-03-07",
        )  # fmt: skip
        assert enrolled.returncode == 0, enrolled.stderr
        ticked = dripsms("--log-format", "json", "tick", "--json")
        assert ticked.returncode == 0, ticked.stderr
        warned = dripsms("tick", DRIPSMS_LOG_FORMAT="json", DRIPSMS_LOG_LEVEL="warning")
    events = [json.loads(line) for line in ticked.stderr.splitlines() if line[:1] == "{"]
    assert events, ticked.stderr
    assert {"time", "level", "logger", "message"} <= set(events[0])
    assert any(e.get("action") == "sandbox" for e in events)  # no credentials: says so
    warnings = [json.loads(line) for line in warned.stderr.splitlines() if line[:1] == "{"]
    assert warnings and all(e["level"] != "INFO" for e in warnings)
    with engine.connect() as connection:
        [beat] = heartbeats.recent(connection)
    engine.dispose()
    assert beat.owner.startswith("tick@")
    assert beat.at == datetime(2026, 3, 7, 12, tzinfo=UTC)
    for form in PHONE_FORMS:
        assert form not in ticked.stderr + warned.stderr + enrolled.stderr
