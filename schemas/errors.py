"""The project's exception root and the contract's errors.

Tree::

    ClickpipeError                  root of every error clickpipe raises on purpose
    ├── SerializationError          a message or record does not fit the Avro contract
    │   ├── MalformedMessageError   bytes that are not a single-object Avro message (truncated, garbage)
    │   ├── UnknownSchemaError      a well-formed message whose writer schema this reader does not know
    │   ├── InvalidRecordError      a record that does not fit the schema (on encode)
    │   ├── UnknownSchemaIdError    (schemas.confluent) the registry has no such id; ``schema_id``
    │   └── UnsupportedSchemaError  (schemas.confluent) the id names no usable Avro schema; ``schema_id``
    └── SchemaRegistryError         (schemas.confluent) the registry is unreachable or erred; ``status``
                                    is its HTTP status, None when unreachable (retriable)

Other areas derive their own errors from ``ClickpipeError`` in their ``errors.py``.
"""

from __future__ import annotations


class ClickpipeError(Exception):
    """Root of clickpipe's errors: catch this to handle anything the project raises on purpose."""

    #: True when retrying the same operation later may succeed (e.g. the broker is down).
    retriable: bool = False


class SerializationError(ClickpipeError):
    """A message or record does not fit the Avro contract. Retrying never helps: dead-letter it."""


class MalformedMessageError(SerializationError):
    """The bytes are not a single-object encoded Avro message, or its body is cut or has extra bytes."""


class UnknownSchemaError(SerializationError):
    """The message names a writer schema (by fingerprint) that this reader does not know."""


class InvalidRecordError(SerializationError):
    """A record does not fit the writer schema (missing field, wrong type) and cannot be encoded."""
