"""Prometheus metrics, in a registry of each app's own (no globals)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from dripsms.engine.supervisor import DispatcherHealth


class DispatcherCollector(Collector):
    """The in-process dispatcher's health, read at each scrape."""

    def __init__(self, health: DispatcherHealth) -> None:
        self.health = health

    def collect(self) -> Iterator[Metric]:
        """Failed passes by error type, failures in a row, seconds since the last good pass."""
        snapshot = self.health.snapshot()
        errors = CounterMetricFamily(
            "dripsms_dispatcher_pass_errors",
            "Dispatcher passes that raised, by error type (each was retried)",
            labels=["error"],
        )
        for error, count in sorted(snapshot.errors.items()):
            errors.add_metric([error], count)
        yield errors
        yield GaugeMetricFamily(
            "dripsms_dispatcher_consecutive_failures",
            "Dispatcher passes that raised since the last good one",
            value=snapshot.consecutive_failures,
        )
        if snapshot.seconds_since_pass is not None:
            yield GaugeMetricFamily(
                "dripsms_dispatcher_seconds_since_pass",
                "Seconds since a dispatcher pass last succeeded",
                value=snapshot.seconds_since_pass,
            )
        yield GaugeMetricFamily(
            "dripsms_dispatcher_running", "1 while the dispatcher loop runs",
            value=int(snapshot.running),
        )  # fmt: skip


@dataclass(frozen=True)
class Metrics:
    """The counters and gauges dripsms exports at /metrics."""

    registry: CollectorRegistry
    replies: Counter
    status_callbacks: Counter
    enrollments: Counter
    webhook_seconds: Histogram
    queue_depth: Gauge
    scheduled: Gauge

    @classmethod
    def create(cls, dispatcher: DispatcherHealth | None = None) -> Metrics:
        """A fresh registry with every metric registered (and the dispatcher's, when one
        runs in this process)."""
        registry = CollectorRegistry()
        if dispatcher is not None:
            registry.register(DispatcherCollector(dispatcher))
        return cls(
            registry=registry,
            replies=Counter(
                "dripsms_replies", "Inbound texts, by what they were", ["kind"], registry=registry
            ),
            status_callbacks=Counter(
                "dripsms_status_callbacks",
                "Status callbacks, by outcome",
                ["result"],
                registry=registry,
            ),
            enrollments=Counter(
                "dripsms_enrollments", "Enrollments created through the API", registry=registry
            ),
            webhook_seconds=Histogram(
                "dripsms_webhook_seconds",
                "Time to answer a Twilio webhook",
                ["hook"],
                registry=registry,
            ),
            queue_depth=Gauge(
                "dripsms_messages", "Messages by state (the outbox)", ["state"], registry=registry
            ),
            scheduled=Gauge(
                "dripsms_scheduled_at_twilio",
                "Messages held scheduled at Twilio",
                registry=registry,
            ),
        )
