"""The demo account and link ``clickpipe up`` creates so a newcomer can click something at once."""

from __future__ import annotations

import contextlib
from types import MappingProxyType

from producer.errors import LinkExistsError
from producer.links import Account, KeyStore, Link, LinkStore

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


async def seed_demo(links: LinkStore, keys: KeyStore, api_key: str | None) -> None:
    """Create the demo account, its API key (when given) and the demo link, unless they exist."""
    await keys.add_account(DEMO_ACCOUNT)
    if api_key is not None:
        await keys.add_key(DEMO_ACCOUNT.account_id, api_key)
    if await links.get_by_slug(DEMO_LINK.slug) is None:
        with contextlib.suppress(LinkExistsError):  # another worker process made it first
            await links.create(DEMO_LINK)
