"""The engine's configs are built from ``Settings``: no defaults of their own, no drift."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from dripsms.core.handoff import ProviderWindow
from dripsms.engine.conversations import ConversationConfig
from dripsms.engine.dispatcher import DispatcherConfig
from dripsms.engine.status_reconciliation import ReconcileConfig
from dripsms.settings import Settings

CONFIGS = [DispatcherConfig, ConversationConfig, ReconcileConfig]
RESOLVED = {"messaging_service_sid", "callback_secret"}
"""Fields the runtime resolves (a sandbox's SID, a generated secret): passed in, not read."""
RENAMED: dict[type, dict[str, str]] = {
    ReconcileConfig: {"batch_size": "status_batch", "grace": "status_grace"},
}
"""Config fields named unlike their setting."""


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.__name__)
def test_a_config_has_no_defaults_of_its_own(config: type) -> None:
    defaulted = [
        f.name
        for f in dataclasses.fields(config)
        if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
    ]
    assert defaulted == [], f"{config.__name__} repeats Settings' defaults: {defaulted}"


def _built(settings: Settings) -> list[object]:
    window = ProviderWindow(settings.min_lead, settings.horizon, settings.window_margin)
    return [
        DispatcherConfig.from_settings(
            settings, messaging_service_sid="MG1", callback_secret="k", owner="me"
        ),
        ConversationConfig.from_settings(settings),
        ReconcileConfig.from_settings(settings, window),
    ]


def test_each_field_named_like_a_setting_carries_the_settings_value() -> None:
    # Defaults (the drift the issue found was in help_text's default) and changed values.
    for settings in (
        Settings(),
        Settings(
            help_text="Call 555.",
            opt_out_text="Bye.",
            opt_in_text="Hi.",
            max_reprompts=5,
            advanced_opt_out=False,
            free_text_opt_out=True,
            unmatched_reply="?",
            default_region="GB",
            batch_size=7,
            lease=timedelta(minutes=9),
            max_attempts=3,
            concurrency=2,
            rate_limit=9.5,
            scheduled_budget=11,
            public_url="https://x.test",
            reconcile_after=timedelta(seconds=99),
        ),
    ):
        for config in _built(settings):
            renamed = RENAMED.get(type(config), {})
            for f in dataclasses.fields(config):  # type: ignore[arg-type]
                name = renamed.get(f.name, f.name)
                if name in Settings.model_fields and name not in RESOLVED:
                    assert getattr(config, f.name) == getattr(settings, name), f.name


def test_renamed_fields_carry_their_settings() -> None:
    settings = Settings(
        status_grace=timedelta(minutes=3), status_batch=17, horizon=timedelta(days=3)
    )
    dispatcher, _, reconcile = _built(settings)
    assert isinstance(dispatcher, DispatcherConfig)
    assert isinstance(reconcile, ReconcileConfig)
    assert dispatcher.window == ProviderWindow(
        settings.min_lead, timedelta(days=3), settings.window_margin
    )
    assert (reconcile.grace, reconcile.batch_size) == (timedelta(minutes=3), 17)
