"""Smart links, accounts and API keys, and the stores they live in (protocols and in-memory versions)."""

from __future__ import annotations

import enum
import hashlib
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Protocol

from producer.errors import LinkExistsError


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


KEY_PREFIX = "cpk_"


def new_api_key() -> str:
    """Return a new API key (shown once; only its hash is stored)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """Return the stored form of an API key. Keys are 256 random bits, so a fast hash is enough."""
    return hashlib.sha256(key.encode()).hexdigest()


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


class InMemoryStore:
    """A LinkStore and KeyStore in dicts: for tests, demos and a single process."""

    def __init__(self, links: list[Link] | None = None) -> None:
        self._links: dict[str, Link] = {link.link_id: link for link in links or []}
        self._retired: dict[str, str] = {}  # slug -> the account it stays reserved to
        self._accounts: dict[str, Account] = {}
        self._keys: dict[str, str] = {}

    async def get_by_slug(self, slug: str) -> Link | None:
        """Return the link with this slug, or None."""
        return next((link for link in self._links.values() if link.slug == slug), None)

    async def get(self, account_id: str, link_id: str) -> Link | None:
        """Return the account's link, or None."""
        link = self._links.get(link_id)
        return link if link is not None and link.account_id == account_id else None

    async def list(self, account_id: str, *, limit: int, after: str | None = None) -> list[Link]:
        """Return a page of the account's links, by id."""
        mine = sorted(
            (link for link in self._links.values() if link.account_id == account_id),
            key=lambda link: link.link_id,
        )
        return [link for link in mine if after is None or link.link_id > after][:limit]

    async def create(self, link: Link) -> None:
        """Store a new link."""
        self._check_slug_free(link)
        self._links[link.link_id] = link

    async def update(self, link: Link) -> None:
        """Replace a stored link."""
        self._check_slug_free(link)
        old = self._links.get(link.link_id)
        if old is not None and old.slug != link.slug:
            self._retired[old.slug] = old.account_id
        self._links[link.link_id] = link

    async def delete(self, account_id: str, link_id: str) -> Link | None:
        """Delete the account's link; its slug stays reserved to the account."""
        link = await self.get(account_id, link_id)
        if link is not None:
            del self._links[link_id]
            self._retired[link.slug] = link.account_id
        return link

    async def add_account(self, account: Account) -> None:
        """Store an account unless one with that id exists."""
        self._accounts.setdefault(account.account_id, account)

    async def get_account(self, account_id: str) -> Account | None:
        """Return the account, or None."""
        return self._accounts.get(account_id)

    async def add_key(self, account_id: str, key: str) -> None:
        """Store the hash of an API key."""
        self._keys[hash_api_key(key)] = account_id

    async def account_for_key(self, key: str) -> str | None:
        """Return the key's account id, or None."""
        return self._keys.get(hash_api_key(key))

    def _check_slug_free(self, link: Link) -> None:
        if self._retired.get(link.slug, link.account_id) != link.account_id:
            raise LinkExistsError(f"slug {link.slug!r} is taken")
        for other in self._links.values():
            if other.slug == link.slug and other.link_id != link.link_id:
                raise LinkExistsError(f"slug {link.slug!r} is taken")


DEMO_ACCOUNT = Account("demo-account", "demo")
DEMO_LINK = Link(
    link_id="demo",
    account_id=DEMO_ACCOUNT.account_id,
    slug="demo",
    default_destination="https://example.com/",
    country_destinations=MappingProxyType(
        {"DE": "https://example.de/", "FR": "https://example.fr/", "US": "https://example.com/us"}
    ),
)
"""The link ``clickpipe up`` creates so a newcomer can click something at once."""
