"""The SQLite link store: a file in the data directory, created on first start.

Plain SQL over five tables (accounts, api_keys, links, link_destinations, retired_slugs) with TEXT ids and
ISO-8601 UTC times, so the schema moves to PostgreSQL as it is. All database work runs on one dedicated
thread, off the event loop. WAL mode lets several producer processes share the file. The file (and the WAL
files SQLite makes beside it, with its mode) is 0600, its directory 0700: it holds every account's links.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

from producer.errors import LinkExistsError, StoreError
from producer.keys import hash_api_key
from producer.links import Account, Link

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    account_id  TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_keys (
    key_hash    TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (account_id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS links (
    link_id              TEXT PRIMARY KEY,
    account_id           TEXT NOT NULL REFERENCES accounts (account_id) ON DELETE CASCADE,
    slug                 TEXT NOT NULL UNIQUE,
    default_destination  TEXT NOT NULL,
    disabled             INTEGER NOT NULL DEFAULT 0,
    expires_at           TEXT,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS links_by_account ON links (account_id, link_id);
CREATE TABLE IF NOT EXISTS retired_slugs (
    slug        TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL,
    retired_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS visitor_salts (
    day   TEXT PRIMARY KEY,
    salt  BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS link_destinations (
    link_id      TEXT NOT NULL REFERENCES links (link_id) ON DELETE CASCADE,
    country      TEXT NOT NULL,
    destination  TEXT NOT NULL,
    PRIMARY KEY (link_id, country)
);
"""

_LINK_COLUMNS = "link_id, account_id, slug, default_destination, disabled, expires_at, created_at, updated_at"


_WAL_WAIT_SECONDS = 10.0


def _use_wal(db: sqlite3.Connection) -> None:
    """Put the file in WAL mode (kept in the file: a no-op once done). Changing the mode takes the file
    whole, and SQLite may answer "database is locked" at once, without waiting, while another process
    opens it (several producer processes starting together): so wait here, briefly, and ask again."""
    deadline = time.monotonic() + _WAL_WAIT_SECONDS
    while True:
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class SqliteStore:
    """LinkStore and KeyStore on a SQLite file. Call ``close`` when done."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")
        self._db: sqlite3.Connection | None = None
        try:
            self._executor.submit(self._open).result()
        except (sqlite3.Error, OSError) as exc:
            self._executor.shutdown()
            raise StoreError(f"cannot open the link database {path}: {exc}") from exc

    def _open(self) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path.parent.chmod(0o700)
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))  # so SQLite never makes it 0644
        self.path.chmod(0o600)
        db = sqlite3.connect(self.path, isolation_level=None)  # autocommit; explicit transactions below
        db.execute("PRAGMA busy_timeout=5000")
        _use_wal(db)
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA secure_delete=ON")  # a deleted salt is overwritten, not left in a free page
        db.executescript(SCHEMA)
        self._db = db

    def close(self) -> None:
        """Close the database. Safe to call more than once."""
        if self._db is not None:
            db, self._db = self._db, None
            self._executor.submit(db.close).result()
        self._executor.shutdown()

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            if self._db is None:
                raise StoreError("the link database is closed")
            return work(self._db)

        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, call)
        except sqlite3.Error as exc:
            raise StoreError(f"link database error: {exc}") from exc

    async def get_by_slug(self, slug: str) -> Link | None:
        """Return the link with this slug, or None."""
        return await self._run(lambda db: _one(db, "slug = ?", (slug,)))

    async def get(self, account_id: str, link_id: str) -> Link | None:
        """Return the account's link, or None."""
        return await self._run(lambda db: _one(db, "link_id = ? AND account_id = ?", (link_id, account_id)))

    async def list(self, account_id: str, *, limit: int, after: str | None = None) -> list[Link]:
        """Return a page of the account's links, ordered by id."""

        def work(db: sqlite3.Connection) -> list[Link]:
            rows = db.execute(
                f"SELECT {_LINK_COLUMNS} FROM links WHERE account_id = ? AND link_id > ? "  # noqa: S608
                "ORDER BY link_id LIMIT ?",
                (account_id, after or "", limit),
            ).fetchall()
            return [_link(db, row) for row in rows]

        return await self._run(work)

    async def create(self, link: Link) -> None:
        """Store a new link; LinkExistsError when the slug is taken."""

        def work(db: sqlite3.Connection) -> None:
            with _transaction(db):
                _check_slug_free(db, link)
                if db.execute("SELECT 1 FROM links WHERE slug = ?", (link.slug,)).fetchone() is not None:
                    raise LinkExistsError(link.slug)  # this very link: another process created it first
                db.execute(
                    f"INSERT INTO links ({_LINK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
                    _row(link),
                )
                _write_destinations(db, link)

        await self._run(work)

    async def update(self, link: Link) -> None:
        """Replace a stored link; LinkExistsError when its new slug is taken."""

        def work(db: sqlite3.Connection) -> None:
            with _transaction(db):
                _check_slug_free(db, link)
                old = _one(db, "link_id = ? AND account_id = ?", (link.link_id, link.account_id))
                if old is not None and old.slug != link.slug:
                    _retire(db, old)
                db.execute(
                    "UPDATE links SET slug = ?, default_destination = ?, disabled = ?, expires_at = ?, "
                    "updated_at = ? WHERE link_id = ? AND account_id = ?",
                    (
                        link.slug,
                        link.default_destination,
                        int(link.disabled),
                        _iso(link.expires_at),
                        _iso(link.updated_at),
                        link.link_id,
                        link.account_id,
                    ),
                )
                db.execute("DELETE FROM link_destinations WHERE link_id = ?", (link.link_id,))
                _write_destinations(db, link)

        await self._run(work)

    async def delete(self, account_id: str, link_id: str) -> Link | None:
        """Delete the account's link; return it, or None."""

        def work(db: sqlite3.Connection) -> Link | None:
            with _transaction(db):
                link = _one(db, "link_id = ? AND account_id = ?", (link_id, account_id))
                if link is not None:
                    db.execute("DELETE FROM links WHERE link_id = ?", (link_id,))
                    _retire(db, link)
                return link

        return await self._run(work)

    async def add_account(self, account: Account) -> None:
        """Store an account unless one with that id exists."""
        await self._run(
            lambda db: db.execute(
                "INSERT OR IGNORE INTO accounts (account_id, name, created_at) VALUES (?, ?, ?)",
                (account.account_id, account.name, _iso(account.created_at)),
            )
        )

    async def get_account(self, account_id: str) -> Account | None:
        """Return the account, or None."""

        def work(db: sqlite3.Connection) -> Account | None:
            row = db.execute(
                "SELECT account_id, name, created_at FROM accounts WHERE account_id = ?", (account_id,)
            ).fetchone()
            return None if row is None else Account(row[0], row[1], datetime.fromisoformat(row[2]))

        return await self._run(work)

    async def add_key(self, account_id: str, key: str) -> None:
        """Store the hash of an API key for the account."""
        now = _iso(datetime.now().astimezone())
        await self._run(
            lambda db: db.execute(
                "INSERT OR IGNORE INTO api_keys (key_hash, account_id, created_at) VALUES (?, ?, ?)",
                (hash_api_key(key), account_id, now),
            )
        )

    async def account_for_key(self, key: str) -> str | None:
        """Return the key's account id, or None."""

        def work(db: sqlite3.Connection) -> str | None:
            row = db.execute(
                "SELECT account_id FROM api_keys WHERE key_hash = ?", (hash_api_key(key),)
            ).fetchone()
            return None if row is None else str(row[0])

        return await self._run(work)

    async def revoke_key(self, key: str) -> bool:
        """Delete the key's hash; return whether it was stored."""
        cursor = await self._run(
            lambda db: db.execute("DELETE FROM api_keys WHERE key_hash = ?", (hash_api_key(key),))
        )
        return cursor.rowcount > 0

    async def day_salt(self, day: date, fresh: bytes) -> bytes:
        """The salt of ``day``; ``fresh`` is stored first when it has none (the first process wins)."""

        def work(db: sqlite3.Connection) -> bytes:
            key = day.isoformat()
            db.execute("INSERT OR IGNORE INTO visitor_salts (day, salt) VALUES (?, ?)", (key, fresh))
            row = db.execute("SELECT salt FROM visitor_salts WHERE day = ?", (key,)).fetchone()
            return bytes(row[0])

        return await self._run(work)

    async def forget_salts(self, before: date) -> int:
        """Delete the salts of the days before ``before``, and the WAL frames that still held them."""

        def work(db: sqlite3.Connection) -> int:
            cursor = db.execute("DELETE FROM visitor_salts WHERE day < ?", (before.isoformat(),))
            if cursor.rowcount:
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return cursor.rowcount

        return await self._run(work)


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")


