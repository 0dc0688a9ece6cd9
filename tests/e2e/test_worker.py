"""``dripsms worker`` stops on SIGTERM without losing a call in flight."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select
from tests.e2e.conftest import ONE_STEP_SEQUENCE

from dripsms.core.planning import EnrollmentRequest
from dripsms.engine.enrollment import Enroller, lines
from dripsms.engine.library import SequenceLibrary
from dripsms.sandbox import CallKind, FaultConfig, FaultRule, Sandbox, SandboxServer
from dripsms.store.database import connect, upgrade
from dripsms.store.tables import messages

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_sigterm_finishes_calls_in_flight_and_claims_no_more(tmp_path: Path) -> None:
    (tmp_path / "now.yaml").write_text(ONE_STEP_SEQUENCE)
    url = f"sqlite:///{tmp_path / 'dripsms.db'}"
    engine = connect(url)
    upgrade(engine)
    requests = [
        EnrollmentRequest("now", f"+1415{3_000_000 + i:07d}", attributes={"name": f"n{i}"})
        for i in range(60)
    ]
    assert (
        not Enroller(engine, SequenceLibrary(tmp_path))
        .enroll_batch(lines(requests), now=T0)
        .refused
    )
    slow = FaultRule(latency_ms=300)  # calls are in flight when the signal comes
    sandbox = Sandbox(now=T0, faults=FaultConfig(rules={CallKind.CREATE: slow}))
    with SandboxServer(sandbox) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DRIPSMS_", "TWILIO_"))}
        env.update(
            DRIPSMS_DATABASE_URL=url, DRIPSMS_SEQUENCES_DIR=str(tmp_path),
            DRIPSMS_TWILIO_API_BASE=server.base_url, DRIPSMS_NOW=T0.isoformat(),
            DRIPSMS_BATCH_SIZE="4", DRIPSMS_CONCURRENCY="2", DRIPSMS_RATE_LIMIT="1000",
            DRIPSMS_PUBLIC_URL="http://127.0.0.1:9",
        )  # fmt: skip
        with subprocess.Popen(
            [sys.executable, "-m", "dripsms", "worker"], cwd=tmp_path, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        ) as worker:  # fmt: skip
            deadline = time.monotonic() + 30
            while sandbox.creates < 2:  # wait until it is busy handing off
                assert time.monotonic() < deadline, "the worker never handed off"
                assert worker.poll() is None, worker.stderr.read().decode() if worker.stderr else ""
                time.sleep(0.02)
            worker.send_signal(signal.SIGTERM)
            _, stderr = worker.communicate(timeout=30)
        assert worker.returncode == 0, stderr.decode()[-2000:]
        assert "SIGTERM: finishing calls in flight" in stderr.decode()
    with engine.connect() as connection:
        states = dict(
            connection.execute(
                select(messages.c.state, func.count()).group_by(messages.c.state)
            ).all()
        )
    engine.dispose()
    assert states.get("handing_off", 0) == 0  # every call made was finished and recorded
    assert states.get("queued", 0) == sandbox.creates  # and each one the sandbox has
    assert sandbox.creates < 60  # it stopped claiming: the rest wait for the next worker
    assert states.get("planned", 0) == 60 - sandbox.creates
