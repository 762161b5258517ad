"""The redirect service's FastAPI app, built by a factory (no work at import time)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from producer import api, routes
from producer.deps import Services
from producer.links import DEMO_LINK, InMemoryLinkStore, LinkStore
from producer.metrics import ProducerMetrics
from producer.publisher import ClickPublisher, KafkaClickPublisher, kafka_producer
from producer.settings import ProducerSettings


def create_app(
    settings: ProducerSettings | None = None,
    *,
    store: LinkStore | None = None,
    publisher: ClickPublisher | None = None,
) -> FastAPI:
    """Build the redirect service.

    Args:
        settings: configuration; read from the environment when None.
        store: where links live; an in-memory store when None.
        publisher: where clicks go; a Kafka publisher for ``settings`` when None.
    """
    settings = settings or ProducerSettings()
    metrics = ProducerMetrics()
    if publisher is None:
        publisher = KafkaClickPublisher(
            lambda: kafka_producer(
                settings.bootstrap_servers,
                enable_idempotence=settings.enable_idempotence,
                linger_ms=settings.linger_ms,
            ),
            settings.clicks_topic,
            metrics,
            queue_size=settings.queue_size,
            batch_size=settings.send_batch_size,
        )
    services = Services(settings, store or InMemoryLinkStore(), publisher, metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.demo_link and await services.store.get_by_slug(DEMO_LINK.slug) is None:
            await services.store.create(DEMO_LINK)
        await services.publisher.start()
        try:
            yield
        finally:
            await services.publisher.stop()

    app = FastAPI(
        title="clickpipe redirect service",
        summary="Smart links: redirect visitors by country and record every click on Kafka.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.services = services
    app.include_router(api.router)
    app.include_router(routes.router)
    return app
