"""Where a producer keeps its links, chosen by the settings: the SQLite file read through the TTL cache
(the default), or PostgreSQL read through the notified view (``DATABASE_URL``). See docs/link-store.md."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

from producer.cache import LinkCache
from producer.links import LinkView, Store
from producer.metrics import ProducerMetrics
from producer.notified_view import NotifiedLinks
from producer.postgres_store import PostgresStore, connect, redacted
from producer.settings import ProducerSettings
from producer.sqlite_store import SqliteStore


class LinkBackend(Protocol):
    """A store and the view the redirect reads it through, started and stopped in the app's lifespan."""

    @property
    def store(self) -> Store: ...

    @property
    def view(self) -> LinkView: ...

    @property
    def description(self) -> str:
        """Which database, for messages (never with its password)."""
        ...

    async def start(self) -> None:
        """Open the store and load the view; StoreError when the database cannot be reached."""
        ...

    async def stop(self) -> None:
        """Stop the view and close the store; safe to call more than once."""
        ...


class SqliteBackend:
    """The SQLite file (opened now: a bad path fails at once) behind the TTL cache."""

    def __init__(self, settings: ProducerSettings) -> None:
        self.store = SqliteStore(settings.database_path)
        self.view = LinkCache(self.store, ttl=settings.link_cache_seconds)
        self.description = str(settings.database_path)

    async def start(self) -> None:
        """Nothing to do: the file was opened when this was made."""

    async def stop(self) -> None:
        """Close the file."""
        self.store.close()


class PostgresBackend:
    """PostgreSQL behind the notified view (every link in memory)."""

    def __init__(self, url: str, metrics: ProducerMetrics | None = None) -> None:
        self.store = PostgresStore(url)
        self.view = NotifiedLinks(self.store, lambda: connect(url), on_lost=self.store.lost)
        self.description = redacted(url)
        if metrics is not None:
            metrics.follow_link_view(self.view)

    async def start(self) -> None:
        """Apply the migrations, open the pool, load every link and listen."""
        await self.store.open()
        try:
            await self.view.start()
        except BaseException:
            await self.store.close()
            raise

    async def stop(self) -> None:
        """Stop listening, close the pool."""
        await self.view.stop()
        await self.store.close()


def link_backend(settings: ProducerSettings, metrics: ProducerMetrics | None = None) -> LinkBackend:
    """The backend the settings name: PostgreSQL when a database URL is set, else the SQLite file."""
    url = settings.postgres_url()
    return PostgresBackend(url, metrics) if url is not None else SqliteBackend(settings)


@asynccontextmanager
async def opened_store(settings: ProducerSettings) -> AsyncIterator[tuple[Store, str]]:
    """The settings' store, open, with its description (for the command line: no view, no listener)."""
    url = settings.postgres_url()
    if url is None:
        sqlite = SqliteStore(settings.database_path)
        try:
            yield sqlite, str(settings.database_path)
        finally:
            sqlite.close()
        return
    postgres = PostgresStore(url)
    await postgres.open()
    try:
        yield postgres, redacted(url)
    finally:
        await postgres.close()
