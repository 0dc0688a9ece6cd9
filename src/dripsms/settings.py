"""Every setting, declared once: environment (``DRIPSMS_*``), then ``dripsms.toml``, then defaults.

The CLI, the validation and the docs read this one model; ``docs/settings.md`` lists it
and a test keeps the two in step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BeforeValidator,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from dripsms.core.durations import parse_duration
from dripsms.core.zones import time_zone

CONFIG_FILE = "dripsms.toml"


def _duration(value: Any) -> Any:
    return parse_duration(value) if isinstance(value, str | int) else value


Duration = Annotated[timedelta, BeforeValidator(_duration)]
"""A duration setting, written like a sequence file's (``15m``, ``7d``, ``PT15M``)."""


def _blank_is_unset(value: Any) -> Any:
    # `TWILIO_AUTH_TOKEN=` (an empty line of a .env file) means "not set", not "empty key".
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _twilio(name: str) -> AliasChoices:
    # Twilio's own variable names, as its SDK and CLI use them (no DRIPSMS_ prefix).
    return AliasChoices(name.upper(), name)


class _Sources(BaseSettings):
    """Where every dripsms settings model reads: explicit values, then the environment, then
    ``dripsms.toml`` (no ``.env``, no secrets folder)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Explicit values, then the environment, then ``dripsms.toml``."""
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


