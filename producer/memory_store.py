"""A link and key store in dicts: for tests, demos and a single process."""

from __future__ import annotations

from datetime import date

from producer.errors import LinkExistsError
from producer.keys import hash_api_key
from producer.links import Account, Link


class InMemoryStore:
    """A LinkStore and KeyStore in dicts: for tests, demos and a single process."""

    def __init__(self, links: list[Link] | None = None) -> None:
        self._links: dict[str, Link] = {link.link_id: link for link in links or []}
        self._retired: dict[str, str] = {}  # slug -> the account it stays reserved to
        self._accounts: dict[str, Account] = {}
        self._keys: dict[str, str] = {}
        self._salts: dict[date, bytes] = {}

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

    async def revoke_key(self, key: str) -> bool:
        """Forget the key; return whether it was stored."""
        return self._keys.pop(hash_api_key(key), None) is not None

    async def day_salt(self, day: date, fresh: bytes) -> bytes:
        """The salt of ``day``, ``fresh`` when it had none."""
        return self._salts.setdefault(day, fresh)

    async def forget_salts(self, before: date) -> int:
        """Drop the salts of the days before ``before``."""
        old = [day for day in self._salts if day < before]
        for day in old:
            del self._salts[day]
        return len(old)

    def _check_slug_free(self, link: Link) -> None:
        if self._retired.get(link.slug, link.account_id) != link.account_id:
            raise LinkExistsError(link.slug)
        for other in self._links.values():
            if other.slug == link.slug and other.link_id != link.link_id:
                raise LinkExistsError(link.slug)
