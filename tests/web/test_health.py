"""/healthz: named checks; 503 when the in-process dispatcher has not passed recently."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import Engine

from dripsms.engine.supervisor import DispatcherHealth
from dripsms.runtime import Runtime
from dripsms.settings import Settings
from dripsms.store import heartbeats
from dripsms.store.database import connect, downgrade, upgrade
from dripsms.testing import serve_app
from dripsms.web.app import create_app
from tests.web.conftest import NOW, REPO


class Ticker:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.seconds = 50.0

    def __call__(self) -> float:
        return self.seconds


@dataclass
class Health:
    url: str
    health: DispatcherHealth | None
    ticker: Ticker

    def get(self, path: str = "/healthz") -> requests.Response:
        return requests.get(self.url + path, timeout=10)


def served(engine: Engine, *, dispatcher: bool) -> Iterator[Health]:
    settings = Settings(
        database_url=engine.url.render_as_string(hide_password=False),
        sequences_dir=REPO / "sequences", poll_interval=2.0, health_stale_passes=5,
        health_stale_min=4.0,
    )  # fmt: skip
    runtime = Runtime(settings, lambda: NOW)
    ticker = Ticker()
    if dispatcher:
        runtime.dispatcher_health = DispatcherHealth(lambda: NOW, ticker)
    with serve_app(create_app(runtime)) as url:
        yield Health(url, runtime.dispatcher_health, ticker)
    runtime.engine.dispose()


@pytest.fixture
def in_run(engine: Engine) -> Iterator[Health]:
    """Like ``dripsms run``: a dispatcher in the process."""
    yield from served(engine, dispatcher=True)


@pytest.fixture
def in_serve(engine: Engine) -> Iterator[Health]:
    """Like ``dripsms serve``: no dispatcher here."""
    yield from served(engine, dispatcher=False)


def test_serve_says_the_dispatcher_is_not_in_this_process_and_reports_the_workers(
    in_serve: Health, engine: Engine
) -> None:
    answer = in_serve.get()
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["dispatcher"] == {
        "ok": True, "workers": [],
        "detail": "not in this process, and no worker has reported (run `dripsms worker`)",
    }  # fmt: skip

    now = NOW
    heartbeats.record(engine, "gone:1", {}, now=now - timedelta(days=30))  # forgotten next
    heartbeats.record(engine, "host-a:12", {"last_error": None}, now=now - timedelta(hours=1))
    heartbeats.record(engine, "host-b:34", {"last_error": "OperationalError"}, now=now)
    dispatcher = in_serve.get().json()["checks"]["dispatcher"]
    assert dispatcher["ok"] is True  # restarting the server would not restart a worker
    assert dispatcher["detail"].startswith("not in this process; a worker passed ")
    assert [w["owner"] for w in dispatcher["workers"]] == ["host-b:34", "host-a:12"]
    assert dispatcher["workers"][0]["last_error"] == "OperationalError"
    assert 3590 < dispatcher["workers"][1]["seconds_since_pass"] < 3700


def test_a_dispatcher_with_no_good_pass_within_the_limit_makes_healthz_503(
    in_run: Health,
) -> None:
    health, ticker = in_run.health, in_run.ticker
    assert health is not None
    health.started()
    assert in_run.get().status_code == 200  # just started: not stale yet
    health.passed()
    ticker.seconds += 9.9  # 5 passes of 2 s = 10 s (above the 4 s floor)
    health.failed("OperationalError")
    answer = in_run.get()
    assert answer.status_code == 200
    assert answer.json()["checks"]["dispatcher"]["consecutive_failures"] == 1

    ticker.seconds += 0.2
    answer = in_run.get()
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] is True
    dispatcher = body["checks"]["dispatcher"]
    assert dispatcher["ok"] is False
    assert dispatcher["detail"] == "no pass succeeded in 10 s"
    assert dispatcher["last_error"] == "OperationalError"
    assert dispatcher["stale_after"] == 10.0
    assert dispatcher["running"] is True

    health.passed()
    answer = in_run.get()
    assert answer.status_code == 200
    assert answer.json()["checks"]["dispatcher"]["consecutive_failures"] == 0


def test_a_dispatcher_that_stopped_makes_healthz_503(in_run: Health) -> None:
    assert in_run.health is not None
    in_run.health.started()
    in_run.health.passed()
    in_run.health.stopped()
    answer = in_run.get()
    assert answer.status_code == 503
    assert answer.json()["checks"]["dispatcher"]["detail"] == "not running"


def test_the_stale_limit_has_a_floor() -> None:
    assert Settings(poll_interval=0.1, health_stale_passes=6).health_stale_after == 30.0
    assert Settings(poll_interval=10, health_stale_passes=6).health_stale_after == 60.0


def test_metrics_count_failed_passes_by_error_type(in_run: Health) -> None:
    assert in_run.health is not None
    in_run.health.started()
    for _ in range(3):
        in_run.health.failed("OperationalError")
    in_run.health.failed("IntegrityError")
    text = in_run.get("/metrics").text
    assert 'dripsms_dispatcher_pass_errors_total{error="OperationalError"} 3.0' in text
    assert 'dripsms_dispatcher_pass_errors_total{error="IntegrityError"} 1.0' in text
    assert "dripsms_dispatcher_consecutive_failures 4.0" in text
    assert "dripsms_dispatcher_running 1.0" in text


def test_an_unmigrated_database_is_a_failing_check(tmp_path: Path) -> None:
    engine = connect(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine)
    downgrade(engine, "0001")
    for health in served(engine, dispatcher=False):
        answer = health.get()
        assert answer.status_code == 503
        database = answer.json()["checks"]["database"]
        assert database["ok"] is False
        assert "run db upgrade" in database["detail"]
    engine.dispose()
