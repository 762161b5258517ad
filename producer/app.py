"""The redirect service's FastAPI app, built by a factory (no work at import time)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope

from producer import account_api, agents, health, ingest_api, links_api, redirect_route
from producer.broker_features import supports_idempotence
from producer.cache import LinkCache
from producer.demo import DEMO_LINK, seed_demo
from producer.deps import Services
from producer.errors import StoreError
from producer.geo import parse_networks
from producer.limits import BodySizeLimit
from producer.link_backend import LinkBackend, link_backend
from producer.links import KeyStore, LinkStore, LinkView
from producer.metrics import ProducerMetrics
from producer.publisher import ClickPublisher, DiscardingClickPublisher, KafkaClickPublisher, kafka_producer
from producer.redirect import RedirectFront, Redirector, own_paths
from producer.rejected import FileRejectedSink
from producer.security_headers import SecurityHeaders
from producer.settings import ProducerSettings
from producer.spool import Spool
from producer.spool_slots import SpoolSlot, claim_slot
from producer.visitors import DailySalts, VisitorKeys, remove_old_secret, rotate
from schemas.broker_auth import BrokerAuth
from schemas.codec import LinkClickCodec
from schemas.confluent import SchemaRegistryClient, link_click_codec

log = logging.getLogger(__name__)

DESCRIPTION = """
Smart links: `GET /{slug}` redirects a visitor to the link's destination for their country and records the
click on Kafka without making them wait. Links are managed under `/api/links` with an account's API key
(`Authorization: Bearer <key>`, made with `clickpipe keys create`); backfills go to `/api/clicks/batch`;
`/api/account` tells whose a key is.
"""


def create_app(
    settings: ProducerSettings | None = None,
    *,
    store: LinkStore | None = None,
    keys: KeyStore | None = None,
    publisher: ClickPublisher | None = None,
    clock: Callable[[], datetime] | None = None,
    visitors: VisitorKeys | None = None,
) -> RedirectFront:
    """Build the redirect service: ``GET``/``HEAD /{slug}`` served by a ``RedirectFront``, everything else
    by its FastAPI app (``.app``).

    Args:
        settings: configuration; read from the environment when None.
        store: where links live (and, unless ``keys`` is given, API keys); when None, the settings' database
            (PostgreSQL when ``DATABASE_URL`` is set, else SQLite in the data dir).
        keys: where accounts and API keys live; ``store`` when None.
        publisher: where clicks go; Kafka with the on-disk spool when None.
        clock: the time now (aware, UTC); the system clock when None.
        visitors: makes the visitor keys; when None, with daily random salts kept in the key store and
            rotated by the app while it runs (``producer.visitors``).
    """
    settings = settings or ProducerSettings()
    metrics = ProducerMetrics()
    backend: LinkBackend | None = None
    links: LinkStore
    view: LinkView
    if store is None:
        backend = link_backend(settings, metrics)
        links, view = backend.store, backend.view
    else:
        links, view = store, LinkCache(store, ttl=settings.link_cache_seconds)
    key_store: KeyStore = keys if keys is not None else links  # type: ignore[assignment]
    slot: SpoolSlot | None = None
    if publisher is None:
        publisher, slot = _default_publisher(settings, metrics)
    services = Services(
        settings=settings,
        links=links,
        keys=key_store,
        cache=view,
        publisher=publisher,
        metrics=metrics,
        trusted_proxies=parse_networks(settings.trusted_proxies),
        clock=clock or (lambda: datetime.now(UTC)),
        visitors=visitors or VisitorKeys(salts := DailySalts()),
    )
    rotating = visitors is None  # the salts are ours to keep: made, rotated and destroyed while we run
    owns_data_dir = store is None or publisher is None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if backend is not None:
            await backend.start()
            log.info("links in %s", backend.description)
        try:
            if settings.demo_link:
                api_key = settings.demo_api_key
                await seed_demo(links, key_store, None if api_key is None else api_key.get_secret_value())
                await view.refresh(DEMO_LINK.slug)
            await asyncio.to_thread(agents.warm)  # not on the first click
            if rotating:
                if owns_data_dir and remove_old_secret(settings.data_dir):
                    log.warning("removed the visitor secret of an earlier version: salts are random now")
                await rotate(key_store, salts, services.clock().date())  # before the first visit
                salt_keeper = asyncio.create_task(_keep_salts(key_store, salts, services.clock))
            await services.publisher.start()
        except BaseException:
            if backend is not None:
                await backend.stop()
            raise
        try:
            yield
        finally:
            if rotating:
                salt_keeper.cancel()
            await services.publisher.stop()
            if slot is not None:
                slot.release()
            if backend is not None:
                await backend.stop()
            log.info("redirect service shutdown complete: pending clicks published or spooled")

    app = FastAPI(
        title="clickpipe redirect service",
        summary="Smart links: redirect visitors by country and record every click on Kafka.",
        description=DESCRIPTION,
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.redirector = redirector = Redirector(services)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    routers = (account_api.router, links_api.router, ingest_api.router, health.router, redirect_route.router)
    for router in routers:
        app.include_router(router)
    every_route = [*app.routes, *(route for router in routers for route in router.routes)]

    @app.exception_handler(StoreError)
    async def store_unavailable(request: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse({"detail": "the link database is unavailable; try again"}, status_code=503)

    @app.exception_handler(405)
    async def method_not_allowed(request: Request, exc: Exception) -> JSONResponse:
        # Starlette's Allow names only the first route of the path; every method of the path's routes is.
        allowed = sorted(allowed_methods(every_route, request.scope))
        detail = f"{request.method} is not allowed here; allowed: {', '.join(allowed)}"
        return JSONResponse({"detail": detail}, status_code=405, headers={"Allow": ", ".join(allowed)})

    return RedirectFront(app, redirector, own_paths(every_route))


def allowed_methods(routes: Iterable[BaseRoute], scope: Scope) -> set[str]:
    """Every method some route of ``routes`` answers for the path of ``scope``."""
    found: set[str] = set()
    for route in routes:
        if isinstance(route, Route) and route.matches(scope)[0] is not Match.NONE:
            found |= route.methods or set()
    return found


SALT_CHECK_SECONDS = 60.0
"""How often the day salts are checked: a new day's is known a day ahead, an old one destroyed."""


