"""Fault injection: what a client of Twilio really meets, drawn from a seeded RNG.

Each API call kind has its own :class:`FaultRule`. Per call at most one fault is drawn:

- ``rate_limited``: HTTP 429, code 20429, ``Retry-After``; the request is NOT processed.
- ``error_before``: HTTP 500, code 20500; the request is NOT processed.
- ``error_after``: the request IS processed (a create creates), then HTTP 500, code 20500.
- ``timeout_after``: the request IS processed, then the answer is held back
  ``delay_seconds`` so that a client with a shorter timeout gives up.
- ``reset_after``: the request IS processed, then the connection is dropped without a byte
  of response (needs :class:`~dripsms.sandbox.server.SandboxServer`).

``latency_ms`` delays every call of the kind. ``times`` limits a rule to the next N calls
of its kind. Status callbacks can be duplicated or delivered out of order, as Twilio's may,
or dropped (never posted: a receiver that was down, a post that failed and was not retried).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

ABORT_EXTENSION = "dripsms.sandbox.abort"
"""ASGI scope extension (``{"abort": callable}``) a server provides to drop a connection."""

T = TypeVar("T")


class CallKind(StrEnum):
    """The API calls faults can be set for."""

    CREATE = "create"
    FETCH = "fetch"
    LIST = "list"
    CANCEL = "cancel"


class Fault(StrEnum):
    """One way a call goes wrong."""

    RATE_LIMITED = "rate_limited"
    ERROR_BEFORE = "error_before"
    ERROR_AFTER = "error_after"
    TIMEOUT_AFTER = "timeout_after"
    RESET_AFTER = "reset_after"


NOT_PROCESSED = frozenset({Fault.RATE_LIMITED, Fault.ERROR_BEFORE})
"""Faults answered before the request is processed: retrying them is always safe."""


class FaultRule(BaseModel):
    """The faults of one call kind: probabilities (summing to at most 1) and their details."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    latency_ms: int = Field(0, ge=0, description="Extra latency of every call, in milliseconds.")
    rate_limited: float = Field(0.0, ge=0, le=1, description="Probability of a 429 (20429).")
    error_before: float = Field(0.0, ge=0, le=1, description="Probability of a 500, unprocessed.")
    error_after: float = Field(
        0.0, ge=0, le=1, description="Probability of a 500 after processing."
    )
    timeout_after: float = Field(0.0, ge=0, le=1, description="Probability of a held-back answer.")
    reset_after: float = Field(0.0, ge=0, le=1, description="Probability of a dropped connection.")
    retry_after: int = Field(1, ge=0, description="The Retry-After of a 429, in seconds.")
    delay_seconds: float = Field(5.0, ge=0, description="How long timeout_after holds the answer.")
    times: int | None = Field(None, ge=0, description="Apply to the next N calls only.")

    @model_validator(mode="after")
    def _one_fault_per_call(self) -> Self:
        if sum(self.weights().values()) > 1 + 1e-9:
            raise ValueError("fault probabilities of one call kind must sum to at most 1")
        return self

    def weights(self) -> dict[Fault, float]:
        """Each fault's probability, in the order they are drawn."""
        return {fault: getattr(self, fault.value) for fault in Fault}


class CallbackFaults(BaseModel):
    """Status callbacks as Twilio may deliver them: twice, out of order, or not at all."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    drop: float = Field(0.0, ge=0, le=1, description="Probability a callback is never sent.")
    duplicate: float = Field(0.0, ge=0, le=1, description="Probability a callback is sent twice.")
    reorder: bool = Field(False, description="Shuffle the callbacks of each release.")


class FaultConfig(BaseModel):
    """Every fault setting of a sandbox; the default injects nothing."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = Field(0, description="Seed of the RNG the faults are drawn from.")
    rules: dict[CallKind, FaultRule] = Field(default_factory=dict)
    callbacks: CallbackFaults = Field(default_factory=CallbackFaults)


@dataclass(frozen=True, slots=True)
class FaultDecision:
    """What happens to one call."""

    latency: float = 0.0
    fault: Fault | None = None
    retry_after: int = 1
    delay: float = 0.0


class Faults:
    """The live fault settings of a sandbox; thread-safe and reproducible for a given seed."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self._lock = threading.Lock()
        self.configure(config or FaultConfig())

    @property
    def config(self) -> FaultConfig:
        """The settings in force."""
        return self._config

    def configure(self, config: FaultConfig) -> None:
        """Replace the settings and restart the RNG from the config's seed."""
        with self._lock:
            self._config = config
            self._rng = random.Random(config.seed)
            self._remaining = {kind: rule.times for kind, rule in config.rules.items()}

    def draw(self, kind: CallKind) -> FaultDecision:
        """Decide the fate of one call of ``kind``."""
        with self._lock:
            rule = self._config.rules.get(kind)
            remaining = self._remaining.get(kind)
            if rule is None or remaining == 0:
                return FaultDecision()
            if remaining is not None:
                self._remaining[kind] = remaining - 1
            roll, fault, threshold = self._rng.random(), None, 0.0
            for candidate, weight in rule.weights().items():
                threshold += weight
                if weight and roll < threshold:
                    fault = candidate
                    break
            return FaultDecision(
                rule.latency_ms / 1000, fault, rule.retry_after, rule.delay_seconds
            )

    def callback_copies(self) -> int:
        """How many times to send the next status callback (0 when dropped, 2 when duplicated)."""
        with self._lock:
            drop = self._config.callbacks.drop
            if drop and self._rng.random() < drop:
                return 0
            duplicate = self._config.callbacks.duplicate
            return 2 if duplicate and self._rng.random() < duplicate else 1

    def callback_order(self, items: Sequence[T]) -> list[T]:
        """``items`` in delivery order: shuffled when callbacks are reordered."""
        ordered = list(items)
        with self._lock:
            if self._config.callbacks.reorder:
                self._rng.shuffle(ordered)
        return ordered
