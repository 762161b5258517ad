"""The link store contract, run against the SQLite store, the PostgreSQL one (a real server: marked
``postgres``) and the in-memory one alike."""

from __future__ import annotations

import multiprocessing
import stat
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from producer.errors import LinkExistsError, StoreError
from producer.links import Account, Link, LinkState, new_id
from producer.memory_store import InMemoryStore
from producer.postgres_store import PostgresStore
from producer.sqlite_store import SqliteStore

T0 = datetime(2026, 11, 28, 10, tzinfo=UTC)


def link(slug: str, account: str = "alice", **extra: object) -> Link:
    return Link(
        link_id=new_id(),
        account_id=account,
        slug=slug,
        default_destination="https://example.com/",
        country_destinations=MappingProxyType({"DE": "https://example.de/", "FR": "https://example.fr/"}),
        created_at=T0,
        updated_at=T0,
        **extra,  # type: ignore[arg-type]
    )


AnyStore = SqliteStore | PostgresStore | InMemoryStore


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "memory"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AnyStore]:
    made: AnyStore
    if request.param == "sqlite":
        made = SqliteStore(tmp_path / "links.db")
    elif request.param == "postgres":
        made = PostgresStore(request.getfixturevalue("postgres_url"))
        await made.open()
    else:
        made = InMemoryStore()
    for name in ("alice", "bob"):
        await made.add_account(Account(name, name, T0))
    yield made
    if isinstance(made, SqliteStore):
        made.close()
    elif isinstance(made, PostgresStore):
        await made.close()


async def test_a_link_comes_back_whole(store: AnyStore) -> None:
    original = link("promo", expires_at=T0 + timedelta(days=1))
    await store.create(original)
    assert await store.get_by_slug("promo") == original
    assert await store.get("alice", original.link_id) == original
    assert await store.get("bob", original.link_id) is None


async def test_slugs_are_unique(store: AnyStore) -> None:
    await store.create(link("taken"))
    with pytest.raises(LinkExistsError) as created:
        await store.create(link("taken", account="bob"))
    assert created.value.slug == "taken"
    other = link("other")
    await store.create(other)
    with pytest.raises(LinkExistsError) as updated:
        await store.update(other.changed(T0, slug="taken"))
    assert updated.value.slug == "taken"
    assert await store.get("alice", other.link_id) == other


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def two_stores(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[SqliteStore | PostgresStore, SqliteStore | PostgresStore]]:
    """Two stores on one database, as two producer processes have (only alice's account)."""
    if request.param == "sqlite":
        first, second = SqliteStore(tmp_path / "links.db"), SqliteStore(tmp_path / "links.db")
        yield first, second
        first.close()
        second.close()
        return
    url = request.getfixturevalue("postgres_url")
    pg_first, pg_second = PostgresStore(url), PostgresStore(url)
    await pg_first.open()
    await pg_second.open()
    yield pg_first, pg_second
    await pg_first.close()
    await pg_second.close()


async def test_creating_a_stored_link_again_is_a_taken_slug(
    two_stores: tuple[SqliteStore | PostgresStore, SqliteStore | PostgresStore],
) -> None:
    # Several producer processes create the demo link at start: the one that comes second must be told.
    first, second = two_stores
    await first.add_account(Account("alice", "alice", T0))
    made = link("demo")
    await first.create(made)
    with pytest.raises(LinkExistsError):
        await second.create(made)
    assert await second.get_by_slug("demo") == made


async def test_other_integrity_errors_are_store_errors_not_taken_slugs(
    two_stores: tuple[SqliteStore | PostgresStore, SqliteStore | PostgresStore],
) -> None:
    store = two_stores[0]
    await store.add_account(Account("alice", "alice", T0))
    first = link("first")
    await store.create(first)
    with pytest.raises(StoreError) as same_id:  # the primary key, not the slug
        await store.create(replace(first, slug="second"))
    assert not isinstance(same_id.value, LinkExistsError)
    with pytest.raises(StoreError) as no_account:  # a foreign key
        await store.create(link("orphan", account="nobody"))
    assert not isinstance(no_account.value, LinkExistsError)
    assert await store.get_by_slug("second") is None


