"""The Faust app: consume clicks in batches, fold them into event-time windows, emit and serve aggregates.

Built by ``create_app(settings)``; nothing connects or reads the environment at import. The logic lives in
framework-free modules (``windows``, ``aggregation``, ``engine``, ``query``) and the ``ClickProcessor``
shell around them; this module is wiring.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import faust
from aiokafka.structs import ConsumerRecord
from faust.auth import SASLCredentials, SSLCredentials
from faust.types import Message, StreamT
from faust.types.auth import CredentialsT, SASLMechanism
from faust.web import Request, Response, View
from prometheus_client import generate_latest

from schemas.avro_schemas import link_click_schema
from schemas.broker_auth import BrokerAuth
from schemas.confluent import ConfluentCodec, SchemaRegistryClient
from stream_app.auth import Authenticator, CachingKeyResolver, HttpKeyResolver
from stream_app.cluster import WorkerPeers
from stream_app.dashboard import register_dashboard
from stream_app.decoding import ClickDecoder
from stream_app.faust_internals import (
    QuietTransactions,
    check_version,
    install_batch_tap,
    install_full_flush,
    recovery_completed,
    serve_only_our_routes,
    take_events,
)
from stream_app.metrics import WorkerMetrics
from stream_app.peers import ClusterKey, PeerGate
from stream_app.processor import ClickProcessor, Headers, OutputTopics
from stream_app.registry import RegistrySchemas
from stream_app.security_headers import security_headers
from stream_app.settings import WorkerSettings
from stream_app.state import ROW_TABLE_OPTIONS, Partitions
from stream_app.views import register_views

# Prometheus' text format (aiohttp wants the charset apart, and UTF-8 is its default).
PROMETHEUS_TEXT = "text/plain; version=0.0.4"


def faust_credentials(auth: BrokerAuth) -> CredentialsT | None:
    """Faust's form of ``auth`` (None: PLAINTEXT)."""
    if auth.sasl:
        return SASLCredentials(
            username=auth.username,
            password=auth.secret(),
            mechanism=SASLMechanism(auth.sasl_mechanism),
            ssl_context=auth.ssl_context(),
        )
    context = auth.ssl_context()
    return SSLCredentials(context) if context is not None else None


def faust_config(settings: WorkerSettings, auth: BrokerAuth | None = None) -> dict[str, Any]:
    """Return the Faust app options for ``settings`` (and nothing from Faust's own env variables); ``auth``
    is how it authenticates to Kafka (``CLICKPIPE_KAFKA_*`` by default)."""
    return {
        "env": {},
        "broker": [f"kafka://{server.strip()}" for server in settings.bootstrap_servers.split(",")],
        "broker_credentials": faust_credentials(auth or BrokerAuth()),
        "datadir": str(settings.data_dir),
        "store": settings.store,
        "topic_partitions": settings.partitions,
        "web_host": settings.web_host,
        "web_bind": settings.web_host,
        "web_port": settings.web_port,
        "canonical_url": settings.url,
        "broker_session_timeout": settings.session_timeout,
        "broker_heartbeat_interval": settings.heartbeat_interval,
        "broker_rebalance_timeout": settings.rebalance_timeout,
        "recovery_consistency_check": settings.recovery_consistency_check,
        "processing_guarantee": settings.processing_guarantee,
        "topic_replication_factor": settings.replication_factor,
        "consumer_auto_offset_reset": "earliest",
        "autodiscover": False,
        "web_cors_options": None,
        "web_application_options": {"middlewares": [security_headers]},
        # Faust's own pages (/router, /table/..., /graph, statistics) would expose raw rows: off.
        "web_router_enabled": False,
        "web_tables_enabled": False,
        "web_graph_enabled": False,
        "web_stats_enabled": False,
        "web_metrics_enabled": False,
        # A rebalance waits for the batch being processed (the tap's stand-in, or the agent's events) before
        # it commits and hands partitions over: a worker must not write rows for a partition it gave away.
        "stream_wait_empty": True,
        "stream_buffer_maxsize": max(4096, settings.batch_size * 2),
        "broker_max_poll_records": max(500, settings.batch_size),
        "consumer_max_fetch_size": settings.fetch_bytes,
        "broker_commit_every": max(10_000, settings.batch_size),
    }


