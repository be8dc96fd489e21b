"""Prometheus metrics of one server instance (``GET /metrics``).

Contract: ``Metrics`` owns a private ``CollectorRegistry`` (several apps in one process,
as in tests, never collide) holding:
- ``moodchat_requests_total{route,status}``: HTTP requests answered;
- ``moodchat_request_seconds{role}``: wall time per model request, role ``sentiment`` or
  ``chat`` (admission wait included);
- ``moodchat_queue_depth{role}`` / ``moodchat_active_requests{role}``: waiting / running;
- ``moodchat_rejected_total{role,reason}``: 429/503 refusals by admission control;
- ``moodchat_tokens_generated_total``: reply tokens produced;
- ``moodchat_generations_cancelled_total{reason}``: replies stopped early (disconnect,
  timeout);
- ``moodchat_model_ready``: 1 once the model is loaded and warmed;
- ``moodchat_peak_rss_bytes`` and the standard ``process_*`` collector (RSS, CPU).
``render()`` returns the text exposition format and its content type.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

from moodchat.engine.hardware import peak_rss_bytes

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120)


class Metrics:
    """The collectors of one app."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        ProcessCollector(registry=r)
        self.requests = Counter(
            "moodchat_requests", "HTTP requests answered", ["route", "status"], registry=r
        )
        self.latency = Histogram(
            "moodchat_request_seconds",
            "Wall time of model requests per role (admission wait included)",
            ["role"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "moodchat_queue_depth", "Requests waiting for a model slot", ["role"], registry=r
        )
        self.active = Gauge(
            "moodchat_active_requests", "Requests holding a model slot", ["role"], registry=r
        )
        self.rejected = Counter(
            "moodchat_rejected",
            "Requests refused by admission control",
            ["role", "reason"],
            registry=r,
        )
        self.tokens = Counter("moodchat_tokens_generated", "Reply tokens generated", registry=r)
        self.cancelled = Counter(
            "moodchat_generations_cancelled", "Replies stopped early", ["reason"], registry=r
        )
        self.ready = Gauge("moodchat_model_ready", "1 once the model is loaded", registry=r)
        peak = Gauge("moodchat_peak_rss_bytes", "Peak resident set size", registry=r)
        peak.set_function(peak_rss_bytes)

    def track_gate(self, role: str, active: Callable[[], int], waiting: Callable[[], int]) -> None:
        """Report a gate's running and waiting counts at scrape time."""
        self.active.labels(role).set_function(active)
        self.queue_depth.labels(role).set_function(waiting)

    def reject(self, role: str, reason: str) -> None:
        """Count one refusal."""
        self.rejected.labels(role, reason).inc()

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
