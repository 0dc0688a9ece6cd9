"""deploy/: the systemd units, the container image and compose file name real commands and
real settings, and the units are hardened and start after the migration.

Nothing here starts a service or builds an image: the units go through
``systemd-analyze verify`` where it is installed (and through the structural checks below
everywhere), and every command a file runs must be a ``dripsms`` command whose ``--help``
exits 0.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices
from typer.testing import CliRunner

from dripsms.cli.app import app
from dripsms.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
UNITS = DEPLOY / "systemd"
BINARY = "/opt/dripsms/bin/dripsms"
INSTANCE = "8001"  # what %i stands for when a template's command is checked
UVICORN = {"FORWARDED_ALLOW_IPS"}  # uvicorn's own variable, read by `dripsms serve`
LONG_RUNNING = ("dripsms-worker@.service", "dripsms-serve@.service")
MIGRATE = "dripsms-migrate.service"
EXPECTED = {
    MIGRATE: ["db", "upgrade"],
    "dripsms-worker@.service": ["worker"],
    "dripsms-serve@.service": ["serve", "--host", "127.0.0.1", "--port", "%i"],
}


def setting_variables() -> set[str]:
    """Every environment variable dripsms's settings read."""
    names = set()
    for name, field in Settings.model_fields.items():
        names.add(f"DRIPSMS_{name.upper()}")
        if isinstance(field.validation_alias, AliasChoices):
            names |= {str(choice) for choice in field.validation_alias.choices}
    return {name for name in names if name.isupper()}


