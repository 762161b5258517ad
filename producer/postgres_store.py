"""The PostgreSQL link store: accounts, keys and links shared by every producer on one database.

The same tables and rules as the SQLite store (``postgres_schema``), over a small psycopg 3 connection pool.
``open`` applies the migrations; every write is one transaction, and the schema's triggers tell the other
producers which slugs it changed. Writes that take a slug hold a transaction-level advisory lock on it, so
two producers cannot both find a slug free and take it (the UNIQUE constraint stays as a backstop).
Connections run in UTC and autocommit outside explicit transactions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from types import MappingProxyType
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import AsyncConnection
from psycopg.errors import UniqueViolation
from psycopg_pool import AsyncConnectionPool

from producer.errors import LinkExistsError, StoreError
from producer.keys import hash_api_key
from producer.links import Account, Link
from producer.postgres_schema import migrate

T = TypeVar("T")
Connection = AsyncConnection[tuple[Any, ...]]

SLUG_LOCK = 0x736C7567  # the advisory lock class of slugs ("slug"), with the slug's hash as the key
_SLUG_CONSTRAINT = "links_slug_key"
_WAIT_WHILE_DOWN = 0.5  # seconds a request waits for a connection while the database is known to be down
_LINK_COLUMNS = "link_id, account_id, slug, default_destination, disabled, expires_at, created_at, updated_at"


def redacted(url: str) -> str:
    """``url`` without its password, for logs and error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