async def _keep_salts(store: KeyStore, salts: DailySalts, clock: Callable[[], datetime]) -> None:
    """Rotate the salts every ``SALT_CHECK_SECONDS``; a database that does not answer is tried again (the
    salts known go on serving: yesterday's to tomorrow's)."""
    while True:
        await asyncio.sleep(SALT_CHECK_SECONDS)
        try:
            await rotate(store, salts, clock().date())
        except StoreError as exc:
            log.warning("could not rotate the visitor salts (%s): trying again", exc)


def _default_publisher(
    settings: ProducerSettings, metrics: ProducerMetrics
) -> tuple[ClickPublisher, SpoolSlot | None]:
    """Kafka with a spool directory of this process's own (several may serve one data directory)."""
    if not settings.publish:
        return DiscardingClickPublisher(), None
    codec = LinkClickCodec()
    if settings.schema_registry_url:
        registry = SchemaRegistryClient(settings.schema_registry_url)
        codec = LinkClickCodec(link_click_codec(registry, settings.clicks_topic))

    auth = BrokerAuth()  # CLICKPIPE_KAFKA_*: read now, so a bad setting fails the start

    async def connect() -> AIOKafkaProducer:
        idempotent = settings.enable_idempotence
        if idempotent == "auto":
            idempotent = await supports_idempotence(settings.bootstrap_servers, auth=auth)
        return kafka_producer(
            settings.bootstrap_servers,
            enable_idempotence=idempotent,
            linger_ms=settings.linger_ms,
            request_timeout_ms=settings.request_timeout_ms,
            auth=auth,
        )

    slot = claim_slot(settings.spool_dir)
    if slot.adopted:
        log.warning("adopted %d spool segments left by processes that are gone", slot.adopted)
    publisher = KafkaClickPublisher(
        connect,
        Spool(slot.directory, fsync=settings.spool_fsync, max_bytes=settings.spool_max_bytes),
        settings.clicks_topic,
        metrics,
        queue_size=settings.queue_size,
        batch_size=settings.send_batch_size,
        drain_timeout=settings.drain_seconds,
        codec=codec,
        rejected=FileRejectedSink(settings.rejected_dir),
        send_timeout=settings.request_timeout_ms / 1000 + 1,
        max_event_bytes=settings.max_event_bytes,
        sender_thread=settings.sender_thread,
        build_slice=settings.send_slice_size,
    )
    return publisher, slot
