"""Every setting, declared once: environment (``DRIPSMS_*``), then ``dripsms.toml``, then defaults.

The CLI, the validation and the docs read this one model; ``docs/settings.md`` lists it
and a test keeps the two in step.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_FILE = "dripsms.toml"


class Settings(BaseSettings):
    """dripsms's settings."""

    model_config = SettingsConfigDict(
        env_prefix="DRIPSMS_", toml_file=CONFIG_FILE, extra="forbid", frozen=True
    )

    sequences_dir: Path = Field(
        Path("sequences"), description="Folder of sequence files (*.yaml, one sequence each)."
    )
    max_segments: int = Field(
        3, ge=1, description="Warn when a step's body is longer than this many SMS segments."
    )

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