async def test_a_slug_that_left_a_link_stays_reserved_to_its_account(
    store: AnyStore,
) -> None:
    shared, renamed = link("shared"), link("old-name")
    await store.create(shared)
    await store.create(renamed)
    await store.delete("alice", shared.link_id)
    await store.update(renamed.changed(T0, slug="new-name"))
    for slug in ("shared", "old-name"):
        with pytest.raises(LinkExistsError) as taken:
            await store.create(link(slug, account="bob"))
        assert taken.value.slug == slug
        bobs = link(f"bob-{slug}", account="bob")
        await store.create(bobs)
        with pytest.raises(LinkExistsError):
            await store.update(bobs.changed(T0, slug=slug))
    await store.create(link("shared"))  # the owner may take it back
    assert (await store.get_by_slug("shared")) is not None


async def test_the_database_is_private_to_the_service(tmp_path: Path) -> None:
    directory = tmp_path / "data"
    SqliteStore(directory / "links.db").close()
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in directory.iterdir()}
    assert modes and set(modes.values()) == {0o600}, modes


async def test_update_replaces_destinations(store: AnyStore) -> None:
    original = link("edit")
    await store.create(original)
    changed = original.changed(
        T0 + timedelta(hours=1),
        country_destinations=MappingProxyType({"JP": "https://example.jp/"}),
        disabled=True,
    )
    await store.update(changed)
    stored = await store.get_by_slug("edit")
    assert stored == changed
    assert stored is not None and stored.state(T0) is LinkState.DISABLED


async def test_delete_only_your_own(store: AnyStore) -> None:
    mine = link("mine")
    await store.create(mine)
    assert await store.delete("bob", mine.link_id) is None
    assert await store.delete("alice", mine.link_id) == mine
    assert await store.get_by_slug("mine") is None


async def test_list_pages_by_id(store: AnyStore) -> None:
    made = [link(f"s{i}") for i in range(5)]
    for item in made:
        await store.create(item)
    await store.create(link("bobs", account="bob"))
    first = await store.list("alice", limit=2)
    rest = await store.list("alice", limit=10, after=first[-1].link_id)
    assert [item.slug for item in first + rest] == [f"s{i}" for i in range(5)]


async def test_api_keys_map_to_their_account(store: AnyStore) -> None:
    await store.add_key("alice", "cpk_alice")
    assert await store.account_for_key("cpk_alice") == "alice"
    assert await store.account_for_key("cpk_other") is None
    assert (await store.get_account("alice")) == Account("alice", "alice", T0)


async def test_a_revoked_key_is_refused(store: AnyStore) -> None:
    await store.add_key("alice", "cpk_alice")
    await store.add_key("alice", "cpk_kept")
    assert await store.revoke_key("cpk_alice") is True
    assert await store.account_for_key("cpk_alice") is None
    assert await store.account_for_key("cpk_kept") == "alice"
    assert await store.revoke_key("cpk_alice") is False


async def test_sqlite_keeps_only_key_hashes(tmp_path: Path) -> None:
    sqlite = SqliteStore(tmp_path / "links.db")
    await sqlite.add_account(Account("a", "a", T0))
    await sqlite.add_key("a", "cpk_secret-value")
    sqlite.close()
    assert b"cpk_secret-value" not in (tmp_path / "links.db").read_bytes()
    reopened = SqliteStore(tmp_path / "links.db")
    try:
        assert await reopened.account_for_key("cpk_secret-value") == "a"
    finally:
        reopened.close()


def test_an_unusable_database_path_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="cannot open the link database"):
        SqliteStore(tmp_path / "file" / "links.db")


def test_link_states() -> None:
    assert link("a").state(T0) is LinkState.LIVE
    assert link("a", disabled=True).state(T0) is LinkState.DISABLED
    assert link("a", expires_at=T0).state(T0) is LinkState.EXPIRED
    assert link("a", expires_at=T0 + timedelta(seconds=1)).state(T0) is LinkState.LIVE


def _open_together(path: str, barrier: Any, errors: Any) -> None:
    barrier.wait()
    try:
        SqliteStore(Path(path)).close()
    except StoreError as exc:
        errors.put(str(exc))


def test_processes_opening_a_new_sqlite_file_together_all_open_it(tmp_path: Path) -> None:
    # Several producer processes (--workers N) start on one fresh file at once: each puts it in WAL mode,
    # which SQLite may refuse at once ("database is locked") while another process does the same.
    context = multiprocessing.get_context("fork")
    for round_ in range(25):  # the race shows within ~10 rounds without the wait
        barrier, errors = context.Barrier(6), context.Queue()
        path = tmp_path / f"links-{round_}.db"
        processes = [
            context.Process(target=_open_together, args=(str(path), barrier, errors)) for _ in range(6)
        ]
        for process in processes:
            process.start()
        for process in processes:
            process.join(30)
        assert [process.exitcode for process in processes] == [0] * 6
        assert errors.empty(), errors.get()
