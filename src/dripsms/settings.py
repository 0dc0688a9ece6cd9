"""Every setting, declared once: environment (``DRIPSMS_*``), then ``dripsms.toml``, then defaults.

The CLI, the validation and the docs read this one model; ``docs/settings.md`` lists it
and a test keeps the two in step.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BeforeValidator, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from dripsms.core.durations import parse_duration

CONFIG_FILE = "dripsms.toml"


def _duration(value: Any) -> Any:
    return parse_duration(value) if isinstance(value, str | int) else value


Duration = Annotated[timedelta, BeforeValidator(_duration)]
"""A duration setting, written like a sequence file's (``15m``, ``7d``, ``PT15M``)."""


def _twilio(name: str) -> AliasChoices:
    # Twilio's own variable names, as its SDK and CLI use them (no DRIPSMS_ prefix).
    return AliasChoices(name.upper(), name)


class Settings(BaseSettings):
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
        description="Twilio account SID (TWILIO_ACCOUNT_SID). Unset: the built-in sandbox.",
    )  # fmt: skip
    twilio_auth_token: SecretStr | None = Field(
        None, validation_alias=_twilio("twilio_auth_token"),
        description="Twilio auth token (TWILIO_AUTH_TOKEN); also checks webhook signatures.",
    )  # fmt: skip
    twilio_api_key: str | None = Field(
        None, validation_alias=_twilio("twilio_api_key"),
        description="Twilio API key SID (TWILIO_API_KEY), instead of the auth token.",
    )  # fmt: skip
    twilio_api_secret: SecretStr | None = Field(
        None, validation_alias=_twilio("twilio_api_secret"),
        description="Twilio API key secret (TWILIO_API_SECRET).",
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
    notify_secret: SecretStr | None = Field(
        None,
        description="Key for the HMAC-SHA256 signature of notify webhooks (default: auth token).",
    )
    health_stale_passes: float = Field(
        6, gt=0,
        description="/healthz answers 503 after this many poll intervals without a good pass.",
    )  # fmt: skip
    health_stale_min: float = Field(
        30.0, ge=0,
        description="Seconds: the floor of that limit (a short poll interval does not shorten it).",
    )  # fmt: skip
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Least severe log level written to standard error."
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="Log lines as key=value text, or one JSON object per line."
    )

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

    @property
    def uses_sandbox(self) -> bool:
        """No Twilio credentials: talk to the built-in sandbox."""
        return not self.twilio_account_sid

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
