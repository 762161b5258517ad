"""The demo account, key and link ``clickpipe up`` seeds."""

from producer.demo import DEMO_ACCOUNT, DEMO_LINK, seed_demo
from producer.memory_store import InMemoryStore


async def test_seeding_creates_the_account_its_key_and_the_link() -> None:
    store = InMemoryStore()
    await seed_demo(store, store, "cpk_demo")
    assert await store.get_account(DEMO_ACCOUNT.account_id) == DEMO_ACCOUNT
    assert await store.account_for_key("cpk_demo") == DEMO_ACCOUNT.account_id
    assert await store.get_by_slug(DEMO_LINK.slug) == DEMO_LINK


async def test_seeding_twice_keeps_what_is_there() -> None:
    store = InMemoryStore()
    await seed_demo(store, store, None)
    await seed_demo(store, store, None)  # as a second worker process does
    assert await store.list(DEMO_ACCOUNT.account_id, limit=10) == [DEMO_LINK]
    assert await store.account_for_key("cpk_demo") is None
