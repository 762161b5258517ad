"""The PostgreSQL link store's migrations and its notified view, on a real PostgreSQL (``tests.postgres``)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Collection
from datetime import UTC, datetime
from types import MappingProxyType

import psycopg
import pytest

from producer.links import Account, Link, new_id
from producer.notified_view import NotifiedLinks
from producer.postgres_schema import MIGRATIONS, Migration
from producer.postgres_store import PostgresStore, connect
from tests.postgres import LocalPostgres, with_database

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 12, 4, 12, tzinfo=UTC)
PROPAGATION_LIMIT = 1.0  # seconds: a change through one producer is live on every other within this


def link(slug: str, **extra: object) -> Link:
    return Link(
        link_id=new_id(),
        account_id="alice",
        slug=slug,
        default_destination="https://example.com/",
        country_destinations=MappingProxyType({"DE": "https://example.de/"}),
        created_at=T0,
        updated_at=T0,
        **extra,  # type: ignore[arg-type]
    )


async def until(condition: Callable[[], object], timeout: float) -> float:
    """Wait until ``condition()`` is truthy; return the seconds it took (fail after ``timeout``)."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not true within {timeout} s")
        await asyncio.sleep(0.005)
    return time.monotonic() - started


async def opened(url: str) -> PostgresStore:
    store = PostgresStore(url)
    await store.open()
    await store.add_account(Account("alice", "alice", T0))
    return store


@pytest.fixture
async def writer(postgres_url: str) -> AsyncIterator[PostgresStore]:
    """The store another producer writes through."""
    store = await opened(postgres_url)
    yield store
    await store.close()


@pytest.fixture
async def view(postgres_url: str, writer: PostgresStore) -> AsyncIterator[NotifiedLinks]:
    """This producer's view, on a store of its own."""
    store = await opened(postgres_url)
    links = NotifiedLinks(store, lambda: connect(postgres_url), heartbeat=1.0, backoff=(0.05, 0.5))
    await links.start()
    yield links
    await links.stop()
    await store.close()


def known(view: NotifiedLinks, slug: str) -> Link | None:
    return view._links.get(slug)


async def test_migrations_are_applied_once_when_producers_start_together(postgres_url: str) -> None:
    stores = [PostgresStore(postgres_url) for _ in range(8)]
    try:
        applied = await asyncio.gather(*(store.open() for store in stores))
        every = [migration.version for migration in MIGRATIONS]
        assert sorted(applied) == [[]] * 7 + [every]
        async with await psycopg.AsyncConnection.connect(postgres_url) as connection:
            cursor = await connection.execute("SELECT version FROM schema_migrations ORDER BY version")
            assert await cursor.fetchall() == [(version,) for version in every]
    finally:
        for store in stores:
            await store.close()


async def test_a_new_migration_is_applied_to_a_migrated_database(postgres_url: str) -> None:
    from producer.postgres_schema import migrate

    await (await opened(postgres_url)).close()
    next_version = MIGRATIONS[-1].version + 1
    later = (
        *MIGRATIONS,
        Migration(next_version, "a note on links", "ALTER TABLE links ADD COLUMN note TEXT"),
    )
    async with await psycopg.AsyncConnection.connect(postgres_url) as connection:
        assert await migrate(connection, later) == [next_version]
        assert await migrate(connection, later) == []


async def test_a_bad_url_names_no_password(postgres_url: str) -> None:
    wrong = postgres_url.replace("@", "-wrong@", 1)  # the password, wrong
    from producer.errors import StoreError

    with pytest.raises(StoreError) as refused:
        await PostgresStore(wrong).open()
    password = wrong.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    assert password not in str(refused.value)
    assert "***" in str(refused.value)


async def test_the_view_loads_every_link_at_start(postgres_url: str, writer: PostgresStore) -> None:
    await writer.create(link("early", disabled=True))
    store = await opened(postgres_url)
    links = NotifiedLinks(store, lambda: connect(postgres_url))
    try:
        await links.start()
        found = await links.get("early")
        assert found is not None and found.disabled
        assert await links.get("nothing") is None
        assert links.state == "listening" and links.loads == 1
    finally:
        await links.stop()
        await store.close()
    assert links.state == "stopped"