def unit(name: str) -> dict[str, list[tuple[str, str]]]:
    """A unit file's sections, each a list of (key, value) in order (keys may repeat)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for line in (UNITS / name).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        assert current is not None, f"{name}: {line!r} before any section"
        key, sep, value = line.partition("=")
        assert sep, f"{name}: {line!r} is not key=value"
        current.append((key.strip(), value.strip()))
    return sections


def values(section: list[tuple[str, str]], key: str) -> list[str]:
    return [v for k, v in section if k == key]


def help_exits_0(args: list[str]) -> None:
    """``dripsms ARGS --help`` exits 0: the command exists and takes these options."""
    done = CliRunner().invoke(app, [*args, "--help"])
    assert done.exit_code == 0, f"dripsms {' '.join(args)} --help: {done.output}"


def unit_names() -> list[str]:
    return sorted(path.name for path in UNITS.glob("*.service"))


def test_the_three_units_are_there() -> None:
    assert unit_names() == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_exec_start_runs_a_real_dripsms_command(name: str) -> None:
    service = unit(name)["Service"]
    (exec_start,) = values(service, "ExecStart")
    binary, *args = exec_start.split()
    assert binary == BINARY
    assert args == EXPECTED[name]
    help_exits_0([INSTANCE if arg == "%i" else arg for arg in args])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_units_are_hardened(name: str) -> None:
    service = dict(unit(name)["Service"])
    assert service["User"] == "dripsms"
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["ProtectHome"] == "yes"
    assert service["PrivateTmp"] == "yes"
    assert service["CapabilityBoundingSet"] == ""
    assert service["EnvironmentFile"] == "/etc/dripsms/env"  # no "-": missing is an error
    if name in LONG_RUNNING:
        assert service["Restart"] == "on-failure"
    else:
        assert service["Type"] == "oneshot"
        assert service["RemainAfterExit"] == "yes"


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_workers_and_web_processes_start_after_the_migration(name: str) -> None:
    section = unit(name)["Unit"]
    assert MIGRATE in values(section, "Requires")
    assert any(MIGRATE in v.split() for v in values(section, "After"))


def test_every_variable_deploy_sets_is_a_setting() -> None:
    known = setting_variables()
    found: dict[str, set[str]] = {}
    for name in EXPECTED:
        for assignment in values(unit(name)["Service"], "Environment"):
            found.setdefault(name, set()).add(assignment.split("=", 1)[0])
    example = (DEPLOY / "dripsms.env.example").read_text()
    found["dripsms.env.example"] = set(re.findall(r"^([A-Z_]+)=", example, re.MULTILINE))
    containerfile = (DEPLOY / "Containerfile").read_text()
    found["Containerfile"] = set(re.findall(r"\b(DRIPSMS_[A-Z_]+|TWILIO_[A-Z_]+)=", containerfile))
    for service, spec in compose()["services"].items():
        if service != "postgres":
            found[f"compose {service}"] = set(spec.get("environment", {}))
    assert found["dripsms.env.example"] >= {"TWILIO_AUTH_TOKEN", "DRIPSMS_PUBLIC_URL"}
    unknown = {where: names - known - UVICORN for where, names in found.items()}
    assert unknown == {where: set() for where in found}


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    """With the executable pointed at this checkout's ``dripsms``: no warning, no error."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:  # not on this machine: the structural checks above are the test
        for name in EXPECTED:
            assert unit(name)["Service"] and "Install" in unit(name)
        return
    dripsms = Path(sys.executable).with_name("dripsms")
    assert dripsms.exists()
    for name in EXPECTED:
        text = (UNITS / name).read_text().replace(BINARY, str(dripsms))
        (tmp_path / name).write_text(text)
    instances = [n.replace("@.", f"@{INSTANCE}.") for n in sorted(EXPECTED)]
    done = subprocess.run(
        [analyze, "verify", *instances], cwd=tmp_path, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def containerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) of deploy/Containerfile, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (DEPLOY / "Containerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_the_image_runs_dripsms_as_a_user_and_checks_healthz() -> None:
    steps = containerfile()
    first = steps[0]
    assert first == ("FROM", "python:3.11-slim")
    instructions = dict(steps)  # the last of each kind
    assert instructions["USER"] not in {"root", "0"}
    assert json.loads(instructions["ENTRYPOINT"]) == ["dripsms"]
    command = json.loads(instructions["CMD"])
    help_exits_0(command)
    port = command[command.index("--port") + 1]
    assert f"127.0.0.1:{port}/healthz" in instructions["HEALTHCHECK"]
    assert f"EXPOSE {port}" in {f"{k} {v}" for k, v in steps}
    assert any(k == "RUN" and "pip install '.[postgres]'" in v for k, v in steps)
    sources = [word for k, v in steps if k == "COPY" for word in v.split()[:-1] if word[:2] != "--"]
    assert sources == ["pyproject.toml", "README.md", "LICENSE", "src", "sequences"]
    assert all((REPO / source).exists() for source in sources)


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_compose_runs_postgres_the_migration_two_workers_and_a_web_process() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "migrate", "worker", "serve"}
    build = services["migrate"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == (DEPLOY / "Containerfile")
    for name in ("migrate", "worker", "serve"):
        spec = services[name]
        assert spec["image"] == services["migrate"]["image"], name
        help_exits_0(spec["command"])
        assert spec["env_file"] == "dripsms.env"
        url = spec["environment"]["DRIPSMS_DATABASE_URL"]
        assert url.startswith("postgresql://") and "@postgres:5432/" in url
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["worker"]["deploy"]["replicas"] == 2
    for name in ("worker", "serve"):
        assert services[name]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"}
        }
        assert services[name]["restart"] == "on-failure"
    assert services["serve"]["ports"] == ["127.0.0.1:8000:8000"]  # the proxy's only
    assert "healthcheck" not in services["serve"]  # the image's /healthz check


def test_the_proxies_forward_to_the_web_processes_and_say_the_scheme() -> None:
    nginx = (DEPLOY / "nginx.conf").read_text()
    caddy = (DEPLOY / "Caddyfile").read_text()
    for port in ("8001", "8002"):
        assert f"server 127.0.0.1:{port};" in nginx
        assert f"127.0.0.1:{port}" in caddy
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in nginx
    readme = (DEPLOY / "README.md").read_text()
    assert "dripsms-serve@{8001..8002}" in readme
    assert "DRIPSMS_PUBLIC_URL" in readme


@pytest.mark.parametrize("page", ["docs/scaling.md", "deploy/README.md"])
def test_the_scaling_pages_name_real_settings_and_commands(page: str) -> None:
    text = (REPO / page).read_text()
    variables = set(re.findall(r"\bDRIPSMS_[A-Z_]+\b", text))
    assert variables and variables - setting_variables() == set()
    commands = {
        tuple(m.group(1).split()[:2]) for m in re.finditer(r"`dripsms ((?:[a-z]+ ?)+)", text)
    }
    assert commands
    for words in sorted(commands):
        help_exits_0(list(words))
