"""Schema Registry mode against hostile messages and a registry outage: nothing crashes the worker."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from clickpipe.broker import free_port
from schemas.codec import LinkClickCodec
from schemas.confluent import SchemaRegistryClient, link_click_codec
from tests.integration.conftest import OPERATOR, Broker, Service, StartWorker, Topics, get_stats
from tests.kafka_io import click_at, consume, produce
from tests.unit.schemas.test_confluent import FakeRegistry

pytestmark = pytest.mark.integration


@contextmanager
def serving(port: int) -> Iterator[FakeRegistry]:
    server = FakeRegistry(port)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def _link_total(worker: Service, link: str) -> int:
    now = datetime.now(UTC)
    params = {"from": (now - timedelta(hours=1)).isoformat(), "to": (now + timedelta(hours=1)).isoformat()}
    async with httpx.AsyncClient(base_url=worker.url, headers=OPERATOR, timeout=15) as client:
        response = await get_stats(client, f"/api/stats/links/{link}", params)
    assert response.status_code == 200, response.text
    return int(response.json()["totals"]["total"])


async def _wait_for(worker: Service, link: str, total: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while await _link_total(worker, link) < total:
        assert worker.process.poll() is None, worker.output()[-3000:]
        assert time.monotonic() < deadline, f"{link} never reached {total}"
        await asyncio.sleep(0.3)


def _framed(schema_id: int, body: bytes = b"\x02") -> bytes:
    return b"\x00" + schema_id.to_bytes(4, "big") + body


async def test_undecodable_registry_messages_are_dead_lettered_and_counting_goes_on(
    broker: Broker, topics: Topics, start_worker: StartWorker
) -> None:
    with serving(free_port()) as registry:
        registry_url = f"http://127.0.0.1:{registry.server_address[1]}"
        registry.schemas[7] = 'syntax = "proto3"; message Click {}'
        registry.types[7] = "PROTOBUF"
        registry.schemas[8] = json.dumps({"type": "record", "name": "Broken", "fields": [{"name": "x"}]})
        codec = LinkClickCodec(link_click_codec(SchemaRegistryClient(registry_url), topics.clicks))
        worker = start_worker(schema_registry_url=registry_url)
        click = click_at("victim", datetime.now(UTC))
        hostile = [_framed(999), _framed(7), _framed(8), b"\x00\x00", _framed(999), b"\xff" * 64]
        await produce(broker, topics.clicks, [*hostile, codec.encode(click)], key=click.key)

        dead = await consume(broker, topics.dlq, len(hostile))
        assert sorted(message.value for message in dead) == sorted(hostile)
        reasons = [dict(message.headers)["error"].decode() for message in dead]
        assert sum("no schema id 999" in reason for reason in reasons) == 2
        assert any("PROTOBUF, not Avro" in reason for reason in reasons)
        await _wait_for(worker, "victim", 1)
        # The test registers its schema; the worker asks for ids 999, 7, 8 and the valid one, once each.
        assert registry.requests == 5


async def test_a_registry_outage_is_waited_out(
    broker: Broker, topics: Topics, start_worker: StartWorker
) -> None:
    port = free_port()
    with serving(free_port()) as elsewhere:
        codec = LinkClickCodec(
            link_click_codec(SchemaRegistryClient(f"http://127.0.0.1:{elsewhere.server_address[1]}"), "t")
        )
        click = click_at("patient", datetime.now(UTC))
        message = codec.encode(click)
        schema_id = int.from_bytes(message[1:5], "big")
        schema_text = elsewhere.schemas[schema_id]
    worker = start_worker(
        schema_registry_url=f"http://127.0.0.1:{port}", schema_registry_max_backoff_seconds="1"
    )
    await produce(broker, topics.clicks, [message], key=click.key)
    async with httpx.AsyncClient(base_url=worker.url) as client:
        deadline = time.monotonic() + 60
        while (
            "clickpipe_worker_schema_registry_failures_total 2.0" not in (await client.get("/metrics")).text
        ):
            assert time.monotonic() < deadline, "the worker never tried the registry"
            await asyncio.sleep(0.2)
        assert (await client.get("/healthz")).status_code == 200  # alive and answering meanwhile
    assert await _link_total(worker, "patient") == 0
    with serving(port) as registry:
        registry.schemas[schema_id] = schema_text
        await _wait_for(worker, "patient", 1)
    assert worker.process.poll() is None