async def connect(url: str) -> Connection:
    """A connection of the store's kind (autocommit, UTC); StoreError when the server cannot be reached."""
    try:
        connection: Connection = await AsyncConnection.connect(url, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        raise StoreError(f"cannot reach the link database {redacted(url)}: {_reason(exc)}") from exc
    try:
        await _configure(connection)
    except BaseException as exc:
        await connection.close()
        if isinstance(exc, psycopg.Error):
            raise StoreError(f"cannot reach the link database {redacted(url)}: {_reason(exc)}") from exc
        raise
    return connection


class PostgresStore:
    """LinkStore and KeyStore on PostgreSQL. ``await open()`` before use, ``await close()`` when done."""

    def __init__(self, url: str, *, max_connections: int = 4, timeout: float = 5.0) -> None:
        self.url = url
        self._max = max_connections
        self._timeout = timeout
        self._pool: AsyncConnectionPool[Connection] | None = None
        self._reachable = True  # False from a connection failure until a connection is had again

    def __repr__(self) -> str:
        return f"PostgresStore({redacted(self.url)!r})"

    async def open(self) -> list[int]:
        """Connect and apply the migrations the database lacks; return the versions applied now."""
        connection = await connect(self.url)
        try:
            applied = await migrate(connection)
        except psycopg.Error as exc:
            raise StoreError(f"cannot migrate the link database: {_reason(exc)}") from exc
        finally:
            await connection.close()
        pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
            self.url,
            min_size=1,
            max_size=self._max,
            timeout=self._timeout,
            kwargs={"autocommit": True, "connect_timeout": 5},
            configure=_configure,
            check=AsyncConnectionPool.check_connection,  # a server restart leaves dead idle connections
            open=False,
            name="links",
        )
        try:
            await pool.open(wait=True, timeout=self._timeout)
        except psycopg.Error as exc:
            await pool.close()
            raise StoreError(f"cannot reach the link database {redacted(self.url)}: {_reason(exc)}") from exc
        self._pool = pool
        return applied

    def lost(self) -> None:
        """The database was found unreachable elsewhere (the link view's listener): until a connection is
        had again, requests wait only a moment for one."""
        self._reachable = False

    async def close(self) -> None:
        """Close the pool. Safe to call more than once."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    @asynccontextmanager
    async def _connection(self, slug: str | None = None) -> AsyncIterator[Connection]:
        """A pooled connection; psycopg's errors become StoreError, or LinkExistsError when ``slug`` (the
        one being written) hit the slugs' UNIQUE constraint."""
        if self._pool is None:
            raise StoreError("the link database is not open")
        # While the database is known to be down, a request waits a moment for the pool's reconnection, not
        # the whole timeout: an API call then answers 503 at once instead of hanging for seconds.
        wait = self._timeout if self._reachable else min(self._timeout, _WAIT_WHILE_DOWN)
        try:
            async with self._pool.connection(timeout=wait) as connection:
                self._reachable = True
                yield connection
        except psycopg.OperationalError as exc:  # connection refused, lost, or none within ``wait``
            self._reachable = False
            raise StoreError(f"link database error: {_reason(exc)}") from exc
        except UniqueViolation as exc:
            if slug is not None and exc.diag.constraint_name == _SLUG_CONSTRAINT:
                raise LinkExistsError(slug) from exc
            raise StoreError(f"link database error: {_reason(exc)}") from exc
        except psycopg.Error as exc:
            raise StoreError(f"link database error: {_reason(exc)}") from exc

    async def _run(self, work: Callable[[Connection], Awaitable[T]]) -> T:
        async with self._connection() as connection:
            return await work(connection)

    async def _write(self, work: Callable[[Connection], Awaitable[T]], slug: str | None = None) -> T:
        async with self._connection(slug) as connection, connection.transaction():
            return await work(connection)

    async def all_links(self) -> list[Link]:
        """Every link of every account (a producer's view loads them at start)."""
        return await self._run(lambda db: _links(db, "TRUE", ()))

    async def get_by_slug(self, slug: str) -> Link | None:
        """Return the link with this slug, or None."""
        return await self._run(lambda db: _one(db, "slug = %s", (slug,)))

    async def get_many(self, slugs: Collection[str]) -> list[Link]:
        """The links with these slugs (those that exist), in one statement."""
        return await self._run(lambda db: _links(db, "slug = ANY(%s)", (list(slugs),)))

    async def get(self, account_id: str, link_id: str) -> Link | None:
        """Return the account's link, or None."""
        return await self._run(lambda db: _one(db, "link_id = %s AND account_id = %s", (link_id, account_id)))

    async def list(self, account_id: str, *, limit: int, after: str | None = None) -> list[Link]:
        """Return a page of the account's links, ordered by id."""
        return await self._run(
            lambda db: _links(
                db,
                "account_id = %s AND link_id > %s ORDER BY link_id LIMIT %s",
                (account_id, after or "", limit),
            )
        )

    async def create(self, link: Link) -> None:
        """Store a new link; LinkExistsError when the slug is taken."""

        async def work(db: Connection) -> None:
            await _check_slug_free(db, link, creating=True)
            await db.execute(
                f"INSERT INTO links ({_LINK_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",  # noqa: S608
                _row(link),
            )
            await _write_destinations(db, link)

        await self._write(work, link.slug)

    async def update(self, link: Link) -> None:
        """Replace a stored link; LinkExistsError when its new slug is taken."""

        async def work(db: Connection) -> None:
            await _check_slug_free(db, link, creating=False)
            old = await _one(
                db, "link_id = %s AND account_id = %s FOR UPDATE", (link.link_id, link.account_id)
            )
            if old is None:
                return
            if old.slug != link.slug:
                await _retire(db, old)
            await db.execute(
                "UPDATE links SET slug = %s, default_destination = %s, disabled = %s, expires_at = %s, "
                "updated_at = %s WHERE link_id = %s AND account_id = %s",
                (
                    link.slug,
                    link.default_destination,
                    link.disabled,
                    link.expires_at,
                    link.updated_at,
                    link.link_id,
                    link.account_id,
                ),
            )
            await db.execute("DELETE FROM link_destinations WHERE link_id = %s", (link.link_id,))
            await _write_destinations(db, link)

        await self._write(work, link.slug)

    async def delete(self, account_id: str, link_id: str) -> Link | None:
        """Delete the account's link; return it, or None."""

        async def work(db: Connection) -> Link | None:
            link = await _one(db, "link_id = %s AND account_id = %s FOR UPDATE", (link_id, account_id))
            if link is not None:
                await db.execute("DELETE FROM links WHERE link_id = %s", (link_id,))
                await _retire(db, link)
            return link

        return await self._write(work)

    async def add_account(self, account: Account) -> None:
        """Store an account unless one with that id exists."""
        await self._run(
            lambda db: db.execute(
                "INSERT INTO accounts (account_id, name, created_at) VALUES (%s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                (account.account_id, account.name, account.created_at),
            )
        )

    async def get_account(self, account_id: str) -> Account | None:
        """Return the account, or None."""

        async def work(db: Connection) -> Account | None:
            cursor = await db.execute(
                "SELECT account_id, name, created_at FROM accounts WHERE account_id = %s", (account_id,)
            )
            row = await cursor.fetchone()
            return None if row is None else Account(row[0], row[1], row[2])

        return await self._run(work)

    async def add_key(self, account_id: str, key: str) -> None:
        """Store the hash of an API key for the account."""
        await self._run(
            lambda db: db.execute(
                "INSERT INTO api_keys (key_hash, account_id, created_at) VALUES (%s, %s, now()) "
                "ON CONFLICT DO NOTHING",
                (hash_api_key(key), account_id),
            )
        )

    async def account_for_key(self, key: str) -> str | None:
        """Return the key's account id, or None."""

        async def work(db: Connection) -> str | None:
            cursor = await db.execute(
                "SELECT account_id FROM api_keys WHERE key_hash = %s", (hash_api_key(key),)
            )
            row = await cursor.fetchone()
            return None if row is None else str(row[0])

        return await self._run(work)

    async def revoke_key(self, key: str) -> bool:
        """Delete the key's hash; return whether it was stored."""

        async def work(db: Connection) -> bool:
            cursor = await db.execute("DELETE FROM api_keys WHERE key_hash = %s", (hash_api_key(key),))
            return cursor.rowcount > 0

        return await self._run(work)

    async def day_salt(self, day: date, fresh: bytes) -> bytes:
        """The salt of ``day``; ``fresh`` is stored first when it has none (the first producer wins)."""

        async def work(db: Connection) -> bytes:
            # One statement: the row inserted now, or (ON CONFLICT) the one stored before.
            cursor = await db.execute(
                "INSERT INTO visitor_salts (day, salt) VALUES (%s, %s) "
                "ON CONFLICT (day) DO UPDATE SET salt = visitor_salts.salt RETURNING salt",
                (day, fresh),
            )
            row = await cursor.fetchone()
            if row is None:
                raise StoreError(f"no salt stored for {day}")
            return bytes(row[0])

        return await self._run(work)

    async def forget_salts(self, before: date) -> int:
        """Delete the salts of the days before ``before``."""

        async def work(db: Connection) -> int:
            cursor = await db.execute("DELETE FROM visitor_salts WHERE day < %s", (before,))
            return cursor.rowcount

        return await self._run(work)


