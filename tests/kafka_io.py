"""Helpers of the integration and hostile-input suites: raw produce and consume, clicks at a given time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from schemas.events import LinkClick
from tests.integration.conftest import Broker


def click_at(link: str, at: datetime, *, account: str = "acct", slug: str | None = None) -> LinkClick:
    """A click on ``link`` at event time ``at``."""
    return LinkClick(
        link_id=link,
        account_id=account,
        destination="https://example.com/",
        timestamp=at,
        country="DE",
        slug=slug,
    )


async def produce(broker: Broker, topic: str, values: Sequence[bytes], *, key: bytes) -> None:
    """Write ``values`` to ``topic`` under one key (so one partition), in order."""
    producer = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap_servers, **broker.client_options, linger_ms=5
    )
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for value in values]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def consume(broker: Broker, topic: str, count: int, timeout: float = 60) -> list[Any]:
    """Read ``topic`` from the start until ``count`` messages arrived (or the timeout)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=broker.bootstrap_servers,
        **broker.client_options,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    messages: list[Any] = []
    try:
        deadline = time.monotonic() + timeout
        while len(messages) < count and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                messages.extend(batch)
    finally:
        await consumer.stop()
    return messages
