"""What the broker says about itself, checked against what it does: the answers the code and tests rely on."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from producer.broker_features import supports_idempotence
from tests.integration.conftest import Broker, Topics
from tests.kafka_io import consume, produce


async def test_apache_kafka_hands_out_producer_ids_and_the_embedded_broker_does_not(broker: Broker) -> None:
    if broker.kind == "external":
        pytest.skip("an external broker's kind is unknown, so there is no expected answer")
    assert await supports_idempotence(broker.bootstrap_servers) is (not broker.embedded)


async def test_the_log_end_offset_counts_every_record_and_the_embedded_broker_falls_short(
    broker: Broker, topics: Topics
) -> None:
    """A worker taking partitions over recovers their changelog up to its log end offset and no further.

    After multi-record batches (as Faust's changelog producer sends them) the embedded broker reports an end
    below records it has acknowledged and serves, so a new owner misses the changelog's last records: the
    embedded-only waits that cite this test stand for that. When this fails on the embedded broker, it is
    fixed there and those waits can go.
    """
    values = [b"v" * 50] * 200
    await produce(broker, topics.dlq, values, key=b"one")
    read = await consume(broker, topics.dlq, len(values))
    assert len(read) == len(values)
    tp = TopicPartition(topics.dlq, read[0].partition)
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap_servers, **broker.client_options)
    await consumer.start()
    try:
        end = (await consumer.end_offsets([tp]))[tp]
    finally:
        await consumer.stop()
    written = read[-1].offset + 1
    if broker.embedded:
        assert end < written
    else:
        assert end == written
