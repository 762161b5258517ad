"""Publishing click events without making the visitor wait for Kafka, and without losing any.

The request path calls ``publish``: it only puts the event (or a ``Visit``, the smaller thing the
redirect hands over) on a bounded in-process queue (``producer.sender_thread.Handoff``). One sender task
takes them off in batches, builds the events of visits, Avro-encodes them a slice at a time (the loop runs
between slices) and sends them keyed by link id with acks=all. With ``sender_thread`` the sender, its aiokafka
producer and its spool calls run on an event loop of their own on another thread. When the broker
cannot take them (down, unreachable, timing out) the batch goes to the on-disk spool instead, and so does
every later event until the spool has been replayed, in order, to the broker. A full queue also overflows to
the spool. On shutdown, what the broker does not take within ``drain_timeout`` is spooled: nothing is lost,
and the next start replays it. Delivery is at least once: a send that failed half-way is sent again.
The spool's writes, fsyncs and reads run on a thread of their own (``producer.spool_io``), so a slow disk
does not stall the redirects; ``stop`` waits on an event the sender sets once nothing is pending.

Bounds: an event whose encoded record is larger than ``max_event_bytes``, or that does not fit the schema,
is set aside (``RejectedSink``) and counted, never sent; so is a record the broker refuses for good. Neither
blocks the records behind it, and a refused record's batch mates are not sent twice (``producer.delivery``).
The spool is capped in bytes: past its cap, clicks that would go to it are dropped and counted (the only
way a click is dropped, with a spool that cannot write).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from typing import Literal, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner

from producer.clicks import Visit
from producer.delivery import Record, abandon, deliver
from producer.errors import ProducerError
from producer.metrics import ProducerMetrics
from producer.rejected import RejectedRecord, RejectedSink, RejectReason
from producer.sender_thread import Handoff, LoopThread
from producer.spool import Spool, SpoolBatch
from producer.spool_io import SpoolIO
from schemas.broker_auth import BrokerAuth
from schemas.codec import LinkClickCodec
from schemas.errors import InvalidRecordError
from schemas.events import LinkClick

log = logging.getLogger(__name__)

PublisherState = Literal["starting", "connected", "spooling", "stopped", "failed"]
_PARTITIONER = DefaultPartitioner()


class ClickPublisher(Protocol):
    """Takes click events off the request path. ``publish`` never blocks and never raises for the broker."""

    def publish(self, event: LinkClick | Visit) -> None:
        """Hand an event (or a visit, whose event is built later) over for publishing; returns at once."""
        ...

    @property
    def state(self) -> PublisherState:
        """Where events go now."""
        ...

    @property
    def spool_bytes(self) -> int:
        """Bytes of events waiting on disk for the broker."""
        ...

    async def start(self) -> None:
        """Start publishing in the background."""
        ...

    async def stop(self) -> None:
        """Publish or spool what is pending, then stop. Safe to call more than once."""
        ...


class InMemoryClickPublisher:
    """A ClickPublisher that keeps events in a list: for unit tests and demos without a broker."""

    def __init__(self) -> None:
        self.events: list[LinkClick] = []
        self.state: PublisherState = "connected"
        self.spool_bytes = 0

    def publish(self, event: LinkClick | Visit) -> None:
        """Record the event."""
        self.events.append(event.event() if isinstance(event, Visit) else event)

    async def start(self) -> None:
        """Nothing to start."""

    async def stop(self) -> None:
        """Nothing to stop."""


class DiscardingClickPublisher(InMemoryClickPublisher):
    """Drops every event: only to measure the redirect without publishing (``PUBLISH=false``)."""

    def publish(self, event: LinkClick | Visit) -> None:
        """Drop the event."""


class KafkaClickPublisher:
    """Publishes click events to Kafka from a bounded queue, in batches, spooling to disk when it must.

    Args:
        producer_factory: returns (or awaits) an unstarted aiokafka producer (acks=all); called once the
            sender runs, because aiokafka binds to the running loop, and again after a failed start (a
            ``KafkaError`` from it counts as the broker being unreachable). The publisher starts and stops it.
        spool: the on-disk spool (it may hold events from an earlier run: they are replayed first).
        topic: the click topic.
        metrics: where counts and latencies go.
        queue_size: events held in memory before they overflow to the spool.
        batch_size: events per send round.
        drain_timeout: seconds ``stop`` lets pending events reach the broker before spooling them.
        retry_seconds: the longest wait between attempts to reach the broker while spooling.
        send_timeout: the longest a send round waits for the broker (None: aiokafka's own request timeout,
            which does not apply while a partition's known leader cannot be reached); what is unanswered
            by then is spooled, and the producer that held it is abandoned, so it is never sent twice.
        codec: the wire format (default: Avro single-object encoding).
        rejected: where records go that are never to be sent (too large, unencodable, refused).
        max_event_bytes: largest record (key and value) sent; larger ones are set aside.
        spool_executor: where the spool's file I/O runs; a thread of its own when None.
        sender_thread: run the sender (and the producer) on an event loop on a thread of its own, not on
            the loop that calls ``start``.
        build_slice: events built and encoded between two turns of the sender's loop.
    """

    def __init__(
        self,
        producer_factory: Callable[[], AIOKafkaProducer | Awaitable[AIOKafkaProducer]],
        spool: Spool,
        topic: str,
        metrics: ProducerMetrics,
        *,
        queue_size: int = 100_000,
        batch_size: int = 2_000,
        drain_timeout: float = 20.0,
        retry_seconds: float = 2.0,
        send_timeout: float | None = None,
        codec: LinkClickCodec | None = None,
        rejected: RejectedSink,
        max_event_bytes: int = 65_536,
        spool_executor: Executor | None = None,
        sender_thread: bool = False,
        build_slice: int = 128,
    ) -> None:
        self._producer_factory = producer_factory
        self._producer: AIOKafkaProducer | None = None
        self._spool = SpoolIO(spool, spool_executor)
        self._topic = topic
        self._metrics = metrics
        self._codec = codec or LinkClickCodec()
        self._queue: Handoff[LinkClick | Visit] = Handoff(queue_size)
        self._batch_size = batch_size
        self._drain_timeout = drain_timeout
        self._retry_seconds = retry_seconds
        self._send_timeout = send_timeout
        self._abandoned = False  # the producer was given up on: connect a new one before the next send
        self._task: asyncio.Task[None] | None = None  # on the sender's loop
        self._loop_thread = LoopThread("click-sender") if sender_thread else None
        self._build_slice = build_slice
        self._inflight: list[LinkClick | Visit] = []  # taken from the queue: encoded up to _inflight_at
        self._inflight_at = 0
        self._encoded: list[Record] = []  # encoded, neither delivered nor spooled yet
        self._state: PublisherState = "starting"
        self._partition_cache: dict[bytes, tuple[int, int]] = {}
        self._rejected = rejected
        self._max_event_bytes = max_event_bytes
        self._replaying: tuple[SpoolBatch, list[Record]] | None = None  # a batch partly delivered
        self._dropping = False
        self._drained = asyncio.Event()  # set by the sender when nothing is pending; publish clears it
        self._received = metrics.clicks_received
        metrics.queue_depth.set_function(self._queue.qsize)
        metrics.spool_pending.set_function(lambda: self._spool.counts.records)
        metrics.spool_bytes.set_function(lambda: self._spool.counts.bytes)

    @property
    def state(self) -> PublisherState:
        """``connected`` (events go to the broker), ``spooling`` (to disk), ``starting``, ``stopped``, or
        ``failed`` (the sender task died: events pile up in the queue, then the spool)."""
        return self._state

    @property
    def spool_bytes(self) -> int:
        """Bytes of events waiting in the spool."""
        return self._spool.counts.bytes

    def publish(self, event: LinkClick | Visit) -> None:
        """Queue the event; a full queue sends it to the spool (the one spool write on the event loop: it
        waits for the spool's thread, but only once ``queue_size`` events are waiting). Returns at once."""
        self._received.inc()
        self._drained.clear()
        if not self._queue.put(event):
            records = self._encode([_event(event)])
            if records:
                self._spool.run_now(lambda spool: self._append(spool, records))

    async def start(self) -> None:
        """Start the sender task (on its own thread's loop with ``sender_thread``)."""
        if self._task is not None:
            return
        if self._loop_thread is None:
            self._task = self._start_sender()
            return
        await self._loop_thread.start()
        self._task = await self._loop_thread.run(self._start_sender_async())

    def _start_sender(self) -> asyncio.Task[None]:
        task = asyncio.create_task(self._run(), name="click-sender")
        task.add_done_callback(self._on_sender_done)
        return task

    async def _start_sender_async(self) -> asyncio.Task[None]:
        return self._start_sender()

    def _on_sender_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self._state = "failed"
            log.error("the click sender failed: clicks are no longer published", exc_info=error)

    async def stop(self) -> None:
        """Let pending events reach the broker for up to ``drain_timeout`` s, spool the rest, stop."""
        task, self._task = self._task, None
        if task is None:
            return
        if self._loop_thread is None:
            await self._stop_sender(task)
            return
        try:
            await self._loop_thread.run(self._stop_sender(task))
        finally:
            await self._loop_thread.stop()

    async def _stop_sender(self, task: asyncio.Task[None]) -> None:
        """``stop``, on the sender's loop."""
        if not self._is_drained():
            drained = asyncio.create_task(self._drained.wait())
            try:  # until drained, the sender fails, or the deadline
                await asyncio.wait(
                    {task, drained}, timeout=self._drain_timeout, return_when="FIRST_COMPLETED"
                )
            finally:
                drained.cancel()
                await asyncio.wait({drained})
        task.cancel()
        await asyncio.wait({task})  # a failure was logged by _on_sender_done
        unencoded = self._inflight[self._inflight_at :] + self._queue.take(self._queue.qsize())
        leftover = self._encoded + self._encode([_event(item) for item in unencoded])
        self._inflight, self._encoded = [], []
        if leftover:
            log.warning("spooling %d clicks the broker did not take before shutdown", len(leftover))
            await self._spool_records(leftover)
        try:
            await self._spool.run(Spool.close)
        finally:
            self._spool.shutdown()
        if self._producer is not None:
            with contextlib.suppress(KafkaError, TimeoutError):
                await asyncio.wait_for(self._producer.stop(), 10)
        self._state = "stopped"

    def _is_drained(self) -> bool:
        return (
            self._queue.empty()
            and not self._inflight
            and not self._encoded
            and self._spool.counts.records == 0
        )

    async def _run(self) -> None:
        producer = await self._connect()
        while True:
            if self._is_drained():
                self._drained.set()
            if self._abandoned:
                producer = await self._connect()
            if self._spool.counts.records:
                # Order: while anything is spooled, new events queue up behind it on disk (or, while the
                # spool is at its cap and the replay frees room, in memory: a full queue drops them).
                room = self._spool.counts.room
                if room is None or room >= self._max_event_bytes:
                    await self._to_spool(self._queue.take(self._queue.qsize()))
                if not await self._replay(producer):
                    await self._spool_queue_for(self._retry_seconds)
                continue
            items = [await self._queue.get(), *self._queue.take(self._batch_size - 1)]
            undelivered = await self._send(producer, await self._encode_taken(items))
            self._encoded = []  # from here on the spool has them
            await self._spool_records(undelivered)
            if not undelivered:
                await self._observe_latency(items)

    async def _connect(self) -> AIOKafkaProducer:
        while True:
            self._producer = None
            try:
                made = self._producer_factory()  # a new one each time: a failed start() leaves it unusable
                producer = self._producer = await made if inspect.isawaitable(made) else made
                await producer.start()
                self._abandoned = False
            except KafkaError as exc:
                log.warning("broker not reachable (%r): clicks go to the spool", exc)
                self._state = "spooling"
                if self._producer is not None:
                    with contextlib.suppress(KafkaError):
                        await self._producer.stop()
                await self._spool_queue_for(self._retry_seconds)
            else:
                self._state = "connected"
                return producer

    async def _replay(self, producer: AIOKafkaProducer) -> bool:
        """Send the oldest spooled batch (what of it the broker has not taken yet); False when the broker
        did not take all of it."""
        if self._replaying is None:
            batch = await self._spool.run(lambda spool: spool.read_batch(self._batch_size))
            if batch is None:
                return True
            self._replaying = (batch, batch.records)
        batch, records = self._replaying
        undelivered = await self._send(producer, records)
        if undelivered:
            self._replaying = (batch, undelivered)
            return False
        self._replaying = None
        # Delivered: counted before the ack, which stop() may cancel (the ack itself is shielded).
        self._metrics.clicks_replayed.inc(len(batch.records))
        await self._spool.run(lambda spool: spool.ack(batch))
        return True

    async def _send(self, producer: AIOKafkaProducer, records: Sequence[Record]) -> list[Record]:
        """Send records as one batch per partition (far cheaper than a send per record), keyed as aiokafka's
        default partitioner would key them; set aside what the broker refuses; return what it did not
        take (to send again later)."""
        if not records:
            return []
        outcome = await deliver(producer, self._topic, records, self._partition_of, self._send_timeout)
        self._metrics.clicks_published.inc(outcome.delivered)
        if outcome.stuck:
            log.warning(
                "the broker did not answer within %.1fs: a new producer takes over", self._send_timeout
            )
            self._abandoned = True
            with contextlib.suppress(KafkaError):
                await abandon(producer)
        for record, error in outcome.refused:
            log.warning(
                "the broker refused a click record of %d bytes (%r): set aside", len(record[1]), error
            )
            self._reject(record, "refused", error)
        if outcome.undelivered:
            self._metrics.publish_errors.inc()
            if self._state != "spooling":
                log.warning(
                    "broker did not take %d clicks (%r): spooling until it does",
                    len(outcome.undelivered),
                    outcome.error,
                )
            self._state = "spooling"
        else:
            self._state = "connected"
        return outcome.undelivered

    def _partition_of(self, key: bytes, partitions: list[int]) -> int:
        cached = self._partition_cache.get(key)
        if cached is None or cached[0] != len(partitions):
            if len(self._partition_cache) > 100_000:
                self._partition_cache.clear()
            cached = self._partition_cache[key] = (len(partitions), _PARTITIONER(key, partitions, partitions))
        return cached[1]

    async def _spool_queue_for(self, seconds: float) -> None:
        """Move queued events to the spool as they come, for ``seconds``."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                first = await asyncio.wait_for(self._queue.get(), remaining)
            except TimeoutError:
                return
            await self._to_spool([first, *self._queue.take(self._batch_size - 1)])

    async def _encode_taken(self, items: list[LinkClick | Visit]) -> list[Record]:
        """Build and encode the events of ``items`` taken from the queue, ``build_slice`` at a time with a
        turn of the loop between slices (no request waits on a whole batch). Until the caller has sent or
        spooled them, ``stop`` finds them in ``_inflight`` and ``_encoded``."""
        self._inflight, self._inflight_at, self._encoded = items, 0, []
        size = self._build_slice
        for start in range(0, len(items), size):
            if start:
                await asyncio.sleep(0)
            self._encoded += self._encode([_event(item) for item in items[start : start + size]])
            self._inflight_at = start + size
        self._inflight, self._inflight_at = [], 0
        return self._encoded

    async def _to_spool(self, items: list[LinkClick | Visit]) -> None:
        records = await self._encode_taken(items)
        self._encoded = []
        await self._spool_records(records)

    async def _spool_records(self, records: list[Record]) -> None:
        if records:
            await self._spool.run(lambda spool: self._append(spool, records))

    def _append(self, spool: Spool, records: list[Record]) -> None:
        """Append to the spool and count what it took and dropped (on the spool's thread)."""
        try:
            taken = spool.append(records)
        except ProducerError:
            self._metrics.clicks_dropped.inc(len(records))
            log.exception("LOST %d clicks: the spool cannot take them", len(records))
            return
        self._metrics.clicks_spooled.inc(taken)
        if taken < len(records):
            self._metrics.clicks_dropped.inc(len(records) - taken)
            if not self._dropping:
                log.error(
                    "DROPPING clicks: the spool is at its cap (%d bytes pending); until it has room, "
                    "clicks it cannot take are dropped",
                    spool.pending_bytes,
                )
            self._dropping = True
        elif self._dropping:
            log.warning("the spool has room again: clicks are spooled, no longer dropped")
            self._dropping = False

    def _encode(self, events: list[LinkClick]) -> list[Record]:
        """The events' records; those too large or not fitting the schema are set aside instead."""
        records: list[Record] = []
        for event in events:
            key = event.key
            try:
                value = self._codec.encode(event)
            except InvalidRecordError as exc:
                log.warning("click %s does not fit the schema (%s): set aside", event.event_id, exc)
                self._reject((key, repr(event).encode("utf-8", "backslashreplace")), "unencodable", exc)
                continue
            if len(key) + len(value) > self._max_event_bytes:
                log.warning(
                    "click %s is %d bytes, over the %d-byte limit: set aside",
                    event.event_id,
                    len(key) + len(value),
                    self._max_event_bytes,
                )
                self._reject((key, value), "too_large", None)
                continue
            records.append((key, value))
        return records

    def _reject(self, record: Record, reason: RejectReason, error: BaseException | None) -> None:
        self._metrics.clicks_rejected.labels(reason=reason).inc()
        self._rejected.put(
            RejectedRecord(record[0], record[1], reason, type(error).__name__ if error is not None else "")
        )

    async def _observe_latency(self, items: list[LinkClick | Visit]) -> None:
        now, observe = time.time(), self._metrics.publish_latency.observe
        for start in range(0, len(items), self._build_slice):
            if start:
                await asyncio.sleep(0)
            for item in items[start : start + self._build_slice]:
                at = item.at if isinstance(item, Visit) else item.timestamp
                observe(max(0.0, now - at.timestamp()))


def _event(item: LinkClick | Visit) -> LinkClick:
    return item.event() if isinstance(item, Visit) else item


def kafka_producer(
    bootstrap_servers: str,
    *,
    enable_idempotence: bool,
    linger_ms: int,
    request_timeout_ms: int,
    auth: BrokerAuth | None = None,
) -> AIOKafkaProducer:
    """Return an unstarted aiokafka producer configured for loss-free click publishing (``auth``: how it
    authenticates, ``CLICKPIPE_KAFKA_*`` by default)."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        **(auth or BrokerAuth()).aiokafka_options(),
        acks="all",
        enable_idempotence=enable_idempotence,
        linger_ms=linger_ms,
        max_batch_size=512 * 1024,
        request_timeout_ms=request_timeout_ms,
        client_id="clickpipe-producer",
    )
