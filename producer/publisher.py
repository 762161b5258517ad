"""Publishing click events without making the visitor wait for Kafka.

The request path calls ``publish``, which only puts the event on a bounded in-process queue. A sender task
takes events off in batches, Avro-encodes them, and sends them keyed by link id with acks=all; a failed round
is retried with backoff, so a broker outage delays events instead of losing them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from producer.metrics import ProducerMetrics
from schemas.codec import LinkClickCodec
from schemas.errors import SerializationError
from schemas.events import LinkClick

log = logging.getLogger(__name__)


class ClickPublisher(Protocol):
    """Takes click events off the request path. ``publish`` never blocks and never raises for the broker."""

    def publish(self, event: LinkClick) -> None:
        """Hand an event over for publishing; returns at once."""
        ...

    @property
    def ready(self) -> bool:
        """True while events can reach the broker."""
        ...

    async def start(self) -> None:
        """Start publishing in the background."""
        ...

    async def stop(self) -> None:
        """Publish what is pending, then stop. Safe to call more than once."""
        ...


class InMemoryClickPublisher:
    """A ClickPublisher that keeps events in a list: for unit tests and running without a broker."""

    def __init__(self) -> None:
        self.events: list[LinkClick] = []
        self.ready = True

    def publish(self, event: LinkClick) -> None:
        """Record the event."""
        self.events.append(event)

    async def start(self) -> None:
        """Nothing to start."""

    async def stop(self) -> None:
        """Nothing to stop."""


class KafkaClickPublisher:
    """Publishes click events to Kafka from a bounded queue, in batches, retrying until acknowledged.

    Args:
        producer_factory: returns an unstarted aiokafka producer (acks=all), called in ``start`` (aiokafka
            binds to the running loop); this publisher starts and stops it.
        topic: the click topic.
        metrics: where counts and latencies go.
        queue_size: events held in memory; beyond that ``publish`` drops and counts.
        batch_size: events taken from the queue per send round.
        drain_timeout: seconds ``stop`` waits for pending events to be acknowledged.
    """

    def __init__(
        self,
        producer_factory: Callable[[], AIOKafkaProducer],
        topic: str,
        metrics: ProducerMetrics,
        *,
        queue_size: int = 100_000,
        batch_size: int = 1_000,
        drain_timeout: float = 30.0,
    ) -> None:
        self._producer_factory = producer_factory
        self._producer: AIOKafkaProducer | None = None
        self._topic = topic
        self._metrics = metrics
        self._codec = LinkClickCodec()
        self._queue: asyncio.Queue[LinkClick] = asyncio.Queue(queue_size)
        self._batch_size = batch_size
        self._drain_timeout = drain_timeout
        self._task: asyncio.Task[None] | None = None
        self._connected = False
        metrics.queue_depth.set_function(self._queue.qsize)

    @property
    def ready(self) -> bool:
        """True once the producer is connected to the broker."""
        return self._connected

    def publish(self, event: LinkClick) -> None:
        """Queue the event for publishing; returns at once."""
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self._metrics.clicks_dropped.inc()
            log.error("click queue full (%d): dropped event %s", self._queue.maxsize, event.event_id)
            return
        self._metrics.clicks_received.inc()

    async def start(self) -> None:
        """Start the sender task (it connects to the broker, retrying while it is unreachable)."""
        if self._task is None:
            self._producer = self._producer_factory()
            self._task = asyncio.create_task(self._run(self._producer), name="click-sender")

    async def stop(self) -> None:
        """Wait up to ``drain_timeout`` for queued events to be acknowledged, then stop the producer."""
        task, self._task = self._task, None
        if task is None:
            return
        if not task.done():
            try:
                await asyncio.wait_for(self._queue.join(), self._drain_timeout)
            except TimeoutError:
                log.error("stopping with %d clicks not published", self._queue.qsize())
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._producer is not None:
            await self._producer.stop()
        self._connected = False

    async def _run(self, producer: AIOKafkaProducer) -> None:
        await self._connect(producer)
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._batch_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self._send(producer, batch)
            for _ in batch:
                self._queue.task_done()

    async def _connect(self, producer: AIOKafkaProducer) -> None:
        delay = 0.1
        while True:
            try:
                await producer.start()
            except KafkaError as exc:
                log.warning("broker not reachable (%r), retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            else:
                self._connected = True
                return

    async def _send(self, producer: AIOKafkaProducer, batch: list[LinkClick]) -> None:
        """Send one batch, retrying the whole round until every event is acknowledged."""
        messages: list[tuple[LinkClick, bytes]] = []
        for event in batch:
            try:
                messages.append((event, self._codec.encode(event)))
            except SerializationError:
                self._metrics.clicks_dropped.inc()
                log.exception("cannot encode click %s", event.event_id)
        delay = 0.1
        while True:
            try:
                futures = [
                    await producer.send(
                        self._topic,
                        value,
                        key=event.key,
                        timestamp_ms=int(event.timestamp.timestamp() * 1000),
                    )
                    for event, value in messages
                ]
                await asyncio.gather(*futures)
            except KafkaError as exc:
                self._metrics.publish_errors.inc()
                log.warning("publishing %d clicks failed (%r), retrying", len(messages), exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            now = time.time()
            self._metrics.clicks_published.inc(len(messages))
            for event, _ in messages:
                self._metrics.publish_latency.observe(max(0.0, now - event.timestamp.timestamp()))
            return


def kafka_producer(bootstrap_servers: str, *, enable_idempotence: bool, linger_ms: int) -> AIOKafkaProducer:
    """Return an unstarted aiokafka producer configured for loss-free click publishing."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        enable_idempotence=enable_idempotence,
        linger_ms=linger_ms,
        max_batch_size=256 * 1024,
        request_timeout_ms=15_000,
        client_id="clickpipe-producer",
    )
