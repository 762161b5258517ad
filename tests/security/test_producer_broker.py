"""Hostile input that needs a broker: poison records must not block, duplicate or drop other clicks."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from producer.metrics import ProducerMetrics
from producer.publisher import KafkaClickPublisher, kafka_producer
from producer.rejected import FileRejectedSink
from producer.spool import Spool
from schemas.broker_auth import BrokerAuth
from schemas.codec import LinkClickCodec
from schemas.events import LinkClick
from tests.integration.conftest import BROWSER, Broker, StartProducer, Topics

pytestmark = pytest.mark.integration

CODEC = LinkClickCodec()
SENTINEL = "https://ref.example/sentinel"


async def _until_sentinel(bootstrap: str, topic: str) -> list[LinkClick]:
    """Every event up to the sentinel. All of a test's clicks share one link, so one partition, in order:
    once the sentinel is read, everything sent before it (and any re-send of it) has been read too."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
        **BrokerAuth().aiokafka_options(),
    )
    await consumer.start()
    events: list[LinkClick] = []
    try:
        async with asyncio.timeout(90):
            while not any(event.referer == SENTINEL for event in events):
                for messages in (await consumer.getmany(timeout_ms=500)).values():
                    events += [CODEC.decode(message.value) for message in messages]
    finally:
        await consumer.stop()
    return events


async def test_a_huge_user_agent_neither_blocks_nor_duplicates_later_clicks(
    broker: Broker, topics: Topics, start_producer: StartProducer
) -> None:
    # As large as the header bound lets through (a larger header section gets 431: test_producer_headers).
    producer = start_producer()
    async with httpx.AsyncClient(base_url=producer.url, timeout=30) as client:
        poison = await client.get("/demo", headers={"User-Agent": "A" * 60_000, "Referer": "https://poison/"})
        assert poison.status_code == 302
        for i in range(20):
            response = await client.get(
                "/demo", headers={"User-Agent": BROWSER, "Referer": f"https://ref.example/{i}"}
            )
            assert response.status_code == 302
        await client.get("/demo", headers={"User-Agent": BROWSER, "Referer": SENTINEL})
        events = await _until_sentinel(broker.bootstrap_servers, topics.clicks)
        metrics = (await client.get("/metrics")).text
        ready = await client.get("/readyz")
    referers = [event.referer for event in events]
    assert sorted(referers) == sorted(
        ["https://poison/", *(f"https://ref.example/{i}" for i in range(20)), SENTINEL]
    )
    assert len({event.event_id for event in events}) == len(events)  # nothing twice
    (big,) = [event for event in events if event.referer == "https://poison/"]
    assert big.user_agent == "A" * 1024
    assert "clickpipe_producer_clicks_dropped_total 0.0" in metrics
    assert 'clickpipe_producer_clicks_rejected_total{reason="too_large"} 0.0' in metrics
    assert ready.status_code == 200


@pytest.mark.parametrize("sender_thread", [False, True], ids=["same-loop", "sender-thread"])
async def test_a_record_the_broker_refuses_is_set_aside_and_its_mates_arrive_once(
    broker: Broker, tmp_path: Path, sender_thread: bool
) -> None:
    if broker.embedded:
        pytest.skip("the embedded broker (Tansu 0.6) enforces no record size: it refuses nothing")
    topic = f"clicks-small-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap_servers, **broker.client_options)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1, topic_configs={"max.message.bytes": "10000"})])
    finally:
        await admin.close()
    metrics = ProducerMetrics()
    publisher = KafkaClickPublisher(
        lambda: kafka_producer(
            broker.bootstrap_servers, enable_idempotence=False, linger_ms=10, request_timeout_ms=5_000
        ),
        Spool(tmp_path / "spool"),
        topic,
        metrics,
        rejected=FileRejectedSink(tmp_path / "rejected"),
        max_event_bytes=1_000_000,  # the broker's limit is the lower one here
        sender_thread=sender_thread,
    )

    def click(i: int, **fields: object) -> LinkClick:
        return LinkClick("one-link", "acct", "https://e/", datetime.now(UTC), event_id=f"e{i}", **fields)  # type: ignore[arg-type]

    for i in range(30):  # published before the start: one send round, the poison amid its batch
        publisher.publish(click(i, user_agent="P" * 20_000 if i == 10 else None))
    await publisher.start()
    for i in range(30, 40):
        publisher.publish(click(i))
    publisher.publish(click(40, referer=SENTINEL))
    try:
        events = await _until_sentinel(broker.bootstrap_servers, topic)
    finally:
        await publisher.stop()
    assert sorted(event.event_id for event in events) == sorted(f"e{i}" for i in range(41) if i != 10)
    lines = (tmp_path / "rejected" / "rejected.jsonl").read_text().splitlines()
    assert [json.loads(line)["reason"] for line in lines] == ["refused"]
    assert (
        metrics.registry.get_sample_value("clickpipe_producer_clicks_rejected_total", {"reason": "refused"})
        == 1
    )
