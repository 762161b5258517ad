"""The worker's view of the Confluent Schema Registry: look-ups off the event loop, retried through outages.

Before a batch is decoded, ``prepare`` resolves every schema id it names: cached ids at once, others by the
blocking registry client in an executor. An outage is retried with exponential backoff until the registry
answers (the batch waits; nothing is dead-lettered for it, nothing crashes). Unknown or unusable ids are
answers too: their messages go to the dead-letter topic, and the client remembers them (negative cache).
Decoding then reads only what ``prepare`` found, so it never does I/O.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from schemas.confluent import HEADER_SIZE, MAGIC_BYTE, SchemaRegistryClient, SchemaRegistryError
from schemas.errors import SerializationError

log = logging.getLogger(__name__)

OutageHook = Callable[[SchemaRegistryError, float], None]
"""Called with the error and the delay before each retry."""


def _ignore(error: SchemaRegistryError, delay: float) -> None:
    """No outage hook."""


class RegistrySchemas:
    """A ``SchemaClient`` for the worker's ``ConfluentCodec`` that answers from what ``prepare`` resolved.

    Args:
        client: the (blocking, caching) registry client.
        backoff: first delay after a failed look-up, seconds; doubles up to ``max_backoff``.
        on_outage: told about each failed look-up (metrics, logs).
        sleep: how to wait (for tests).
    """

    def __init__(
        self,
        client: SchemaRegistryClient,
        *,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        on_outage: OutageHook = _ignore,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._client = client
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._on_outage = on_outage
        self._sleep = sleep
        self._resolved: dict[int, dict[str, Any] | SerializationError] = {}

    async def prepare(self, values: Iterable[bytes]) -> None:
        """Resolve every schema id the registry-framed ``values`` name; returns once all are answered."""
        ids = {
            int.from_bytes(value[1:HEADER_SIZE], "big")
            for value in values
            if len(value) >= HEADER_SIZE and value[:1] == MAGIC_BYTE
        }
        self._resolved = {schema_id: await self._resolve(schema_id) for schema_id in sorted(ids)}

    def schema(self, schema_id: int) -> dict[str, Any]:
        """Return the schema ``prepare`` found for ``schema_id``; never does I/O.

        Raises:
            SerializationError: the id is unknown or unusable, or ``prepare`` did not see it.
        """
        found = self._resolved.get(schema_id)
        if found is None:
            found = self._client.cached(schema_id)  # raises a remembered SerializationError
        if isinstance(found, SerializationError):
            raise found
        if found is None:
            raise SerializationError(f"schema id {schema_id} was not looked up before decoding")
        return found

    def register(self, subject: str, schema: dict[str, Any]) -> int:
        """Register a schema (blocking; the worker only reads)."""
        return self._client.register(subject, schema)

    async def _resolve(self, schema_id: int) -> dict[str, Any] | SerializationError:
        delay = self._backoff
        loop = asyncio.get_running_loop()
        while True:
            try:
                found = self._client.cached(schema_id)
                if found is not None:
                    return found
                return await loop.run_in_executor(None, self._client.schema, schema_id)
            except SerializationError as exc:
                return exc
            except SchemaRegistryError as exc:
                log.warning(
                    "schema registry look-up of id %d failed, retrying in %.1f s: %s", schema_id, delay, exc
                )
                self._on_outage(exc, delay)
                await self._sleep(delay)
                delay = min(delay * 2, self._max_backoff)
