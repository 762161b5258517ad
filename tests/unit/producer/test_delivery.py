"""The aiokafka internals ``producer.delivery.abandon`` relies on are still there."""

from __future__ import annotations

import aiokafka
from aiokafka import AIOKafkaProducer
from aiokafka.producer.message_accumulator import MessageAccumulator
from aiokafka.producer.sender import Sender


async def test_the_producer_still_has_the_sender_and_accumulator_abandon_uses() -> None:
    producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1")  # never started: nothing connects
    try:
        assert isinstance(producer._sender, Sender)
        assert isinstance(producer._message_accumulator, MessageAccumulator)
    finally:
        await producer.stop()
    assert callable(Sender.close) and callable(MessageAccumulator.fail_all)
    assert aiokafka.__version__.startswith(("0.13.", "0.14."))  # read abandon's docstring before moving on
