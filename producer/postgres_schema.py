"""The PostgreSQL link store's schema, as numbered migrations applied at start.

Each producer applies what is missing in one transaction under ``pg_advisory_xact_lock``: producers starting
together wait for the first, then find nothing left to do. A producer killed half-way leaves nothing behind
(the transaction rolls back, the lock goes with its connection). The applied versions are rows of
``schema_migrations``. A migration, once released, is never edited: a change is a new one.

The tables are the SQLite store's, with native types. Triggers on ``links`` and ``link_destinations`` send
the slug of every link a transaction changes on ``NOTIFY_CHANNEL`` when it commits, whoever wrote it (this
service, or an operator's SQL): that keeps every producer's view of the links fresh (``notified_view``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

NOTIFY_CHANNEL = "clickpipe_links"  # spelt out in the migrations too: released migrations never change
MIGRATION_LOCK = 0x6C696E6B  # the advisory lock key the migrations hold ("link")


@dataclass(frozen=True, slots=True)
class Migration:
    """One step of the schema: applied once, in order of ``version``."""

    version: int
    name: str
    sql: str


MIGRATIONS = (
    Migration(
        1,
        "accounts, keys, links, destinations, retired slugs; NOTIFY on link changes",
        """
CREATE TABLE accounts (
    account_id  TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE TABLE api_keys (
    key_hash    TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (account_id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE TABLE links (
    link_id              TEXT PRIMARY KEY,
    account_id           TEXT NOT NULL REFERENCES accounts (account_id) ON DELETE CASCADE,
    slug                 TEXT NOT NULL CONSTRAINT links_slug_key UNIQUE,
    default_destination  TEXT NOT NULL,
    disabled             BOOLEAN NOT NULL DEFAULT FALSE,
    expires_at           TIMESTAMPTZ,
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL
);
CREATE INDEX links_by_account ON links (account_id, link_id);
CREATE TABLE retired_slugs (
    slug        TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL,
    retired_at  TIMESTAMPTZ NOT NULL
);
CREATE TABLE link_destinations (
    link_id      TEXT NOT NULL REFERENCES links (link_id) ON DELETE CASCADE,
    country      TEXT NOT NULL,
    destination  TEXT NOT NULL,
    PRIMARY KEY (link_id, country)
);

-- NOTIFY folds a payload sent twice in one transaction: a link written row by row is one message.
CREATE FUNCTION notify_link_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM pg_notify('clickpipe_links', OLD.slug);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM pg_notify('clickpipe_links', NEW.slug);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER links_notify AFTER INSERT OR UPDATE OR DELETE ON links
    FOR EACH ROW EXECUTE FUNCTION notify_link_change();

CREATE FUNCTION notify_destination_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed TEXT;
BEGIN
    SELECT slug INTO changed FROM links
        WHERE link_id = CASE WHEN TG_OP = 'DELETE' THEN OLD.link_id ELSE NEW.link_id END;
    IF changed IS NOT NULL THEN  -- NULL: the link itself is being deleted, and says so
        PERFORM pg_notify('clickpipe_links', changed);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER link_destinations_notify AFTER INSERT OR UPDATE OR DELETE ON link_destinations
    FOR EACH ROW EXECUTE FUNCTION notify_destination_change();
""",
    ),
    Migration(
        2,
        "visitor-key salts: one random salt a day, shared by every producer, destroyed after two days",
        """
CREATE TABLE visitor_salts (
    day   DATE PRIMARY KEY,
    salt  BYTEA NOT NULL
);
""",
    ),
)


async def migrate(
    connection: AsyncConnection[tuple[Any, ...]], migrations: tuple[Migration, ...] = MIGRATIONS
) -> list[int]:
    """Apply the migrations the database lacks, in one transaction; return the versions applied now."""
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        cursor = await connection.execute("SELECT version FROM schema_migrations")
        done = {int(row[0]) for row in await cursor.fetchall()}
        applied = []
        for migration in sorted(migrations, key=lambda m: m.version):
            if migration.version in done:
                continue
            await connection.execute(migration.sql.encode())
            await connection.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                (migration.version, migration.name),
            )
            applied.append(migration.version)
    return applied
