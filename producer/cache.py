"""An in-process cache of links by slug, in front of the link store, for the redirect path: the
``LinkView`` of the SQLite store.

A change made through this process is seen on the next click (``refresh``); a change made by another
process is seen within ``ttl`` seconds. Misses are cached too (briefly), so a flood of unknown slugs does not
reach the database.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from producer.links import Link, LinkStore


class LinkCache:
    """Links by slug, each kept for ``ttl`` seconds; at most ``max_entries`` (least recently used go)."""

    def __init__(
        self,
        store: LinkStore,
        *,
        ttl: float = 5.0,
        miss_ttl: float = 1.0,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._ttl = ttl
        self._miss_ttl = miss_ttl
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, Link | None]] = OrderedDict()
        self.state = "cached"  # reads the store on a miss: nothing runs in the background

    async def get(self, slug: str) -> Link | None:
        """Return the link with this slug (None when there is none), from the cache when fresh."""
        now = self._clock()
        entry = self._entries.get(slug)
        if entry is not None and entry[0] > now:
            self._entries.move_to_end(slug)
            return entry[1]
        link = await self._store.get_by_slug(slug)
        self._entries[slug] = (now + (self._ttl if link is not None else self._miss_ttl), link)
        self._entries.move_to_end(slug)
        if len(self._entries) > self._max:
            self._entries.popitem(last=False)
        return link

    async def refresh(self, *slugs: str) -> None:
        """Forget these slugs, so the next click reads the store."""
        for slug in slugs:
            self._entries.pop(slug, None)
