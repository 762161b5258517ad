"""Every link in memory, kept fresh by PostgreSQL's LISTEN/NOTIFY: the ``LinkView`` of the PostgreSQL store.

The redirect reads a dict and never waits on the database. ``start`` LISTENs on ``NOTIFY_CHANNEL``, then
loads every link (a change committed during the load is notified after it, so nothing falls between). A
background task then re-reads each slug the schema's triggers notify, within milliseconds of the commit,
whichever producer (or operator) made it. When the connection is lost the view goes on answering the links
it has, reconnects with backoff and reloads them all (the changes missed meanwhile). Notifications that
arrive together (a bulk change) are re-read in one statement. A quiet connection is
pinged every ``heartbeat`` seconds, so a dead one is noticed even when no change comes.

The task is supervised: ``state`` says what it is doing, a done-callback records a failure (``failed``,
logged with its traceback), and ``listening`` is an Event to wait on.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Collection
from typing import Any, Literal, Protocol

import psycopg
from psycopg import AsyncConnection

from producer.errors import StoreError
from producer.links import Link
from producer.postgres_schema import NOTIFY_CHANNEL

log = logging.getLogger(__name__)

_STOP_SECONDS = 5.0
_READ_BATCH = 1000  # slugs re-read in one statement
ViewState = Literal["new", "listening", "reconnecting", "stopped", "failed"]
Connection = AsyncConnection[tuple[Any, ...]]


class LinkSource(Protocol):
    """Where the view reads links from (``PostgresStore``)."""

    async def all_links(self) -> list[Link]:
        """Every link."""
        ...

    async def get_many(self, slugs: Collection[str]) -> list[Link]:
        """The links with these slugs (those that exist)."""
        ...


class NotifiedLinks:
    """Links by slug in a dict, re-read when PostgreSQL notifies a change.

    Args:
        source: reads links (a pool of its own; the listening connection only listens).
        connect: opens the connection to LISTEN on (raises StoreError when the server cannot be reached).
        heartbeat: seconds of quiet after which the connection is pinged.
        backoff: the first and the longest pause between reconnection attempts, in seconds (each pause
            is jittered down to half).
        on_lost: called when the listening connection is lost (the store's pool can then stop waiting
            long for a server the listener already knows is gone).
    """

    def __init__(
        self,
        source: LinkSource,
        connect: Callable[[], Awaitable[Connection]],
        *,
        heartbeat: float = 5.0,
        backoff: tuple[float, float] = (0.1, 5.0),
        on_lost: Callable[[], None] = lambda: None,
    ) -> None:
        self._source = source
        self._on_lost = on_lost
        self._connect = connect
        self._heartbeat = heartbeat
        self._backoff = backoff
        self._links: dict[str, Link] = {}
        self._connection: Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self.state: ViewState = "new"
        self.failure: BaseException | None = None
        self.loads = 0  # whole loads: 1 after start, one more per reconnection
        self.listening = asyncio.Event()

    def __len__(self) -> int:
        return len(self._links)

    async def get(self, slug: str) -> Link | None:
        """Return the link with this slug, or None, from memory (never from the database)."""
        return self._links.get(slug)

    async def refresh(self, *slugs: str) -> None:
        """Re-read these slugs now, after a write through this process, so its next click sees the write.
        A failed read is left to the listener (its notification, or the reload after reconnecting)."""
        try:
            await self._reread(slugs)
        except StoreError as exc:
            log.warning("could not re-read links %s after a write; the listener will: %s", slugs, exc)

    async def start(self) -> None:
        """Listen and load every link, then keep them fresh in the background; StoreError when the
        database cannot be reached (the service should not start without its links)."""
        if self._task is not None:
            return
        await self._load()
        self._task = asyncio.create_task(self._run(), name="notified-links")
        self._task.add_done_callback(self._on_done)

    async def stop(self) -> None:
        """Stop listening and close the connection. Safe to call more than once."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            done, _ = await asyncio.wait([task], timeout=_STOP_SECONDS)
            if not done:  # a query that would not give up: shutting down matters more
                log.warning("the link view's task did not stop within %s s; leaving it", _STOP_SECONDS)
        await self._close()
        if self.state != "failed":
            self.state = "stopped"
        self.listening.clear()

    async def _load(self) -> None:
        connection = await self._connect()
        try:
            await connection.execute(f"LISTEN {NOTIFY_CHANNEL}".encode())
            links = await self._source.all_links()
        except BaseException:  # cancelled too: the connection must not outlive the attempt
            await connection.close()
            raise
        self._links = {link.slug: link for link in links}
        self._connection = connection
        self.loads += 1
        self.state = "listening"
        self.listening.set()

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
            except (psycopg.Error, StoreError, OSError, TimeoutError) as exc:
                log.warning("lost the link database (%s); answering the %d links known", _why(exc), len(self))
            self.state = "reconnecting"
            self._on_lost()
            self.listening.clear()
            await self._close()
            await self._reconnect()

    async def _listen(self) -> None:
        connection = self._connection
        assert connection is not None, "listening before the first load"  # noqa: S101
        while True:
            changed = set()
            async for notify in connection.notifies(timeout=self._heartbeat, stop_after=1):
                changed.add(notify.payload)
            if not changed:
                async with asyncio.timeout(self._heartbeat):
                    await connection.execute(b"SELECT 1")
                continue
            async for notify in connection.notifies(timeout=0):  # what else has arrived: one read for all
                changed.add(notify.payload)
            await self._reread(changed)

    async def _reread(self, slugs: Collection[str]) -> None:
        """Read these slugs from the store into the dict (a slug not found there is gone)."""
        ordered = sorted(slugs)
        for start in range(0, len(ordered), _READ_BATCH):
            batch = ordered[start : start + _READ_BATCH]
            found = {link.slug: link for link in await self._source.get_many(batch)}
            for slug in batch:
                self._put(slug, found.get(slug))

    async def _reconnect(self) -> None:
        delay, longest = self._backoff
        while True:
            # Jittered, so producers that lost the database together do not all reload at the same moment.
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311 (not a secret)
            try:
                await self._load()
            except (psycopg.Error, StoreError, OSError) as exc:
                delay = min(delay * 2, longest)
                log.warning("link database still unreachable (%s); next try within %.1f s", _why(exc), delay)
                continue
            log.info("link database back: %d links reloaded, listening again", len(self))
            return

    def _put(self, slug: str, link: Link | None) -> None:
        if link is None:
            self._links.pop(slug, None)
        else:
            self._links[slug] = link

    async def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await connection.close()
            except psycopg.Error as exc:  # already broken: nothing more to release
                log.debug("closing the listening connection: %s", exc)

    def _on_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        self.failure = task.exception()
        self.state = "failed"
        self.listening.clear()
        log.error("the link view stopped following changes; links stay as they were", exc_info=self.failure)


def _why(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
