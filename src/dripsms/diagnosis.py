"""What ``dripsms doctor`` checks, as data: the credentials, the provider, webhook
signatures, the Messaging Service, the public URL, the database and the sequences.

:func:`diagnose` starts from the environment (settings may be invalid); :func:`runtime_checks`
looks at a running :class:`~dripsms.runtime.Runtime`, so ``/healthz`` can show the same.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from dripsms.settings import (
    Settings,
    credential_problems,
    read_credentials,
    settings_problems,
)

if TYPE_CHECKING:
    from dripsms.clock import Clock
    from dripsms.runtime import Runtime


@dataclass(frozen=True, slots=True)
class Check:
    """One finding: ``ok`` false is a problem (doctor exits 1); ``warning`` is worth a look."""

    name: str
    ok: bool
    detail: str
    warning: bool = False

    def as_json(self) -> dict[str, Any]:
        """The check as JSON."""
        return {"name": self.name, "ok": self.ok, "warning": self.warning, "detail": self.detail}


def healthy(checks: list[Check]) -> bool:
    """Whether no check failed (warnings allowed)."""
    return all(check.ok for check in checks)


def diagnose(clock: Clock, *, runtime_factory: Callable[..., Runtime] | None = None) -> list[Check]:
    """Every check, from the environment and ``dripsms.toml``, as ``dripsms doctor`` runs them."""
    try:
        settings = Settings()
    except Exception as exc:  # pydantic's ValidationError, a bad dripsms.toml
        checks = [Check("settings", False, "; ".join(settings_problems(exc)))]
        return [*checks, _credentials_from_environment()]
    if runtime_factory is None:
        from dripsms.runtime import Runtime

        runtime_factory = Runtime
    runtime = runtime_factory(settings, clock)
    try:
        return [Check("settings", True, "valid"), *runtime_checks(runtime)]
    finally:
        if "engine" in vars(runtime):  # built: close its connections
            runtime.engine.dispose()


def runtime_checks(runtime: Runtime, *, database: bool = True) -> list[Check]:
    """The checks of a built runtime (``database=False`` skips the database and sequences)."""
    checks = [
        credentials_check(runtime.settings),
        provider_check(runtime),
        webhook_check(runtime),
        messaging_service_check(runtime.settings),
        public_url_check(runtime.settings),
    ]
    if database:
        checks += [database_check(runtime), sequences_check(runtime.settings)]
    return checks


def _credentials_from_environment() -> Check:
    try:
        given = read_credentials()
    except Exception as exc:  # a dripsms.toml that does not parse
        return Check("credentials", False, f"cannot be read: {'; '.join(settings_problems(exc))}")
    problems = credential_problems(given)
    if problems:
        return Check("credentials", False, "; ".join(problems))
    return Check("credentials", True, _kind_detail(given.kind))


def _kind_detail(kind: str) -> str:
    if kind == "none":
        return "no TWILIO_* credentials: the built-in sandbox (no text reaches a phone)"
    return f"{kind}: Twilio"


def credentials_check(settings: Settings) -> Check:
    """The ``TWILIO_*`` set: none (the sandbox) or complete (Twilio)."""
    given = settings.credentials_given
    problems = credential_problems(given)
    if problems:  # Settings refuse these; kept for settings built otherwise
        return Check("credentials", False, "; ".join(problems))
    return Check("credentials", True, _kind_detail(given.kind), warning=given.kind == "none")


def provider_check(runtime: Runtime) -> Check:
    """Where Messages API calls go."""
    settings = runtime.settings
    if settings.uses_sandbox:
        return Check("provider", True, f"the dripsms sandbox at {runtime.sandbox_url}")
    base = settings.twilio_api_base
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return Check("provider", False, f"DRIPSMS_TWILIO_API_BASE {base!r} is not an http(s) URL")
    return Check("provider", True, f"Twilio at {base}", warning=parts.scheme != "https")


def webhook_check(runtime: Runtime) -> Check:
    """Whether ``/twilio/*`` can check ``X-Twilio-Signature`` (else they answer 503)."""
    problem = runtime.webhook_problem
    if problem is None:
        source = (
            "the sandbox's per-run token" if runtime.settings.uses_sandbox else "the auth token"
        )
        return Check("webhook signatures", True, f"checked with {source}")
    # Without credentials, only the process that starts the sandbox (`run`) knows its token.
    sandbox = runtime.settings.uses_sandbox
    return Check("webhook signatures", sandbox, f"/twilio/* answer 503: {problem}", warning=sandbox)


def messaging_service_check(settings: Settings) -> Check:
    """Scheduling needs a Messaging Service at Twilio."""
    sid = settings.messaging_service_sid
    if sid is None:
        if settings.uses_sandbox:
            return Check("messaging service", True, "the sandbox's")
        return Check(
            "messaging service", False,
            "DRIPSMS_MESSAGING_SERVICE_SID is not set: Twilio schedules only through one",
        )  # fmt: skip
    if not (sid.startswith("MG") and len(sid) == 34 and _hex(sid[2:])):
        return Check(
            "messaging service", False,
            f"DRIPSMS_MESSAGING_SERVICE_SID {sid!r} is not MG followed by 32 hex digits",
        )  # fmt: skip
    return Check("messaging service", True, sid)


def _hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)


def public_url_check(settings: Settings) -> Check:
    """The URL Twilio calls back: an http(s) URL; https and reachable for Twilio."""
    url = settings.public_url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return Check("public URL", False, f"DRIPSMS_PUBLIC_URL {url!r} is not an http(s) URL")
    if parts.query or parts.fragment:
        return Check("public URL", False, f"DRIPSMS_PUBLIC_URL {url!r} has a query or fragment")
    if settings.uses_sandbox:
        return Check("public URL", True, url)
    warnings = []
    if parts.scheme != "https":
        warnings.append("not https: webhooks and their signatures travel in clear")
    if _local(parts.hostname):
        warnings.append("a local address: Twilio cannot reach it")
    if warnings:
        return Check("public URL", True, f"{url}: {'; '.join(warnings)}", warning=True)
    return Check("public URL", True, url)


def _local(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_unspecified


def database_check(runtime: Runtime) -> Check:
    """The database answers and is migrated to the newest schema."""
    from dripsms.errors import DripError

    where = _safe_url(runtime.settings.database_url)
    missing = _missing_sqlite_file(runtime.settings.database_url)
    if missing is not None:  # connecting would create it
        return Check("database", False, f"{missing} does not exist; run `dripsms db upgrade`")
    try:
        runtime.ensure_ready()
    except DripError as exc:
        return Check("database", False, str(exc))
    except Exception as exc:  # cannot connect: a driver or network error
        return Check("database", False, f"{where} is unreachable: {type(exc).__name__}")
    return Check("database", True, f"{where}: reachable and migrated")


def _missing_sqlite_file(url: str) -> str | None:
    try:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
    except Exception:
        return None
    name = parsed.database
    if parsed.get_backend_name() != "sqlite" or not name or name == ":memory:":
        return None
    if name.startswith("file:") or Path(name).exists():
        return None
    return name


def _safe_url(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "the database URL"


def sequences_check(settings: Settings) -> Check:
    """Every sequence file loads."""
    from dripsms.catalog import load_all

    folder = settings.sequences_dir
    if not folder.is_dir():
        return Check("sequences", False, f"{folder} is not a folder")
    try:
        report = load_all([folder], max_segments=settings.max_segments)
    except Exception as exc:  # a folder that cannot be read
        return Check("sequences", False, f"{folder}: {type(exc).__name__}: {exc}")
    if report.errors:
        first = report.errors[0]
        more = f" (and {len(report.errors) - 1} more)" if len(report.errors) > 1 else ""
        return Check("sequences", False, f"{first}{more}; run `dripsms validate` for every problem")
    count = len(report.sequences)
    if not count:
        return Check("sequences", True, f"no sequence files in {folder}", warning=True)
    return Check(
        "sequences", True, f"{count} loaded from {folder}: {', '.join(sorted(report.sequences))}"
    )