async def _configure(connection: Connection) -> None:
    await connection.execute("SET TIME ZONE 'UTC'")


def _reason(exc: psycopg.Error) -> str:
    """The server's or libpq's message, which names no password."""
    if isinstance(exc, psycopg.DatabaseError) and exc.diag.message_primary:
        return exc.diag.message_primary
    return str(exc) or type(exc).__name__


async def _check_slug_free(db: Connection, link: Link, *, creating: bool) -> None:
    """Raise LinkExistsError when another link has ``link``'s slug (any link, when ``creating``: another
    producer may have created this very one first), or it left a link of another account. The advisory
    lock on the slug, held to the end of the transaction, keeps another writer from taking it between this
    check and the write."""
    await db.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (SLUG_LOCK, link.slug))
    cursor = await db.execute(
        "SELECT (SELECT 1 FROM links WHERE slug = %s AND link_id <> %s), "
        "(SELECT account_id FROM retired_slugs WHERE slug = %s)",
        (link.slug, "" if creating else link.link_id, link.slug),
    )
    row = await cursor.fetchone()
    taken, retired_to = row if row is not None else (None, None)
    if taken is not None or (retired_to is not None and retired_to != link.account_id):
        raise LinkExistsError(link.slug)


async def _retire(db: Connection, link: Link) -> None:
    await db.execute(
        "INSERT INTO retired_slugs (slug, account_id, retired_at) VALUES (%s, %s, now()) "
        "ON CONFLICT (slug) DO UPDATE SET account_id = EXCLUDED.account_id, retired_at = EXCLUDED.retired_at",
        (link.slug, link.account_id),
    )


def _row(link: Link) -> tuple[object, ...]:
    return (
        link.link_id,
        link.account_id,
        link.slug,
        link.default_destination,
        link.disabled,
        link.expires_at,
        link.created_at,
        link.updated_at,
    )


async def _write_destinations(db: Connection, link: Link) -> None:
    if link.country_destinations:
        async with db.cursor() as cursor:
            await cursor.executemany(
                "INSERT INTO link_destinations (link_id, country, destination) VALUES (%s, %s, %s)",
                [(link.link_id, country, url) for country, url in link.country_destinations.items()],
            )


async def _one(db: Connection, where: str, params: tuple[object, ...]) -> Link | None:
    found = await _links(db, where, params)
    return found[0] if found else None


async def _links(db: Connection, where: str, params: tuple[object, ...]) -> list[Link]:
    """The links matching ``where`` (a clause with ``%s`` placeholders, on ``links``), with their
    destinations: one statement, so one snapshot (a link is never read half-written)."""
    query = (
        f"SELECT {_LINK_COLUMNS}, (SELECT json_object_agg(country, destination ORDER BY country) "  # noqa: S608
        f"FROM link_destinations AS d WHERE d.link_id = links.link_id) FROM links WHERE {where}"
    )
    cursor = await db.execute(query.encode(), params)
    return [_link(row[:-1], row[-1] or {}) for row in await cursor.fetchall()]


def _link(row: Iterable[Any], destinations: dict[str, str]) -> Link:
    link_id, account_id, slug, default, disabled, expires_at, created_at, updated_at = row
    return Link(
        link_id=link_id,
        account_id=account_id,
        slug=slug,
        default_destination=default,
        country_destinations=MappingProxyType(destinations),
        created_at=_utc(created_at),
        updated_at=_utc(updated_at),
        disabled=bool(disabled),
        expires_at=None if expires_at is None else _utc(expires_at),
    )


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)
