"""Prometheus metrics of the stream worker. Names follow ``clickpipe_worker_<what>_<unit>``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class WorkerMetrics:
    """The worker's counters and gauges, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.processed = Counter("clickpipe_worker_events_processed", "Click messages processed.", registry=r)
        self.late = Counter(
            "clickpipe_worker_events_late",
            "Clicks for a window past its retention (not counted in it; on the late topic).",
            ["window"],
            registry=r,
        )
        self.amending = Counter(
            "clickpipe_worker_events_amending",
            "(click, window) pairs counted in a window that had closed: its aggregate was sent again.",
            registry=r,
        )
        self.windows_amended = Counter(
            "clickpipe_worker_windows_amended", "Closed windows whose aggregates were sent again.", registry=r
        )
        self.dead_lettered = Counter(
            "clickpipe_worker_events_dead_lettered", "Messages moved to the dead-letter topic.", registry=r
        )
        self.future = Counter(
            "clickpipe_worker_events_future",
            "Clicks dated too far ahead of the worker's clock (not counted, dead-lettered).",
            registry=r,
        )
        self.registry_failures = Counter(
            "clickpipe_worker_schema_registry_failures",
            "Schema registry look-ups that failed and were retried (registry unreachable or erring).",
            registry=r,
        )
        self.replayed = Counter(
            "clickpipe_worker_events_replayed", "Redelivered clicks skipped (already counted).", registry=r
        )
        self.ignored = Counter(
            "clickpipe_worker_events_ignored", "Events of other types than LINK_CLICK.", registry=r
        )
        self.windows_closed = Counter("clickpipe_worker_windows_closed", "Windows closed.", registry=r)
        self.windows_expired = Counter("clickpipe_worker_windows_expired", "Windows expired.", registry=r)
        self.windows_open = Gauge(
            "clickpipe_worker_windows_open", "Windows held (open or within retention).", registry=r
        )
        self.watermark_lag = Gauge(
            "clickpipe_worker_watermark_lag_seconds",
            "Wall clock minus watermark, per source partition.",
            ["partition"],
            registry=r,
        )