def create_app(settings: WorkerSettings | None = None) -> faust.App:
    """Build the stream worker's Faust app."""
    check_version()
    install_full_flush()  # a commit must not cover table writes still in the producer's buffer
    settings = settings or WorkerSettings()
    app = faust.App(settings.app_id, **faust_config(settings))
    serve_only_our_routes(app)
    metrics = WorkerMetrics()
    registry = None
    schemas: RegistrySchemas | None = None
    if settings.schema_registry_url:
        schemas = RegistrySchemas(
            SchemaRegistryClient(
                settings.schema_registry_url,
                timeout=settings.schema_registry_timeout_seconds,
                negative_ttl=settings.schema_registry_negative_cache_seconds,
            ),
            max_backoff=settings.schema_registry_max_backoff_seconds,
            on_outage=lambda error, delay: metrics.registry_failures.inc(),
        )
        registry = ConfluentCodec(
            schemas, f"{settings.clicks_topic}-value", link_click_schema(), logical_types=False
        )
    clicks = _raw_topic(app, settings.clicks_topic, settings.partitions)
    rows = app.Table("window-rows", partitions=settings.partitions, **ROW_TABLE_OPTIONS)
    partitions = Partitions(
        app,
        rows,
        settings.clicks_topic,
        settings.granularities(),
        grace_ms=int(settings.grace_seconds * 1000),
        idle_ms=int(settings.idle_seconds * 1000),
        buckets=settings.buckets,
        max_skew_ms=int(settings.max_skew_seconds * 1000),
        max_cells=settings.max_cells,
    )

    async def send(
        topic: str, key: bytes | None, value: bytes | None, headers: Headers | None
    ) -> Awaitable[object]:
        # The transport producer directly: Topic.send's channel machinery costs more than the send.
        return await app.producer.send(topic, key, value, None, None, headers)

    processor = ClickProcessor(
        partitions,
        ClickDecoder(registry),
        send,
        OutputTopics(aggregates=settings.aggregates_topic, dlq=settings.dlq_topic, late=settings.late_topic),
        metrics,
        schemas=schemas,
    )

    @app.agent(clicks, name="aggregate-clicks")
    async def aggregate_clicks(stream: StreamT[bytes]) -> None:
        # With the batch tap installed, Faust subscribes through this agent but delivers nothing to it.
        async for events in take_events(stream, settings.batch_size, settings.batch_seconds):
            await processor.handle([_kafka_record(event.message) for event in events])

    if settings.batch_tap:
        install_batch_tap(app, settings.clicks_topic, processor.handle)
    app.timer(settings.tick_seconds)(processor.tick)
    if settings.processing_guarantee == "exactly_once":
        app.timer(app.conf.broker_commit_interval)(QuietTransactions(app).commit)

    key = ClusterKey(settings.cluster_secret.get_secret_value()) if settings.cluster_secret else None
    register_views(
        app,
        partitions,
        authenticator(settings),
        WorkerPeers(app, settings.url, key, settings.peers),
        partition_count=settings.partitions,
        gate=PeerGate(key, settings.url),
    )
    register_dashboard(app)

    @app.page("/metrics")
    class MetricsView(View):
        """Prometheus metrics."""

        async def get(self, request: Request) -> Response:
            return self.bytes(generate_latest(metrics.registry), content_type=PROMETHEUS_TEXT)

    @app.page("/readyz")
    class Ready(View):
        """Readiness: table state is recovered for the current assignment, so answers are complete."""

        async def get(self, request: Request) -> Response:
            if recovery_completed(app):
                return self.json({"status": "ready", "partitions": partitions.owned()})
            return self.json({"status": "recovering"}, status=503)

    @app.page("/healthz")
    class Health(View):
        """Liveness: the worker's web server answers."""

        async def get(self, request: Request) -> Response:
            return self.json({"status": "ok", "partitions": partitions.owned()})

    return app


def authenticator(settings: WorkerSettings) -> Authenticator:
    """Return the stats API's authenticator: API keys checked with the producer, cached; the operator key."""
    resolver = CachingKeyResolver(
        HttpKeyResolver(settings.auth_url, timeout=settings.auth_timeout_seconds),
        ttl=settings.auth_cache_seconds,
        negative_ttl=settings.auth_negative_cache_seconds,
    )
    operator = settings.operator_key.get_secret_value() if settings.operator_key else None
    return Authenticator(resolver, operator)


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


def _kafka_record(message: Message) -> ConsumerRecord[bytes, bytes]:
    """The aiokafka record a Faust message was made of (its timestamp back in epoch ms, as the tap's are)."""
    return ConsumerRecord(
        message.topic,
        message.partition,
        message.offset,
        -1 if message.timestamp is None else round(message.timestamp * 1000),
        message.timestamp_type,
        message.key,
        message.value,
        message.checksum,
        message.serialized_key_size,
        message.serialized_value_size,
        message.headers,
    )
