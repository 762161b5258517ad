"""Prometheus metrics of the redirect service, in a registry per app (tests build many apps).

Names follow ``clickpipe_producer_<what>_<unit>``; counters get Prometheus' ``_total`` suffix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from producer.rejected import REJECT_REASONS

if TYPE_CHECKING:
    from producer.notified_view import NotifiedLinks


class ProducerMetrics:
    """The redirect service's counters, gauges and histograms."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.clicks_received = Counter(
            "clickpipe_producer_clicks_received", "Click events taken from requests.", registry=r
        )
        self.clicks_published = Counter(
            "clickpipe_producer_clicks_published", "Click events acknowledged by the broker.", registry=r
        )
        self.clicks_spooled = Counter(
            "clickpipe_producer_clicks_spooled",
            "Click events written to the on-disk spool (broker unreachable or queue full).",
            registry=r,
        )
        self.clicks_replayed = Counter(
            "clickpipe_producer_clicks_replayed",
            "Spooled click events the broker has since acknowledged.",
            registry=r,
        )
        self.clicks_dropped = Counter(
            "clickpipe_producer_clicks_dropped",
            "Click events lost because the spool was at its byte cap or could not write. Must stay 0.",
            registry=r,
        )
        self.clicks_rejected = Counter(
            "clickpipe_producer_clicks_rejected",
            "Click events set aside, never to be sent: too_large (over MAX_EVENT_BYTES), unencodable, "
            "refused (by the broker).",
            ["reason"],
            registry=r,
        )
        for reason in REJECT_REASONS:
            self.clicks_rejected.labels(reason=reason)
        self.publish_errors = Counter(
            "clickpipe_producer_publish_errors", "Send rounds the broker did not acknowledge.", registry=r
        )
        self.queue_depth = Gauge(
            "clickpipe_producer_queue_depth", "Click events waiting in memory.", registry=r
        )
        self.spool_pending = Gauge(
            "clickpipe_producer_spool_pending", "Click events waiting in the spool.", registry=r
        )
        self.spool_bytes = Gauge(
            "clickpipe_producer_spool_bytes",
            "Bytes on disk in the spool (capped by SPOOL_MAX_BYTES).",
            registry=r,
        )
        self.publish_latency = Histogram(
            "clickpipe_producer_publish_latency_seconds",
            "Time from a click to the broker's acknowledgement.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=r,
        )
        self.links_known = Gauge(
            "clickpipe_producer_links_known",
            "Links the PostgreSQL link view holds in memory (0 with SQLite).",
            registry=r,
        )
        self.link_view_loads = Gauge(
            "clickpipe_producer_link_view_loads",
            "Whole loads of the PostgreSQL link view: 1 at start, one more after each lost connection.",
            registry=r,
        )
        self.link_view_listening = Gauge(
            "clickpipe_producer_link_view_listening",
            "1 while the PostgreSQL link view follows changes; 0 while it reconnects (or failed).",
            registry=r,
        )

    def follow_link_view(self, view: NotifiedLinks) -> None:
        """Read the link view's gauges from it at each scrape."""
        self.links_known.set_function(lambda: len(view))
        self.link_view_loads.set_function(lambda: view.loads)
        self.link_view_listening.set_function(lambda: 1.0 if view.state == "listening" else 0.0)