def _check_slug_free(db: sqlite3.Connection, link: Link) -> None:
    """Raise LinkExistsError when another link has ``link``'s slug, or it left a link of another account
    (links already shared must not start leading to another account's destination). Called inside the
    write transaction, which holds the database's write lock, so no other writer can take the slug before
    the insert; the UNIQUE constraint stays as a backstop."""
    taken = db.execute(
        "SELECT 1 FROM links WHERE slug = ? AND link_id != ?", (link.slug, link.link_id)
    ).fetchone()
    retired = db.execute("SELECT account_id FROM retired_slugs WHERE slug = ?", (link.slug,)).fetchone()
    if taken is not None or (retired is not None and retired[0] != link.account_id):
        raise LinkExistsError(link.slug)


def _retire(db: sqlite3.Connection, link: Link) -> None:
    db.execute(
        "INSERT OR REPLACE INTO retired_slugs (slug, account_id, retired_at) VALUES (?, ?, ?)",
        (link.slug, link.account_id, _iso(datetime.now().astimezone())),
    )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _row(link: Link) -> tuple[object, ...]:
    return (
        link.link_id,
        link.account_id,
        link.slug,
        link.default_destination,
        int(link.disabled),
        _iso(link.expires_at),
        _iso(link.created_at),
        _iso(link.updated_at),
    )


def _write_destinations(db: sqlite3.Connection, link: Link) -> None:
    db.executemany(
        "INSERT INTO link_destinations (link_id, country, destination) VALUES (?, ?, ?)",
        [(link.link_id, country, url) for country, url in link.country_destinations.items()],
    )


def _one(db: sqlite3.Connection, where: str, params: tuple[str, ...]) -> Link | None:
    row = db.execute(f"SELECT {_LINK_COLUMNS} FROM links WHERE {where}", params).fetchone()  # noqa: S608
    return None if row is None else _link(db, row)


def _link(db: sqlite3.Connection, row: tuple[object, ...]) -> Link:
    link_id, account_id, slug, default, disabled, expires_at, created_at, updated_at = row
    destinations = db.execute(
        "SELECT country, destination FROM link_destinations WHERE link_id = ? ORDER BY country", (link_id,)
    ).fetchall()
    return Link(
        link_id=str(link_id),
        account_id=str(account_id),
        slug=str(slug),
        default_destination=str(default),
        country_destinations=MappingProxyType({str(c): str(d) for c, d in destinations}),
        created_at=datetime.fromisoformat(str(created_at)),
        updated_at=datetime.fromisoformat(str(updated_at)),
        disabled=bool(disabled),
        expires_at=None if expires_at is None else datetime.fromisoformat(str(expires_at)),
    )
