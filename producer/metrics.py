"""Prometheus metrics of the redirect service, in a registry per app (so tests can build many apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class ProducerMetrics:
    """The redirect service's counters. Names follow ``clickpipe_producer_<what>_<unit>``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.clicks_received = Counter(
            "clickpipe_producer_clicks_received",
            "Click events accepted from requests.",
            registry=self.registry,
        )
        self.clicks_published = Counter(
            "clickpipe_producer_clicks_published",
            "Click events acknowledged by the broker.",
            registry=self.registry,
        )
        self.clicks_dropped = Counter(
            "clickpipe_producer_clicks_dropped",
            "Click events lost (queue full). Must stay 0.",
            registry=self.registry,
        )
        self.publish_errors = Counter(
            "clickpipe_producer_publish_errors",
            "Failed send rounds (each is retried).",
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "clickpipe_producer_queue_depth",
            "Click events waiting to be published.",
            registry=self.registry,
        )
        self.publish_latency = Histogram(
            "clickpipe_producer_publish_latency_seconds",
            "Time from a click to the broker's acknowledgement.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=self.registry,
        )
