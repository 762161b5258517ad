"""Click messages straight to what aggregation needs, without building full events (the hot path)."""

from __future__ import annotations

from schemas.avro_schemas import link_click_schema, link_click_schemas
from schemas.codec import HEADER_SIZE, MAGIC, AvroCodec
from schemas.confluent import MAGIC_BYTE, ConfluentCodec
from schemas.errors import MalformedMessageError
from schemas.events import EventType
from stream_app import fastclick
from stream_app.aggregation import Click, dims
from stream_app.fastclick import FINGERPRINT, NotReadable

_LINK_CLICK = EventType.LINK_CLICK.value
_FAST_HEADER = MAGIC + FINGERPRINT
"""The single-object header of the schema ``stream_app.fastclick`` reads."""


class ClickDecoder:
    """Decodes click-topic messages (any known schema version) into ``Click`` values.

    Messages in Avro single-object encoding (``C3 01``) need nothing else; messages in the Confluent Schema
    Registry format (``00``) need ``registry`` to look their writer schema up. Messages written with the
    current schema (v3) are read by ``stream_app.fastclick``, the rest by fastavro.
    """

    def __init__(self, registry: ConfluentCodec | None = None, *, fast: bool = True) -> None:
        # Raw logical types: the timestamp arrives as epoch milliseconds, no datetime in between.
        self._avro = AvroCodec(link_click_schema(), known_schemas=link_click_schemas(), logical_types=False)
        self._registry = registry
        self._fast = fast

    def decode(self, offset: int, value: bytes) -> Click | None:
        """Return the click in ``value``, or None for events of other types.

        Raises:
            SerializationError: the message does not decode.
        """
        if self._fast and value.startswith(_FAST_HEADER):
            try:
                return fastclick.read(value, HEADER_SIZE, offset)
            except NotReadable:
                pass  # the general way decodes it, or says why not
        if value[:1] == MAGIC_BYTE:
            if self._registry is None:
                raise MalformedMessageError(
                    "a schema-registry framed message, but no schema registry is configured "
                    "(CLICKPIPE_WORKER_SCHEMA_REGISTRY_URL)"
                )
            record = self._registry.decode(value)
        else:
            record = self._avro.decode(value)
        if record["type"] != _LINK_CLICK:
            return None
        return Click(
            offset,
            record["timestamp"],
            record["link_id"],
            record["account_id"],
            dims(
                country=record["country"],
                continent=record["continent"],
                region=record["region"],
                city=record["city"],
                device=record["device"],
                browser=record["browser"],
                os=record["os"],
                referer=record["referer_domain"],
                rule=record["rule"],
                url=record["destination"],
            ),
            record["is_bot"],
            record["slug"],
            record["visitor"],
        )
