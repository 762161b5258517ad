"""Confluent Schema Registry wire format: ``00`` + 4-byte big-endian schema id + Avro body.

For consumers in the Confluent ecosystem. Schemas are registered under ``<topic>-value`` (the registry's
TopicNameStrategy) and ids are cached both ways, so the registry is asked once per schema, not per message.
The client speaks the registry's REST API with the standard library only.
"""

from __future__ import annotations

import io
import json
import struct
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, cast

from fastavro import schemaless_reader, schemaless_writer

from schemas.codec import prepare_schema, schema_fingerprint
from schemas.errors import ClickpipeError, InvalidRecordError, MalformedMessageError, SerializationError
from schemas.registry import link_click_schema

MAGIC_BYTE = b"\x00"
_ID = struct.Struct(">I")
HEADER_SIZE = len(MAGIC_BYTE) + _ID.size
CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class SchemaRegistryError(ClickpipeError):
    """The schema registry could not be reached or refused a request."""

    retriable = True


class UnknownSchemaIdError(SerializationError):
    """The registry has no schema with the id a message names."""


class SchemaRegistryClient:
    """A small, caching client of a Confluent-compatible schema registry.

    Args:
        url: the registry's base URL, e.g. ``http://schema-registry:8081``.
        timeout: seconds per request.
    """

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self._url = url.rstrip("/")
        self._timeout = timeout
        self._ids: dict[tuple[str, str], int] = {}
        self._schemas: dict[int, dict[str, Any]] = {}
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
        """Return the schema with this id (from the cache after the first time).

        Raises:
            UnknownSchemaIdError: the registry has no such id.
        """
        with self._lock:
            cached = self._schemas.get(schema_id)
        if cached is not None:
            return cached
        try:
            answer = self._request("GET", f"/schemas/ids/{schema_id}")
        except SchemaRegistryError as exc:
            if "404" in str(exc):
                raise UnknownSchemaIdError(f"the schema registry has no schema id {schema_id}") from exc
            raise
        schema = cast(dict[str, Any], json.loads(answer["schema"]))
        with self._lock:
            self._schemas[schema_id] = schema
        return schema

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
                f"schema registry {self._url}{path}: {exc.code} {exc.read().decode(errors='replace')}"
            ) from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise SchemaRegistryError(f"schema registry {self._url} not reachable: {exc}") from exc


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
        client: SchemaRegistryClient,
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
            same = schema_fingerprint(source) == self._reader_fingerprint  # no resolution needed
            schemas = self._writers[schema_id] = (
                prepare_schema(source, logical_types=self._logical_types),
                None if same else self._reader,
            )
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