async def test_changes_through_another_store_reach_the_view_within_a_second(
    view: NotifiedLinks, writer: PostgresStore, figures: list[str]
) -> None:
    made = link("promo")
    await writer.create(made)
    took = [await until(lambda: known(view, "promo") == made, PROPAGATION_LIMIT)]

    disabled = made.changed(T0, disabled=True)
    await writer.update(disabled)
    took.append(await until(lambda: known(view, "promo") == disabled, PROPAGATION_LIMIT))

    moved = disabled.changed(
        T0, disabled=False, country_destinations=MappingProxyType({"FR": "https://example.fr/"})
    )
    await writer.update(moved)
    took.append(await until(lambda: known(view, "promo") == moved, PROPAGATION_LIMIT))

    renamed = moved.changed(T0, slug="sale")
    await writer.update(renamed)
    took.append(
        await until(
            lambda: known(view, "sale") == renamed and known(view, "promo") is None, PROPAGATION_LIMIT
        )
    )

    await writer.delete("alice", made.link_id)
    took.append(await until(lambda: known(view, "sale") is None, PROPAGATION_LIMIT))
    figures.append(
        f"notified view, in-process: change to view {max(took) * 1000:.1f} ms at most (of {len(took)})"
    )


async def test_a_change_by_hand_in_sql_reaches_the_view(
    view: NotifiedLinks, writer: PostgresStore, postgres_url: str
) -> None:
    await writer.create(link("manual"))
    await until(lambda: known(view, "manual") is not None, PROPAGATION_LIMIT)
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as connection:
        await connection.execute("UPDATE links SET disabled = TRUE WHERE slug = 'manual'")
        await until(
            lambda: (found := known(view, "manual")) is not None and found.disabled, PROPAGATION_LIMIT
        )
        await connection.execute(
            "DELETE FROM link_destinations WHERE link_id = (SELECT link_id FROM links WHERE slug = 'manual')"
        )
        await until(
            lambda: (found := known(view, "manual")) is not None and not found.country_destinations,
            PROPAGATION_LIMIT,
        )


async def test_a_write_through_this_process_is_seen_at_once_after_refresh(
    postgres_url: str, view: NotifiedLinks
) -> None:
    own = view._source
    assert isinstance(own, PostgresStore)
    made = link("mine")
    await own.create(made)
    await view.refresh("mine")
    assert await view.get("mine") == made


async def test_a_lost_connection_is_reopened_and_the_changes_missed_are_loaded(
    view: NotifiedLinks, writer: PostgresStore, postgres_url: str
) -> None:
    kept, gone = link("kept"), link("gone")
    await writer.create(kept)
    await writer.create(gone)
    await until(lambda: known(view, "gone") is not None, PROPAGATION_LIMIT)
    connection = view._connection
    assert connection is not None
    pid = connection.info.backend_pid
    # The listener's connection is cut, and a change lands before it is back: no notification reaches it.
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as admin:
        await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    await writer.delete("alice", gone.link_id)
    await until(lambda: view.loads == 2 and view.state == "listening", 10)
    assert known(view, "gone") is None
    assert known(view, "kept") == kept
    await writer.update(kept.changed(T0, disabled=True))
    await until(lambda: (found := known(view, "kept")) is not None and found.disabled, PROPAGATION_LIMIT)


async def test_the_view_answers_through_an_outage_and_follows_again_after_it(
    own_postgres: LocalPostgres, caplog: pytest.LogCaptureFixture, figures: list[str]
) -> None:
    url = with_database(own_postgres.url, "postgres")
    writer = await opened(url)
    reader = await opened(url)
    links = NotifiedLinks(reader, lambda: connect(url), heartbeat=1.0, backoff=(0.05, 0.5))
    caplog.set_level(logging.DEBUG, logger="producer")
    try:
        await links.start()
        made = link("through")
        await writer.create(made)
        await until(lambda: known(links, "through") == made, PROPAGATION_LIMIT)

        await asyncio.to_thread(own_postgres.stop)
        await until(lambda: links.state == "reconnecting", 5)
        assert await links.get("through") == made  # still answered from memory
        await asyncio.sleep(1)  # some failed reconnections
        assert await links.get("through") == made

        await asyncio.to_thread(own_postgres.start)
        back = await until(lambda: links.state == "listening", 10)
        await writer.update(made.changed(T0, disabled=True))  # the writer's pool reconnects by itself
        took = await until(
            lambda: (found := known(links, "through")) is not None and found.disabled, PROPAGATION_LIMIT
        )
        figures.append(
            f"notified view: listening again {back:.2f} s after PostgreSQL restarted; "
            f"change seen in {took * 1000:.1f} ms"
        )
    finally:
        await links.stop()
        await reader.close()
        await writer.close()
    assert links.loads >= 2
    assert own_postgres.password not in caplog.text
    assert "lost the link database" in caplog.text


