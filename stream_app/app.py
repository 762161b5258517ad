"""The Faust app: decode clicks, count them by link and by country, serve the counts.

Built by ``create_app(settings)``; nothing connects or reads the environment at import.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.types import EventT, StreamT
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest

from schemas.codec import LinkClickCodec
from schemas.errors import SerializationError
from schemas.events import EventType
from stream_app.counting import country_key, sum_by_country
from stream_app.settings import WorkerSettings


def faust_config(settings: WorkerSettings) -> dict[str, Any]:
    """Return the Faust app options for ``settings`` (and nothing from Faust's own env variables)."""
    return {
        "env": {},
        "broker": [f"kafka://{server.strip()}" for server in settings.bootstrap_servers.split(",")],
        "datadir": str(settings.data_dir),
        "store": settings.store,
        "topic_partitions": settings.partitions,
        "web_host": settings.web_host,
        "web_bind": settings.web_host,
        "web_port": settings.web_port,
        "broker_session_timeout": settings.session_timeout,
        "broker_heartbeat_interval": settings.heartbeat_interval,
        "broker_rebalance_timeout": settings.rebalance_timeout,
        "recovery_consistency_check": settings.recovery_consistency_check,
        "processing_guarantee": settings.processing_guarantee,
        "consumer_auto_offset_reset": "earliest",
        "autodiscover": False,
        "web_cors_options": None,
    }


def create_app(settings: WorkerSettings | None = None) -> faust.App:
    """Build the stream worker's Faust app."""
    settings = settings or WorkerSettings()
    app = faust.App(settings.app_id, **faust_config(settings))
    codec = LinkClickCodec()
    registry = CollectorRegistry()
    processed = Counter("clickpipe_worker_events_processed", "Click events counted.", registry=registry)
    dead_lettered = Counter(
        "clickpipe_worker_events_dead_lettered", "Messages moved to the dead-letter topic.", registry=registry
    )

    clicks = _raw_topic(app, settings.clicks_topic, settings.partitions)
    dlq = _raw_topic(app, settings.dlq_topic, settings.partitions)
    by_link = app.Table("clicks-by-link", default=int, partitions=settings.partitions)
    by_country = app.Table("clicks-by-country", default=int, partitions=settings.partitions)

    async def dead_letter(event: EventT[bytes], reason: str) -> None:
        message = event.message
        headers = [
            ("error", reason.encode()),
            ("source.topic", message.topic.encode()),
            ("source.partition", str(message.partition).encode()),
            ("source.offset", str(message.offset).encode()),
        ]
        await dlq.send(key=message.key, value=message.value, headers=headers)
        dead_lettered.inc()

    @app.agent(clicks, name="count-clicks")
    async def count_clicks(stream: StreamT[bytes]) -> None:
        async for event in stream.events():
            try:
                click = codec.decode(event.value)
            except SerializationError as exc:
                await dead_letter(event, str(exc))
                continue
            if click.type is EventType.LINK_CLICK:
                by_link[click.link_id] += 1
                by_country[country_key(click.country, event.message.partition)] += 1
            processed.inc()

    @app.page("/api/counts")
    class CountsView(View):
        """Clicks counted so far, per link and per country (this worker's partitions)."""

        async def get(self, request: Request) -> Response:
            return self.json(
                {
                    "links": dict(by_link.items()),
                    "countries": sum_by_country(dict(by_country.items())),
                    "processed": _sample(registry, "clickpipe_worker_events_processed_total"),
                    "dead_lettered": _sample(registry, "clickpipe_worker_events_dead_lettered_total"),
                }
            )

    @app.page("/metrics")
    class MetricsView(View):
        """Prometheus metrics."""

        async def get(self, request: Request) -> Response:
            return self.bytes(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

    return app


def _raw_topic(app: faust.App, name: str, partitions: int) -> faust.TopicT:
    """Return a topic whose keys and values are passed through as bytes (the codec is ours)."""
    return app.topic(
        name,
        partitions=partitions,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )


def _sample(registry: CollectorRegistry, name: str) -> int:
    """Return the current value of a counter in ``registry``."""
    return int(registry.get_sample_value(name) or 0)
