"""Smart links and the store they live in."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

from producer.errors import LinkExistsError


@dataclass(frozen=True, slots=True)
class Link:
    """A smart link: a slug that redirects to a default destination, or a country's own destination."""

    link_id: str
    account_id: str
    slug: str
    default_destination: str
    country_destinations: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))


class LinkStore(Protocol):
    """Where links are kept. Implementations must be safe to call from the event loop."""

    async def get_by_slug(self, slug: str) -> Link | None:
        """Return the link with this slug, or None."""
        ...

    async def create(self, link: Link) -> None:
        """Store a new link. Raises LinkExistsError when the slug is taken."""
        ...


class InMemoryLinkStore:
    """A LinkStore in a dict: for tests, demos and a single process."""

    def __init__(self, links: list[Link] | None = None) -> None:
        self._by_slug: dict[str, Link] = {link.slug: link for link in links or []}

    async def get_by_slug(self, slug: str) -> Link | None:
        """Return the link with this slug, or None."""
        return self._by_slug.get(slug)

    async def create(self, link: Link) -> None:
        """Store a new link. Raises LinkExistsError when the slug is taken."""
        if link.slug in self._by_slug:
            raise LinkExistsError(f"slug {link.slug!r} is taken")
        self._by_slug[link.slug] = link


DEMO_LINK = Link(
    link_id="demo",
    account_id="demo-account",
    slug="demo",
    default_destination="https://example.com/",
    country_destinations=MappingProxyType(
        {"DE": "https://example.de/", "FR": "https://example.fr/", "US": "https://example.com/us"}
    ),
)
"""The link ``clickpipe up`` creates so a newcomer can click something at once."""
