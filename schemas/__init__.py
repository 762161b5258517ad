"""The contract between clickpipe's producer and stream app: schemas, events, codec, topics, errors."""

from schemas.aggregates import WindowAggregate, WindowAggregateCodec
from schemas.avro_schemas import link_click_schema, link_click_schemas, load_schema
from schemas.codec import AvroCodec, LinkClickCodec, schema_fingerprint
from schemas.errors import (
    ClickpipeError,
    InvalidRecordError,
    MalformedMessageError,
    SerializationError,
    UnknownSchemaError,
)
from schemas.events import EventType, LinkClick, new_event_id
from schemas.topics import (
    AGGREGATES,
    CLICKS,
    CLICKS_DLQ,
    CLICKS_LATE,
    DEFAULT_PARTITIONS,
    TopicSpec,
    pipeline_topics,
)

__all__ = [
    "AGGREGATES",
    "CLICKS",
    "CLICKS_DLQ",
    "CLICKS_LATE",
    "DEFAULT_PARTITIONS",
    "AvroCodec",
    "ClickpipeError",
    "EventType",
    "InvalidRecordError",
    "LinkClick",
    "LinkClickCodec",
    "MalformedMessageError",
    "SerializationError",
    "TopicSpec",
    "UnknownSchemaError",
    "WindowAggregate",
    "WindowAggregateCodec",
    "link_click_schema",
    "link_click_schemas",
    "load_schema",
    "new_event_id",
    "pipeline_topics",
    "schema_fingerprint",
]
