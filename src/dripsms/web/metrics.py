"""Prometheus metrics, in a registry of each app's own (no globals)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


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
    def create(cls) -> Metrics:
        """A fresh registry with every metric registered."""
        registry = CollectorRegistry()
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
