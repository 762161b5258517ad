"""Schema Registry mode in the worker: bad ids go to the DLQ; outages are waited out off the loop."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from schemas.avro_schemas import link_click_schema
from schemas.codec import LinkClickCodec
from schemas.confluent import (
    SchemaRegistryClient,
    SchemaRegistryError,
    UnknownSchemaIdError,
    UnsupportedSchemaError,
    link_click_codec,
)
from schemas.errors import MalformedMessageError, SerializationError
from stream_app.decoding import ClickDecoder
from stream_app.registry import RegistrySchemas
from tests.clock import ManualClock
from tests.unit.schemas.test_confluent import CLICK, FakeRegistry, registry, url

__all__ = ["registry"]  # the fixture


def _framed(schema_id: int, body: bytes = b"\x02") -> bytes:
    return b"\x00" + schema_id.to_bytes(4, "big") + body


def _decoder(schemas: RegistrySchemas) -> ClickDecoder:
    from schemas.confluent import ConfluentCodec

    return ClickDecoder(ConfluentCodec(schemas, "t-value", link_click_schema(), logical_types=False))


async def test_every_bad_message_is_a_serialization_error_and_bad_ids_are_remembered(
    registry: FakeRegistry,
) -> None:
    registry.schemas[7] = 'syntax = "proto3"; message Click {}'
    registry.types[7] = "PROTOBUF"
    registry.schemas[8] = json.dumps({"type": "object", "properties": {}})
    registry.types[8] = "JSON"
    registry.schemas[9] = json.dumps({"type": "record", "name": "Broken", "fields": [{"name": "x"}]})
    registry.schemas[10] = json.dumps("string")
    clock = ManualClock()
    schemas = RegistrySchemas(SchemaRegistryClient(url(registry), negative_ttl=60, clock=clock))
    decoder = _decoder(schemas)
    good = LinkClickCodec(link_click_codec(SchemaRegistryClient(url(registry)), "t", logical_types=False))
    valid = good.encode(CLICK)
    hostile = [_framed(999), _framed(7), _framed(8), _framed(9), _framed(10), b"\x00\x00", valid[:-3]]
    expected = [
        UnknownSchemaIdError,
        *[UnsupportedSchemaError] * 4,
        MalformedMessageError,
        MalformedMessageError,
    ]

    for _ in range(2):
        await schemas.prepare([*hostile, valid])
        for message, error in zip(hostile, expected, strict=True):
            with pytest.raises(error):
                decoder.decode(1, message)
        click = decoder.decode(2, valid)
        assert click is not None and click.link_id == CLICK.link_id
    before = registry.requests
    await schemas.prepare(hostile)
    assert registry.requests == before  # the registry is not asked again for ids it said are bad
    clock.now += 61
    await schemas.prepare(hostile)
    assert registry.requests == before + 5  # until they are forgotten


class FlakyClient(SchemaRegistryClient):
    """Fails ``failures`` times, then knows every id; records the threads it was called on."""

    def __init__(self, failures: int) -> None:
        super().__init__("http://unused")
        self.failures = failures
        self.threads: list[int] = []

    def schema(self, schema_id: int) -> dict[str, Any]:
        self.threads.append(threading.get_ident())
        if self.failures:
            self.failures -= 1
            raise SchemaRegistryError("schema registry http://unused not reachable: refused")
        return link_click_schema()


async def test_an_outage_is_retried_with_backoff_off_the_event_loop() -> None:
    client = FlakyClient(failures=5)
    slept: list[float] = []
    outages: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    schemas = RegistrySchemas(
        client, backoff=0.5, max_backoff=4, sleep=sleep, on_outage=lambda error, delay: outages.append(delay)
    )
    await schemas.prepare([_framed(100)])
    assert slept == outages == [0.5, 1, 2, 4, 4]
    assert len(client.threads) == 6
    assert threading.get_ident() not in client.threads  # every look-up ran in the executor
    assert schemas.schema(100) == link_click_schema()


async def test_decoding_never_asks_the_registry() -> None:
    client = FlakyClient(failures=0)
    schemas = RegistrySchemas(client)
    with pytest.raises(SerializationError, match="not looked up"):
        schemas.schema(100)
    assert client.threads == []
