"""``clickpipe accounts`` and ``clickpipe keys``: manage who may use the link API, on the link database."""

from __future__ import annotations

import asyncio

from clickpipe.errors import UnknownAccountError
from producer.keys import new_api_key
from producer.links import Account, new_id
from producer.settings import ProducerSettings
from producer.sqlite_store import SqliteStore

__all__ = ["UnknownAccountError", "create_account", "create_key"]


def create_account(settings: ProducerSettings, name: str) -> Account:
    """Create an account in the producer's link database and return it."""
    account = Account(new_id(), name)
    store = SqliteStore(settings.database_path)
    try:
        asyncio.run(store.add_account(account))
    finally:
        store.close()
    return account


def create_key(settings: ProducerSettings, account_id: str) -> str:
    """Create an API key for an account; return the key (it is stored hashed and shown only now)."""
    store = SqliteStore(settings.database_path)

    async def work() -> str:
        if await store.get_account(account_id) is None:
            raise UnknownAccountError(account_id, str(settings.database_path))
        key = new_api_key()
        await store.add_key(account_id, key)
        return key

    try:
        return asyncio.run(work())
    finally:
        store.close()
