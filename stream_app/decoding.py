"""Click messages straight to what aggregation needs, without building full events (the hot path)."""

from __future__ import annotations

from schemas.codec import AvroCodec
from schemas.events import EventType
from schemas.registry import link_click_schema, link_click_schemas
from stream_app.aggregation import Click

_LINK_CLICK = EventType.LINK_CLICK.value


class ClickDecoder:
    """Decodes click-topic messages (any known schema version) into ``Click`` values."""

    def __init__(self) -> None:
        # Raw logical types: the timestamp arrives as epoch milliseconds, no datetime in between.
        self._avro = AvroCodec(link_click_schema(), known_schemas=link_click_schemas(), logical_types=False)

    def decode(self, offset: int, value: bytes) -> Click | None:
        """Return the click in ``value``, or None for events of other types.

        Raises:
            SerializationError: the message does not decode.
        """
        record = self._avro.decode(value)
        if record["type"] != _LINK_CLICK:
            return None
        return Click(
            offset,
            record["timestamp"],
            record["link_id"],
            record["account_id"],
            record["country"],
            record["is_bot"],
            record["slug"],
        )
