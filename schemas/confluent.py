"""Confluent Schema Registry wire format: ``00`` + 4-byte big-endian schema id + Avro body.

For consumers in the Confluent ecosystem. Schemas are registered under ``<topic>-value`` (the registry's
TopicNameStrategy) and ids are cached both ways, so the registry is asked once per schema, not per message.
Ids the registry does not have, or that name a schema that is not Avro, are remembered too (for
``negative_ttl``), so a flood of bad messages does not become a flood of look-ups. The client speaks the
registry's REST API with the standard library only: it blocks, so async callers run it in an executor.
"""

from __future__ import annotations

import io
import json
import struct
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any, Protocol, cast

from fastavro import schemaless_reader, schemaless_writer

from schemas.avro_schemas import link_click_schema
from schemas.codec import prepare_schema, schema_fingerprint
from schemas.errors import ClickpipeError, InvalidRecordError, MalformedMessageError, SerializationError

MAGIC_BYTE = b"\x00"
_ID = struct.Struct(">I")
HEADER_SIZE = len(MAGIC_BYTE) + _ID.size
CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class SchemaRegistryError(ClickpipeError):
    """The schema registry could not be reached or refused a request; retry later.

    ``status`` is the registry's HTTP status when it answered, None when it could not be reached.
    """

    retriable = True

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class UnknownSchemaIdError(SerializationError):
    """The registry has no schema with the id a message names. Dead-letter the message."""

    def __init__(self, message: str, *, schema_id: int) -> None:
        super().__init__(message)
        self.schema_id = schema_id


class UnsupportedSchemaError(SerializationError):
    """The id names a schema this reader cannot use (not Avro, or not a valid Avro schema). Dead-letter it."""

    def __init__(self, message: str, *, schema_id: int) -> None:
        super().__init__(message)
        self.schema_id = schema_id


class SchemaClient(Protocol):
    """What ``ConfluentCodec`` needs of a registry: register a schema, look one up by id."""

    def register(self, subject: str, schema: dict[str, Any]) -> int:
        """Register ``schema`` under ``subject`` and return its id."""
        ...

    def schema(self, schema_id: int) -> dict[str, Any]:
        """Return the schema with this id (raises ``SerializationError`` for a bad id)."""
        ...


