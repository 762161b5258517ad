"""The aiokafka internals ``producer.delivery.abandon`` relies on are still there; records carry the
producer's clock."""

from __future__ import annotations

import time

import aiokafka
from aiokafka import AIOKafkaProducer
from aiokafka.producer.message_accumulator import MessageAccumulator
from aiokafka.producer.sender import Sender
from aiokafka.record.memory_records import MemoryRecords

from producer.delivery import _batches


async def test_the_producer_still_has_the_sender_and_accumulator_abandon_uses() -> None:
    producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1")  # never started: nothing connects
    try:
        assert isinstance(producer._sender, Sender)
        assert isinstance(producer._message_accumulator, MessageAccumulator)
    finally:
        await producer.stop()
    assert callable(Sender.close) and callable(MessageAccumulator.fail_all)
    assert aiokafka.__version__.startswith(("0.13.", "0.14."))  # read abandon's docstring before moving on


async def test_records_are_stamped_with_the_producers_clock_when_sent() -> None:
    # The workers' watermarks follow the records' Kafka timestamps: a record must carry the producer's clock
    # when it is sent, never the event time a tenant put in the click (stream_app.windows).
    producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1")  # never started: nothing connects
    try:
        before = int(time.time() * 1000)
        [(_, batch)] = _batches(producer, [(b"k", b"v"), (b"k2", b"v2")])
        after = int(time.time() * 1000)
        records = MemoryRecords(bytes(batch._builder.build())).next_batch()
        assert records is not None
        assert records.timestamp_type == 0  # CreateTime: the broker keeps the producer's clock
        assert all(before <= record.timestamp <= after for record in records)
    finally:
        await producer.stop()
