"""Avro single-object encoding: ``C3 01`` + 8-byte CRC-64-AVRO fingerprint (little-endian) + Avro body.

Each message names its writer schema, so no registry server is needed: a reader keeps the schemas it knows by
fingerprint and resolves the writer's schema against its own reader schema (Avro schema resolution).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any, Protocol, cast

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.schema import fingerprint, to_parsing_canonical_form

from schemas.avro_schemas import link_click_schema, link_click_schemas
from schemas.errors import InvalidRecordError, MalformedMessageError, UnknownSchemaError
from schemas.events import LinkClick

MAGIC = b"\xc3\x01"
HEADER_SIZE = len(MAGIC) + 8


def schema_fingerprint(schema: dict[str, Any]) -> bytes:
    """Return the 8-byte little-endian CRC-64-AVRO fingerprint of ``schema``'s parsing canonical form."""
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))


class AvroCodec:
    """Encode records with one writer schema; decode messages written with any known schema.

    Args:
        writer_schema: the parsed schema ``encode`` writes.
        reader_schema: the parsed schema ``decode`` resolves every message to.
        known_schemas: writer schemas ``decode`` accepts, besides ``writer_schema``.
        logical_types: when False, ``decode`` returns logical types as their raw values (e.g. a
            ``timestamp-millis`` as epoch milliseconds): faster, for hot paths that want numbers anyway.
    """

    def __init__(
        self,
        writer_schema: dict[str, Any],
        reader_schema: dict[str, Any] | None = None,
        known_schemas: Iterable[dict[str, Any]] = (),
        *,
        logical_types: bool = True,
    ) -> None:
        # Schemas parsed *with* fastavro's hint are not re-parsed on every call (twice as fast).
        self._writer = prepare_schema(writer_schema, logical_types=True)
        reader = reader_schema if reader_schema is not None else writer_schema
        self._header = MAGIC + schema_fingerprint(writer_schema)
        reader_fp = schema_fingerprint(reader)
        # A writer with the reader's fingerprint needs no resolution: decode it with no reader schema.
        self._known: dict[bytes, tuple[dict[str, Any], dict[str, Any] | None]] = {
            fp: (
                prepare_schema(schema, logical_types=logical_types),
                None if fp == reader_fp else prepare_schema(reader, logical_types=logical_types),
            )
            for fp, schema in ((schema_fingerprint(s), s) for s in (*known_schemas, writer_schema))
        }

    @property
    def writer_fingerprint(self) -> bytes:
        """The fingerprint every encoded message carries."""
        return self._header[len(MAGIC) :]

    def encode(self, record: dict[str, Any]) -> bytes:
        """Return ``record`` as a single-object encoded message.

        Raises:
            InvalidRecordError: the record does not fit the writer schema.
        """
        buffer = io.BytesIO()
        buffer.write(self._header)
        try:
            schemaless_writer(buffer, self._writer, record, strict_allow_default=True)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            raise InvalidRecordError(f"record does not fit schema {self._writer['name']}: {exc}") from exc
        return buffer.getvalue()

    def decode(self, message: bytes) -> dict[str, Any]:
        """Return the record in ``message``, resolved to the reader schema.

        Raises:
            MalformedMessageError: not single-object Avro, or the body is truncated or has trailing bytes.
            UnknownSchemaError: the writer schema's fingerprint is not known to this codec.
        """
        if len(message) < HEADER_SIZE or message[: len(MAGIC)] != MAGIC:
            raise MalformedMessageError(
                f"not a single-object Avro message: expected {HEADER_SIZE}+ bytes starting with "
                f"C3 01, got {len(message)} bytes starting with {message[:2].hex(' ') or 'nothing'}"
            )
        fp = message[len(MAGIC) : HEADER_SIZE]
        schemas = self._known.get(fp)
        if schemas is None:
            raise UnknownSchemaError(f"unknown writer schema fingerprint {fp.hex()}")
        writer, reader = schemas
        body = io.BytesIO(message)
        body.seek(HEADER_SIZE)
        try:
            record = cast(dict[str, Any], schemaless_reader(body, writer, reader))
        except Exception as exc:  # fastavro raises many types: EOFError, IndexError, ...
            raise MalformedMessageError(f"cannot decode Avro body: {type(exc).__name__}: {exc}") from exc
        if body.tell() != len(message):
            raise MalformedMessageError(f"{len(message) - body.tell()} trailing bytes after the Avro body")
        return record


def prepare_schema(schema: dict[str, Any], *, logical_types: bool) -> dict[str, Any]:
    """Return ``schema`` parsed for fast reading and writing; without logical types when asked.

    fastavro re-parses a schema on every call unless it was parsed with its hint, which halves the cost.
    """
    return cast(dict[str, Any], parse_schema(schema if logical_types else _without_logical_types(schema)))


def _without_logical_types(schema: dict[str, Any]) -> dict[str, Any]:
    """Return ``schema`` with every ``logicalType`` annotation removed (the same canonical form)."""
    stripped: dict[str, Any] = _strip(schema)
    return stripped


def _strip(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _strip(value) for key, value in node.items() if key != "logicalType"}
    if isinstance(node, list):
        return [_strip(item) for item in node]
    return node


class RecordCodec(Protocol):
    """Avro records to message bytes and back, in some wire format."""

    def encode(self, record: dict[str, Any]) -> bytes:
        """Return the message for ``record``."""
        ...

    def decode(self, message: bytes) -> dict[str, Any]:
        """Return the record in ``message``."""
        ...


class LinkClickCodec:
    """The click topic's codec: ``LinkClick`` events in, Avro bytes out, and back.

    Args:
        avro: the wire format; Avro single-object encoding (no registry needed) when None. Pass a
            ``schemas.confluent.ConfluentCodec`` for the Confluent Schema Registry format.
    """

    def __init__(self, avro: RecordCodec | None = None) -> None:
        self._avro = avro or AvroCodec(link_click_schema(), known_schemas=link_click_schemas())

    def encode(self, event: LinkClick) -> bytes:
        """Return ``event`` as a message for the click topic."""
        return self._avro.encode(event.to_record())

    def decode(self, message: bytes) -> LinkClick:
        """Return the event in a click-topic message (any known schema version)."""
        return LinkClick.from_record(self._avro.decode(message))