class SchemaRegistryClient:
    """A small, caching client of a Confluent-compatible schema registry.

    Args:
        url: the registry's base URL, e.g. ``http://schema-registry:8081``.
        timeout: seconds per request.
        negative_ttl: seconds an unknown or unusable schema id is remembered.
        clock: monotonic seconds (for tests).
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        negative_ttl: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url.rstrip("/")
        self._timeout = timeout
        self._negative_ttl = negative_ttl
        self._clock = clock
        self._ids: dict[tuple[str, str], int] = {}
        self._schemas: dict[int, dict[str, Any]] = {}
        self._bad: dict[int, tuple[float, SerializationError]] = {}
        self._lock = threading.Lock()

    def register(self, subject: str, schema: dict[str, Any]) -> int:
        """Register ``schema`` under ``subject`` (idempotent) and return its id."""
        text = json.dumps(schema, separators=(",", ":"), sort_keys=True)
        with self._lock:
            cached = self._ids.get((subject, text))
        if cached is not None:
            return cached
        answer = self._request(
            "POST", f"/subjects/{urllib.parse.quote(subject, safe='')}/versions", {"schema": text}
        )
        schema_id = int(answer["id"])
        with self._lock:
            self._ids[(subject, text)] = schema_id
            self._schemas[schema_id] = schema
        return schema_id

    def schema(self, schema_id: int) -> dict[str, Any]:
        """Return the Avro schema with this id (from the cache after the first time).

        Raises:
            UnknownSchemaIdError: the registry has no such id (remembered for ``negative_ttl``).
            UnsupportedSchemaError: the id names a schema that is not usable Avro (remembered too).
            SchemaRegistryError: the registry cannot be reached or failed; retriable.
        """
        found = self.cached(schema_id)
        if found is not None:
            return found
        try:
            answer = self._request("GET", f"/schemas/ids/{schema_id}")
        except SchemaRegistryError as exc:
            if exc.status == 404:
                unknown = UnknownSchemaIdError(
                    f"the schema registry has no schema id {schema_id}", schema_id=schema_id
                )
                self._remember_bad(schema_id, unknown)
                raise unknown from exc
            raise
        try:
            schema = _avro_schema(schema_id, answer)
        except UnsupportedSchemaError as exc:
            self._remember_bad(schema_id, exc)
            raise
        with self._lock:
            self._schemas[schema_id] = schema
        return schema

    def cached(self, schema_id: int) -> dict[str, Any] | None:
        """Return the schema if it is cached, None when the registry must be asked; never does I/O.

        Raises:
            SerializationError: the id is remembered as unknown or unusable.
        """
        with self._lock:
            found = self._schemas.get(schema_id)
            if found is not None:
                return found
            bad = self._bad.get(schema_id)
            if bad is None:
                return None
            if bad[0] <= self._clock():
                del self._bad[schema_id]
                return None
        raise bad[1]

    def _remember_bad(self, schema_id: int, error: SerializationError) -> None:
        with self._lock:
            if len(self._bad) >= 10_000:  # bounded: made-up ids cannot grow memory without end
                self._bad.clear()
            self._bad[schema_id] = (self._clock() + self._negative_ttl, error)

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - the operator's configured registry URL
            self._url + path, data=data, method=method, headers={"Content-Type": CONTENT_TYPE}
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310
                return cast(dict[str, Any], json.loads(response.read()))
        except urllib.error.HTTPError as exc:
            raise SchemaRegistryError(
                f"schema registry {self._url}{path}: {exc.code} {exc.read(1000).decode(errors='replace')}",
                status=exc.code,
            ) from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise SchemaRegistryError(f"schema registry {self._url} not reachable: {exc}") from exc


def _avro_schema(schema_id: int, answer: dict[str, Any]) -> dict[str, Any]:
    """The Avro schema in a registry answer, checked to parse."""
    kind = answer.get("schemaType", "AVRO")
    if kind != "AVRO":
        raise UnsupportedSchemaError(
            f"schema id {schema_id} is {str(kind)[:32]}, not Avro", schema_id=schema_id
        )
    try:
        schema = json.loads(answer["schema"])
        if not isinstance(schema, dict):
            raise TypeError(f"a record schema is a JSON object, not {type(schema).__name__}")
        prepare_schema(schema, logical_types=True)
    except Exception as exc:  # json and fastavro raise many types
        raise UnsupportedSchemaError(
            f"schema id {schema_id} is not a usable Avro record schema: "
            f"{type(exc).__name__}: {str(exc)[:200]}",
            schema_id=schema_id,
        ) from exc
    return cast(dict[str, Any], schema)


class ConfluentCodec:
    """Encode with a registered writer schema; decode any registered schema, resolved to the reader schema.

    Args:
        client: the registry client.
        subject: where the writer schema is registered (``<topic>-value``).
        writer_schema: what ``encode`` writes (registered on first use).
        reader_schema: what ``decode`` resolves to (default: the writer schema).
        logical_types: as in ``AvroCodec``: False returns timestamps as epoch milliseconds.
    """

    def __init__(
        self,
        client: SchemaClient,
        subject: str,
        writer_schema: dict[str, Any],
        reader_schema: dict[str, Any] | None = None,
        *,
        logical_types: bool = True,
    ) -> None:
        self._client = client
        self._subject = subject
        self._writer_source = writer_schema
        self._writer = prepare_schema(writer_schema, logical_types=True)
        reader = reader_schema or writer_schema
        self._reader = prepare_schema(reader, logical_types=logical_types)
        self._reader_fingerprint = schema_fingerprint(reader)
        self._logical_types = logical_types
        self._header: bytes | None = None
        self._writers: dict[int, tuple[dict[str, Any], dict[str, Any] | None]] = {}

    def register(self) -> int:
        """Register the writer schema (once; later calls use the cache) and return its id."""
        schema_id = self._client.register(self._subject, self._writer_source)
        self._header = MAGIC_BYTE + _ID.pack(schema_id)
        return schema_id

    def encode(self, record: dict[str, Any]) -> bytes:
        """Return ``record`` framed for the registry (registers the writer schema the first time)."""
        if self._header is None:
            self.register()
        buffer = io.BytesIO()
        buffer.write(cast(bytes, self._header))
        try:
            schemaless_writer(buffer, self._writer, record)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            raise InvalidRecordError(f"record does not fit schema {self._writer['name']}: {exc}") from exc
        return buffer.getvalue()

    def decode(self, message: bytes) -> dict[str, Any]:
        """Return the record in a registry-framed message, resolved to the reader schema."""
        if len(message) < HEADER_SIZE or message[:1] != MAGIC_BYTE:
            raise MalformedMessageError(
                f"not a schema-registry message: expected {HEADER_SIZE}+ bytes starting with 00, "
                f"got {len(message)} bytes starting with {message[:1].hex() or 'nothing'}"
            )
        (schema_id,) = _ID.unpack_from(message, 1)
        schemas = self._writers.get(schema_id)
        if schemas is None:
            source = self._client.schema(schema_id)
            try:
                same = schema_fingerprint(source) == self._reader_fingerprint  # no resolution needed
                prepared = prepare_schema(source, logical_types=self._logical_types)
            except Exception as exc:  # fastavro raises many types
                raise UnsupportedSchemaError(
                    f"schema id {schema_id} is not usable Avro: {type(exc).__name__}", schema_id=schema_id
                ) from exc
            schemas = self._writers[schema_id] = (prepared, None if same else self._reader)
        writer, reader = schemas
        body = io.BytesIO(message)
        body.seek(HEADER_SIZE)
        try:
            record = cast(dict[str, Any], schemaless_reader(body, writer, reader))
        except Exception as exc:  # fastavro raises many types
            raise MalformedMessageError(f"cannot decode Avro body: {type(exc).__name__}: {exc}") from exc
        if body.tell() != len(message):
            raise MalformedMessageError(f"{len(message) - body.tell()} trailing bytes after the Avro body")
        return record


def link_click_codec(
    client: SchemaRegistryClient, topic: str, *, logical_types: bool = True
) -> ConfluentCodec:
    """The click topic's codec in the registry's format (subject ``<topic>-value``), registered now.

    Raises:
        SchemaRegistryError: the registry cannot be reached or refuses the schema.
    """
    codec = ConfluentCodec(client, f"{topic}-value", link_click_schema(), logical_types=logical_types)
    codec.register()
    return codec
