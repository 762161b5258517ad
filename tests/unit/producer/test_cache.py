from producer.cache import LinkCache
from producer.links import Link
from producer.memory_store import InMemoryStore
from tests.clock import ManualClock


class CountingStore(InMemoryStore):
    def __init__(self, links: list[Link]) -> None:
        super().__init__(links)
        self.reads = 0

    async def get_by_slug(self, slug: str) -> Link | None:
        self.reads += 1
        return await super().get_by_slug(slug)


LINK = Link("id1", "acct", "promo", "https://example.com/")


async def test_hits_do_not_read_the_store_until_the_ttl_passes() -> None:
    store, clock = CountingStore([LINK]), ManualClock()
    cache = LinkCache(store, ttl=5, clock=clock)
    assert await cache.get("promo") == LINK
    clock.now = 4.9
    assert await cache.get("promo") == LINK
    assert store.reads == 1
    clock.now = 5.1
    await cache.get("promo")
    assert store.reads == 2


async def test_a_change_in_this_process_is_seen_on_the_next_click() -> None:
    store, clock = CountingStore([LINK]), ManualClock()
    cache = LinkCache(store, ttl=60, clock=clock)
    await cache.get("promo")
    changed = Link("id1", "acct", "promo", "https://example.org/new")
    await store.update(changed)
    await cache.refresh("promo")
    assert await cache.get("promo") == changed


async def test_misses_are_cached_briefly() -> None:
    store, clock = CountingStore([]), ManualClock()
    cache = LinkCache(store, ttl=60, miss_ttl=1, clock=clock)
    assert await cache.get("nope") is None
    assert await cache.get("nope") is None
    assert store.reads == 1
    clock.now = 1.5
    await cache.get("nope")
    assert store.reads == 2


async def test_the_cache_is_bounded() -> None:
    store = CountingStore([Link(f"id{i}", "a", f"s{i}", "https://example.com/") for i in range(10)])
    cache = LinkCache(store, ttl=60, max_entries=3, clock=ManualClock())
    for i in range(10):
        await cache.get(f"s{i}")
    store.reads = 0
    await cache.get("s9")
    await cache.get("s0")
    assert store.reads == 1  # s9 was kept, s0 was evicted
