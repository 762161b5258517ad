"""Smart links and accounts, the stores they live in and the view the redirect reads them through (the
protocols; ``memory_store``, ``sqlite_store`` and ``postgres_store`` implement the stores, ``cache`` and
``notified_view`` the views)."""

from __future__ import annotations

import enum
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from types import MappingProxyType
from typing import Protocol


class LinkState(enum.Enum):
    """Whether a link redirects."""

    LIVE = "live"
    DISABLED = "disabled"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Link:
    """A smart link: a slug that redirects to a default destination, or a country's own destination."""

    link_id: str
    account_id: str
    slug: str
    default_destination: str
    country_destinations: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    disabled: bool = False
    expires_at: datetime | None = None

    def state(self, now: datetime) -> LinkState:
        """Return whether the link redirects at ``now``."""
        if self.disabled:
            return LinkState.DISABLED
        if self.expires_at is not None and now >= self.expires_at:
            return LinkState.EXPIRED
        return LinkState.LIVE

    def changed(self, now: datetime, **changes: object) -> Link:
        """Return a copy with ``changes`` applied and ``updated_at`` set to ``now``."""
        return replace(self, **changes, updated_at=now)  # type: ignore[arg-type]


_last_micros = 0


def new_id() -> str:
    """Return a unique id that sorts by creation time: microseconds (strictly increasing within a process)
    and 64 random bits, in hex."""
    global _last_micros  # one clock per process
    _last_micros = max(_last_micros + 1, time.time_ns() // 1000)
    return f"{_last_micros:014x}{os.urandom(8).hex()}"


def new_slug() -> str:
    """Return a random 8-character slug (letters and digits)."""
    alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(8))


@dataclass(frozen=True, slots=True)
class Account:
    """A customer of the service; owns links and API keys."""

    account_id: str
    name: str
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class LinkStore(Protocol):
    """Where links live. Each method is a coroutine so an implementation may do I/O."""

    async def get_by_slug(self, slug: str) -> Link | None:
        """Return the link with this slug, or None."""
        ...

    async def get(self, account_id: str, link_id: str) -> Link | None:
        """Return the account's link, or None (also for another account's link)."""
        ...

    async def list(self, account_id: str, *, limit: int, after: str | None = None) -> list[Link]:
        """Return up to ``limit`` of the account's links ordered by id, starting after link id ``after``."""
        ...

    async def create(self, link: Link) -> None:
        """Store a new link. Raises LinkExistsError when the slug is taken, or was another account's."""
        ...

    async def update(self, link: Link) -> None:
        """Replace a stored link (same id and account). Raises LinkExistsError when a new slug is taken, or
        was another account's. The old slug stays reserved to the account."""
        ...

    async def delete(self, account_id: str, link_id: str) -> Link | None:
        """Delete the account's link; return it, or None when there was none. Its slug stays reserved to
        the account: no other account may take it (shared links must not change hands)."""
        ...


class KeyStore(Protocol):
    """Where accounts and API keys live."""

    async def add_account(self, account: Account) -> None:
        """Store an account (nothing happens when one with that id exists)."""
        ...

    async def get_account(self, account_id: str) -> Account | None:
        """Return the account, or None."""
        ...

    async def add_key(self, account_id: str, key: str) -> None:
        """Store (the hash of) an API key for the account."""
        ...

    async def account_for_key(self, key: str) -> str | None:
        """Return the id of the account the key belongs to, or None."""
        ...

    async def revoke_key(self, key: str) -> bool:
        """Forget the API key; return whether it was stored. The next call with it is refused."""
        ...

    async def day_salt(self, day: date, fresh: bytes) -> bytes:
        """The visitor-key salt of ``day``: the stored one, else ``fresh``, stored first (the first store
        wins, so every producer on the database uses one salt a day; ``producer.visitors``)."""
        ...

    async def forget_salts(self, before: date) -> int:
        """Destroy the salts of the days before ``before`` (so they can be made again by nobody); return
        how many."""
        ...


class Store(LinkStore, KeyStore, Protocol):
    """A store that holds links, accounts and keys together (each implementation here does)."""


class LinkView(Protocol):
    """Links by slug as the redirect reads them: from memory, kept fresh from the store."""

    @property
    def state(self) -> str:
        """What keeps it fresh is doing (``failed``: nothing does any more)."""
        ...

    async def get(self, slug: str) -> Link | None:
        """Return the link with this slug, or None; StoreError when the store must be read and fails."""
        ...

    async def refresh(self, *slugs: str) -> None:
        """After a write through this process: make the next click on these slugs see the store as it is."""
        ...