class Settings(_Sources):
    """dripsms's settings."""

    model_config = SettingsConfigDict(
        env_prefix="DRIPSMS_", toml_file=CONFIG_FILE, extra="forbid", frozen=True,
        populate_by_name=True, enable_decoding=False,
    )  # fmt: skip

    sequences_dir: Path = Field(
        Path("sequences"), description="Folder of sequence files (*.yaml, one sequence each)."
    )
    max_segments: int = Field(
        3, ge=1, description="Warn when a step's body is longer than this many SMS segments."
    )
    database_url: str = Field(
        "sqlite:///dripsms.db",
        description="SQLAlchemy URL of the database: sqlite:///FILE or postgresql://...",
    )
    default_region: str = Field(
        "US", description="Region for phone numbers written without a country code (ISO 3166)."
    )
    twilio_account_sid: str | None = Field(
        None, validation_alias=_twilio("twilio_account_sid"),
        description="Twilio account SID (TWILIO_ACCOUNT_SID). No TWILIO_* set: the sandbox.",
    )  # fmt: skip
    twilio_auth_token: SecretStr | None = Field(
        None, validation_alias=_twilio("twilio_auth_token"),
        description="Twilio auth token (TWILIO_AUTH_TOKEN); only it checks webhook signatures.",
    )  # fmt: skip
    twilio_api_key: str | None = Field(
        None, validation_alias=_twilio("twilio_api_key"),
        description="Twilio API key SID (TWILIO_API_KEY), for API calls instead of the token.",
    )  # fmt: skip
    twilio_api_secret: SecretStr | None = Field(
        None, validation_alias=_twilio("twilio_api_secret"),
        description="Twilio API key secret (TWILIO_API_SECRET), with TWILIO_API_KEY.",
    )  # fmt: skip
    twilio_api_base: str = Field(
        "https://api.twilio.com",
        description="Base URL of Twilio's REST API, or of a Twilio-compatible endpoint.",
    )
    messaging_service_sid: str | None = Field(
        None, description="The Messaging Service every message is sent through (MG...)."
    )
    public_url: str = Field(
        "http://127.0.0.1:8000",
        description="The URL Twilio reaches dripsms at (status callbacks, webhooks).",
    )
    min_lead: Duration = Field(
        timedelta(minutes=15),
        description="Twilio's minimum SendAt lead; sooner messages are sent at once.",
    )
    horizon: Duration = Field(
        timedelta(days=7), description="Twilio's maximum SendAt horizon; later ones wait here."
    )
    window_margin: Duration = Field(
        timedelta(minutes=2),
        description="Safety margin inside both window bounds for a request in flight.",
    )
    scheduled_budget: int = Field(
        450_000, ge=1, description="Most messages held scheduled at Twilio at once."
    )
    rate_limit: float = Field(
        50.0, gt=0, description="Most Twilio API requests per second (a token bucket)."
    )
    concurrency: int = Field(8, ge=1, le=256, description="Most Twilio API requests in flight.")
    request_timeout: float = Field(
        15.0, gt=0, description="Seconds to wait for one Twilio API answer."
    )
    max_attempts: int = Field(
        8, ge=1, description="Tries for a transient failure before a message is failed."
    )
    lease: Duration = Field(
        timedelta(minutes=2),
        description="How long a dispatcher owns a claimed message before another may take it.",
    )
    reconcile_after: Duration = Field(
        timedelta(seconds=30),
        description="Wait before looking again at Twilio for a create whose answer was lost.",
    )
    status_grace: Duration = Field(
        timedelta(minutes=10),
        description="How long past its SendAt (or handoff) a message may lack a status callback "
        "before its status is fetched from Twilio.",
    )
    status_batch: int = Field(
        100, ge=1, description="Most status fetches of one dispatcher pass (reconciliation)."
    )
    poll_interval: float = Field(
        5.0, gt=0, description="Seconds between dispatcher passes in `dripsms worker`."
    )
    batch_size: int = Field(200, ge=1, description="Messages claimed per dispatcher batch.")
    api_tokens: list[SecretStr] = Field(
        default_factory=list,
        description="Bearer tokens (or Basic passwords) the /v1 API accepts, comma-separated.",
    )
    advanced_opt_out: bool = Field(
        True,
        description="Twilio's Advanced Opt-Out answers STOP, START and HELP; false: dripsms does.",
    )
    help_text: str = Field(
        "Reply STOP to stop these messages. For help, call your care team.",
        description="The answer to HELP or INFO when dripsms answers it.",
    )
    opt_out_text: str = Field(
        "You will get no more messages from us. Reply START to resubscribe.",
        description="The confirmation of STOP when dripsms answers it.",
    )
    opt_in_text: str = Field(
        "You are subscribed again. Reply STOP to stop.",
        description="The confirmation of START when dripsms answers it.",
    )
    free_text_opt_out: bool = Field(
        False,
        description="Treat replies like 'please stop texting me' as STOP (else flag for review).",
    )
    max_reprompts: int = Field(
        2, ge=0, description="Reprompts for an answer that cannot be read before giving up."
    )
    unmatched_reply: str | None = Field(
        None, description="An answer to texts that match no open question (none: no answer)."
    )
    recovery_interval: Duration = Field(
        timedelta(minutes=1),
        description="How often a worker lists Twilio's inbound messages for missed replies.",
    )
    inbound_numbers: list[str] = Field(
        default_factory=list,
        description="Our numbers (comma-separated): replies the webhook missed are listed there.",
    )
    studio_flow_url: str | None = Field(
        None,
        description="A Studio flow's webhook URL: texts that are not replies to dripsms go there.",
    )
    notify_secret: SecretStr | None = Field(
        None,
        description="Key for the HMAC-SHA256 signature of notify webhooks (default: auth token).",
    )
    max_body_bytes: int = Field(
        64 * 1024,
        ge=1024,
        le=16 * 1024 * 1024,
        description="Largest /v1 request body, in bytes (Twilio's webhooks: always 64 KiB).",
    )
    health_stale_passes: float = Field(
        6, gt=0,
        description="/healthz answers 503 after this many poll intervals without a good pass.",
    )  # fmt: skip
    health_stale_min: float = Field(
        30.0, ge=0,
        description="Seconds: the floor of that limit (a short poll interval does not shorten it).",
    )  # fmt: skip
    clinic_timezone: str = Field(
        "UTC",
        description="The clinic's IANA time zone: the console shows times in it where a "
        "contact has none of its own.",
    )
    session_lifetime: Duration = Field(
        timedelta(hours=12),
        description="A console sign-in lasts at most this long.",
    )
    session_idle: Duration = Field(
        timedelta(minutes=30),
        description="A console sign-in ends after this long without a request.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Least severe log level written to standard error."
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="Log lines as key=value text, or one JSON object per line."
    )

    @field_validator(
        "twilio_account_sid", "twilio_auth_token", "twilio_api_key", "twilio_api_secret",
        mode="before",
    )  # fmt: skip
    @classmethod
    def _credential(cls, value: Any) -> Any:
        return _blank_is_unset(value)

    @model_validator(mode="after")
    def _complete_credentials(self) -> Settings:
        # Fail closed: an incomplete set never falls back to the sandbox.
        problems = credential_problems(self.credentials_given)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def credentials_given(self) -> CredentialsGiven:
        """Which ``TWILIO_*`` credentials are set."""
        return CredentialsGiven(
            account_sid=self.twilio_account_sid,
            auth_token=_secret(self.twilio_auth_token),
            api_key=self.twilio_api_key,
            api_secret=_secret(self.twilio_api_secret),
        )

    @field_validator("clinic_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        time_zone(value)
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _format_lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def health_stale_after(self) -> float:
        """Seconds without a good dispatcher pass after which /healthz answers 503."""
        return max(self.health_stale_passes * self.poll_interval, self.health_stale_min)

    @field_validator("api_tokens", "inbound_numbers", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [token.strip() for token in value.split(",") if token.strip()]
        return value

    @field_validator("studio_flow_url", mode="before")
    @classmethod
    def _flow_url(cls, value: Any) -> Any:
        value = _blank_is_unset(value)
        if isinstance(value, str) and not value.strip().startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL (the flow's webhook URL, from its Trigger)")
        return value.strip() if isinstance(value, str) else value

    @property
    def uses_sandbox(self) -> bool:
        """No ``TWILIO_*`` credential at all: talk to the built-in sandbox."""
        return not self.credentials_given.any


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


@dataclass(frozen=True)
class CredentialsGiven:
    """The ``TWILIO_*`` credentials as set (``None``: not set)."""

    account_sid: str | None
    auth_token: str | None = field(default=None, repr=False)
    api_key: str | None = None
    api_secret: str | None = field(default=None, repr=False)

    @property
    def any(self) -> bool:
        """Whether any credential is set: then it is Twilio, never the sandbox."""
        return any((self.account_sid, self.auth_token, self.api_key, self.api_secret))

    @property
    def kind(self) -> str:
        """The set in words: "none", "account SID + auth token", ..."""
        if not self.any:
            return "none"
        parts = [
            name
            for name, value in (
                ("account SID", self.account_sid),
                ("API key + secret", self.api_key and self.api_secret),
                ("auth token", self.auth_token),
            )
            if value
        ]
        return " + ".join(parts)


ACCOUNT_SID = "TWILIO_ACCOUNT_SID"
AUTH_TOKEN = "TWILIO_AUTH_TOKEN"
API_KEY = "TWILIO_API_KEY"
API_SECRET = "TWILIO_API_SECRET"
_SID = re.compile(r"[0-9a-fA-F]{32}")


def credential_problems(given: CredentialsGiven) -> list[str]:
    """Why a set of ``TWILIO_*`` credentials cannot be used; empty when it can.

    None at all is the sandbox. Otherwise it is Twilio, and the set must be complete:
    the account SID with the auth token, or with an API key and its secret (the auth
    token may come too: only it checks webhook signatures).
    """
    if not given.any:
        return []
    problems: list[str] = []
    sid, token, key, secret = given.account_sid, given.auth_token, given.api_key, given.api_secret
    if not sid:
        present = [n for n, v in ((AUTH_TOKEN, token), (API_KEY, key), (API_SECRET, secret)) if v]
        verb = "is" if len(present) == 1 else "are"
        problems.append(
            f"{' and '.join(present)} {verb} set but {ACCOUNT_SID} is not "
            "(an incomplete set of Twilio credentials never falls back to the sandbox)"
        )
    elif not _is_sid("AC", sid):
        problems.append(f"{ACCOUNT_SID} must be AC followed by 32 hex digits")
    if key and not secret:
        problems.append(f"{API_KEY} is set but {API_SECRET} is not")
    elif secret and not key:
        problems.append(f"{API_SECRET} is set but {API_KEY} is not")
    elif key and not _is_sid("SK", key):
        problems.append(f"{API_KEY} must be SK followed by 32 hex digits")
    if sid and not token and not (key or secret):
        problems.append(
            f"{ACCOUNT_SID} is set but neither {AUTH_TOKEN} nor {API_KEY} and {API_SECRET} are"
        )
    if token is not None and token == _published_sandbox_token():
        problems.append(
            f"{AUTH_TOKEN} is the sandbox's published token, with which anyone can sign "
            "webhooks; unset the TWILIO_* variables to use the sandbox"
        )
    return problems


def _is_sid(prefix: str, text: str) -> bool:
    return text.startswith(prefix) and _SID.fullmatch(text[len(prefix) :]) is not None


def _published_sandbox_token() -> str:
    from dripsms.sandbox.ids import SANDBOX_AUTH_TOKEN  # constants only: no HTTP side loads

    return SANDBOX_AUTH_TOKEN


def settings_problems(error: Exception) -> list[str]:
    """A settings error as one line per problem, each naming its setting."""
    errors = getattr(error, "errors", None)
    if not callable(errors):
        return [str(error)]
    lines = []
    for item in errors():
        where = ".".join(str(part) for part in item.get("loc", ()))
        message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
        lines.append(f"{where}: {message}" if where else message)
    return lines


class _CredentialsOnly(_Sources):
    """The four ``TWILIO_*`` credentials alone, read as :class:`Settings` reads them."""

    model_config = SettingsConfigDict(
        env_prefix="DRIPSMS_", toml_file=CONFIG_FILE, extra="ignore", populate_by_name=True
    )

    twilio_account_sid: str | None = Field(None, validation_alias=_twilio("twilio_account_sid"))
    twilio_auth_token: str | None = Field(None, validation_alias=_twilio("twilio_auth_token"))
    twilio_api_key: str | None = Field(None, validation_alias=_twilio("twilio_api_key"))
    twilio_api_secret: str | None = Field(None, validation_alias=_twilio("twilio_api_secret"))

    @field_validator("*", mode="before")
    @classmethod
    def _credential(cls, value: Any) -> Any:
        return _blank_is_unset(value)


def read_credentials() -> CredentialsGiven:
    """The ``TWILIO_*`` credentials as set, even when other settings are invalid (for doctor)."""
    raw = _CredentialsOnly()
    return CredentialsGiven(
        raw.twilio_account_sid, raw.twilio_auth_token, raw.twilio_api_key, raw.twilio_api_secret
    )
