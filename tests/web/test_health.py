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


def _healthz(engine: Engine, sequences: Path, **settings: object) -> requests.Response:
    runtime = Runtime(
        Settings(
            database_url=engine.url.render_as_string(hide_password=False),
            sequences_dir=sequences, **settings,  # type: ignore[arg-type]
        ),
        lambda: NOW,
    )  # fmt: skip
    try:
        with serve_app(create_app(runtime)) as url:
            return requests.get(url + "/healthz", timeout=10)
    finally:
        runtime.engine.dispose()


def test_healthz_says_when_webhooks_are_refused_for_want_of_an_auth_token(
    engine: Engine,
) -> None:
    answer = _healthz(
        engine, REPO / "sequences", twilio_account_sid="AC" + "1" * 32,
        twilio_api_key="SK" + "2" * 32, twilio_api_secret="secret",
        messaging_service_sid="MG" + "3" * 32,
    )  # fmt: skip
    webhooks = answer.json()["checks"]["webhooks"]
    assert webhooks["warning"] is True
    assert "503" in webhooks["detail"]
    assert "TWILIO_AUTH_TOKEN" in webhooks["detail"]
    # A warning, not a failure: a restart would not set the token.
    assert answer.status_code == 200

    checked = _healthz(
        engine, REPO / "sequences", twilio_account_sid="AC" + "1" * 32,
        twilio_auth_token="a" * 32, messaging_service_sid="MG" + "3" * 32,
    )  # fmt: skip
    assert checked.json()["checks"]["webhooks"] == {
        "ok": True, "detail": "X-Twilio-Signature checked"
    }  # fmt: skip


def test_healthz_names_a_sequence_file_that_failed_to_load(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "postop.yaml").write_text((REPO / "sequences" / "postop.yaml").read_text())
    (tmp_path / "broken.yaml").write_text("key: broken\nsteps: [\n")
    answer = _healthz(engine, tmp_path)
    assert answer.status_code == 200  # the other sequences keep running
    sequences = answer.json()["checks"]["sequences"]
    assert sequences["warning"] is True
    assert sequences["loaded"] == ["postop"]
    assert [item["file"] for item in sequences["skipped"]] == [str(tmp_path / "broken.yaml")]
    assert "broken.yaml" in sequences["detail"]
    assert sequences["skipped"][0]["problems"]  # each problem, with its line


def test_the_home_page_is_a_page_with_the_checks_and_where_to_go(in_run: Health) -> None:
    assert in_run.health is not None
    in_run.health.started()
    in_run.health.passed()
    page = in_run.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for name in ("database", "dispatcher", "webhooks", "sequences"):
        assert f"<td>{name}</td>" in page.text
    for link in ('href="/console/"', 'href="/docs"', 'href="/healthz"', 'href="/metrics"'):
        assert link in page.text
    assert "the built-in sandbox" in page.text
    in_run.health.stopped()  # what /healthz says, the page says, to a person: a page (200)
    failing = in_run.get("/")
    assert failing.status_code == 200
    assert in_run.get("/healthz").status_code == 503
    assert '<td class="bad">failing</td><td>not running</td>' in failing.text