class BuggyStore(PostgresStore):
    """A store whose re-read fails the way a bug would (not a database error)."""

    async def get_many(self, slugs: Collection[str]) -> list[Link]:
        raise RuntimeError(f"a bug reading {sorted(slugs)}")


async def test_a_dying_listener_is_recorded_not_silent(
    postgres_url: str, writer: PostgresStore, caplog: pytest.LogCaptureFixture
) -> None:
    await writer.create(link("before"))
    store = BuggyStore(postgres_url)
    await store.open()
    links = NotifiedLinks(store, lambda: connect(postgres_url))
    try:
        await links.start()
        await writer.create(link("after"))
        await until(lambda: links.state == "failed", PROPAGATION_LIMIT)
        assert isinstance(links.failure, RuntimeError)
        assert not links.listening.is_set()
        assert await links.get("before") is not None  # what it knew, it still answers
        assert "stopped following changes" in caplog.text
    finally:
        await links.stop()
        await store.close()
    assert links.state == "failed"


async def test_two_hosts_taking_one_slug_at_once_one_wins(postgres_url: str, writer: PostgresStore) -> None:
    from producer.errors import LinkExistsError

    other = await opened(postgres_url)
    await other.add_account(Account("bob", "bob", T0))
    try:
        for round_ in range(10):
            slug = f"race-{round_}"
            mine, bobs = link(slug), Link(new_id(), "bob", slug, "https://example.org/")
            results = await asyncio.gather(writer.create(mine), other.create(bobs), return_exceptions=True)
            assert sorted(type(result).__name__ for result in results) == ["LinkExistsError", "NoneType"]
            # A slug leaving alice's link while bob takes it: bob never gets it, before or after the delete.
            kept = await writer.get_by_slug(slug)
            assert kept is not None
            if kept.account_id == "alice":
                results = await asyncio.gather(
                    writer.delete("alice", kept.link_id),
                    other.create(Link(new_id(), "bob", slug, "https://example.org/")),
                    return_exceptions=True,
                )
                assert isinstance(results[1], LinkExistsError), results
    finally:
        await other.close()


async def test_a_bulk_change_is_seen_whole_within_a_second(
    view: NotifiedLinks, writer: PostgresStore, postgres_url: str, figures: list[str]
) -> None:
    count = 3000
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as connection:
        await connection.execute(
            "INSERT INTO links SELECT 'bulk' || i, 'alice', 'bulk-' || i, 'https://example.com/', FALSE, "
            "NULL, now(), now() FROM generate_series(1, %s) AS i",
            (count,),
        )
        await until(lambda: len(view) == count, 5)
        await connection.execute("UPDATE links SET disabled = TRUE WHERE slug LIKE 'bulk-%%'")
        took = await until(
            lambda: all(
                (found := known(view, f"bulk-{i}")) is not None and found.disabled for i in (1, count)
            ),
            5,
        )
        await until(lambda: all(link.disabled for link in view._links.values()), PROPAGATION_LIMIT)
    figures.append(
        f"notified view: {count} links disabled in one statement, all seen in {took * 1000:.0f} ms"
    )
    assert took < PROPAGATION_LIMIT


async def test_producers_on_one_database_share_each_days_salt_and_old_ones_are_destroyed(
    postgres_url: str, writer: PostgresStore
) -> None:
    from datetime import date, timedelta

    from producer.visitors import DailySalts, rotate

    other = await opened(postgres_url)
    try:
        first, second = DailySalts(), DailySalts()
        today = date(2026, 3, 1)
        await asyncio.gather(rotate(writer, first, today), rotate(other, second, today))
        assert first.days == second.days and len(first.days) == 3
        assert all(first.salt(day) == second.salt(day) for day in first.days)
        await rotate(writer, first, today + timedelta(days=3))
        async with await psycopg.AsyncConnection.connect(postgres_url) as connection:
            cursor = await connection.execute("SELECT day FROM visitor_salts ORDER BY day")
            assert [row[0] for row in await cursor.fetchall()] == first.days  # the older ones are gone
    finally:
        await other.close()
