"""``clickpipe accounts`` and ``clickpipe keys``: manage who may use the link API, on the link database
(the settings' PostgreSQL database when ``CLICKPIPE_PRODUCER_DATABASE_URL`` is set, else the SQLite file)."""

from __future__ import annotations

import asyncio

from clickpipe.errors import UnknownAccountError
from producer.keys import new_api_key
from producer.link_backend import opened_store
from producer.links import Account, new_id
from producer.settings import ProducerSettings

__all__ = ["UnknownAccountError", "create_account", "create_key", "revoke_key"]


def create_account(settings: ProducerSettings, name: str) -> Account:
    """Create an account in the producer's link database and return it."""
    account = Account(new_id(), name)

    async def work() -> None:
        async with opened_store(settings) as (store, _):
            await store.add_account(account)

    asyncio.run(work())
    return account


def create_key(settings: ProducerSettings, account_id: str) -> str:
    """Create an API key for an account; return the key (it is stored hashed and shown only now)."""

    async def work() -> str:
        async with opened_store(settings) as (store, database):
            if await store.get_account(account_id) is None:
                raise UnknownAccountError(account_id, database)
            key = new_api_key()
            await store.add_key(account_id, key)
            return key

    return asyncio.run(work())


def revoke_key(settings: ProducerSettings, key: str) -> bool:
    """Revoke an API key; return whether it was stored. Every producer on the database refuses it from its
    next call on (keys are checked against the database on every call)."""

    async def work() -> bool:
        async with opened_store(settings) as (store, _):
            return await store.revoke_key(key)

    return asyncio.run(work())
