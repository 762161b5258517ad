"""The worker's shell around the engines: fetched messages in, counts folded, messages out.

Aggregates are emitted before they are recorded as emitted: a crash in between sends them again, never
loses them (their keys are deterministic and the aggregates topic is compacted). A step does not wait for
its aggregates' acknowledgements: the partition's next step, or the timer, awaits them first and then
records them, so the round trip overlaps with other partitions and the next fetch.

``ClickProcessor`` decodes one fetch of click messages, folds each partition's clicks into its engine, and
sends what came out: final aggregates, late clicks, and dead letters (undecodable messages and clicks from
the future). Its collaborators are injected: the partitions (over the Faust table in the worker, a dict in
tests), and a ``Send`` (Faust's producer in the worker, ``stream_app.testing.InMemorySend`` in tests).
"""

from __future__ import annotations

import asyncio
import operator
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from schemas.aggregates import WindowAggregateCodec
from schemas.errors import SerializationError
from stream_app.aggregation import Click
from stream_app.decoding import ClickDecoder
from stream_app.engine import Output, PartitionEngine
from stream_app.metrics import WorkerMetrics

Headers = list[tuple[str, bytes]]


class SourceMessage(Protocol):
    """A click-topic message as read: an aiokafka ``ConsumerRecord`` (``stream_app.app`` makes one of a Faust
    ``Message``, whose timestamp is in seconds)."""

    @property
    def topic(self) -> str:
        """The topic it was read from."""
        ...

    @property
    def partition(self) -> int:
        """Its partition."""
        ...

    @property
    def offset(self) -> int:
        """Its offset."""
        ...

    @property
    def key(self) -> bytes | None:
        """Its key."""
        ...

    @property
    def value(self) -> bytes | None:
        """Its value."""
        ...

    @property
    def timestamp(self) -> int | None:
        """Its Kafka timestamp, epoch ms: when the producer sent it (or the broker appended it); -1 or None
        for none. Not the event time inside."""
        ...


class Send(Protocol):
    """Hands one message to the producer."""

    async def __call__(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers | None
    ) -> Awaitable[object]:
        """Queue the message; the returned awaitable completes once the broker has acknowledged it."""
        ...


class PartitionSet(Protocol):
    """The engines of the source partitions this worker owns (``stream_app.state.Partitions``)."""

    def process(
        self, partition: int, clicks: Sequence[Click], wall_ms: int | None = None, *, clock_ms: int | None
    ) -> Output:
        """Fold a batch of one partition's clicks into its state; ``clock_ms`` moves its watermark."""
        ...

    def tick(self, wall_ms: int | None = None) -> Iterator[tuple[int, Output]]:
        """Advance idle partitions' watermarks; yield what each partition closed."""
        ...

    def mark_emitted(self, partition: int, output: Output) -> None:
        """Record that ``output``'s aggregates were sent."""
        ...

    def engines(self) -> Iterator[tuple[int, PartitionEngine]]:
        """Yield (partition, engine) for the owned partitions."""
        ...


class SchemaPreparer(Protocol):
    """Resolves the registry schemas a batch names before it is decoded (``RegistrySchemas``)."""

    async def prepare(self, values: Iterable[bytes]) -> None:
        """Look up every schema id the values name."""
        ...


@dataclass(frozen=True, slots=True)
class OutputTopics:
    """Where the processor's messages go."""

    aggregates: str
    dlq: str
    late: str


class ClickProcessor:
    """Processes fetches of click messages and the timer's ticks, one at a time.

    Args:
        partitions: the owned partitions' engines.
        decoder: click messages to ``Click`` values.
        send: the producer.
        topics: the output topics.
        metrics: counted into.
        schemas: resolves registry schemas before decoding (None without a schema registry).
        clock: wall-clock seconds (the watermark lag gauge).
    """

    def __init__(
        self,
        partitions: PartitionSet,
        decoder: ClickDecoder,
        send: Send,
        topics: OutputTopics,
        metrics: WorkerMetrics,
        *,
        schemas: SchemaPreparer | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._partitions = partitions
        self._decoder = decoder
        self._send = send
        self._topics = topics
        self._metrics = metrics
        self._schemas = schemas
        self._clock = clock
        self._aggregate_codec = WindowAggregateCodec()
        # Batches and the timer both change partition state: one at a time.
        self._lock = asyncio.Lock()
        # Per partition: a step's output whose aggregates were sent, and their acknowledgements, not yet
        # awaited. The partition's next step (or the timer, or ``settle``) awaits them and records the
        # output as emitted before it goes on, so acks come back while other partitions and the next fetch
        # are processed.
        self._unsettled: dict[int, tuple[Output, list[Awaitable[object]]]] = {}

    async def handle(self, messages: Sequence[SourceMessage]) -> None:
        """Process one fetch of click messages (any partitions, each partition's in offset order)."""
        by_partition: defaultdict[int, list[SourceMessage]] = defaultdict(list)
        for message in messages:
            by_partition[message.partition].append(message)
        for partition, partition_messages in by_partition.items():
            await self._process(partition, partition_messages)
            await asyncio.sleep(0)  # let the web server answer between partitions of a large fetch

    async def settle(self) -> None:
        """Wait for every sent aggregate's acknowledgement and record those outputs as emitted."""
        async with self._lock:
            for partition in list(self._unsettled):
                await self._settle(partition)

    async def tick(self) -> None:
        """Close idle partitions' windows on the wall clock, send what closed, update the gauges."""
        async with self._lock:
            for partition in list(self._unsettled):
                await self._settle(partition)
            for partition, output in list(self._partitions.tick()):
                await self.emit(partition, output, {})
                self._partitions.mark_emitted(partition, output)
        now = self._clock()
        open_windows = 0
        for partition, engine in self._partitions.engines():
            self._metrics.watermark_lag.labels(str(partition)).set(now - engine.watermark.value_ms / 1000)
            open_windows += engine.window_count()
        self._metrics.windows_open.set(open_windows)

    async def dead_letter(self, message: SourceMessage, reason: str) -> None:
        """Set ``message`` aside on the dead-letter topic, with the reason and where it came from."""
        await self._send(
            self._topics.dlq,
            message.key,
            message.value,
            [
                ("error", reason.encode()),
                ("source.topic", message.topic.encode()),
                ("source.partition", str(message.partition).encode()),
                ("source.offset", str(message.offset).encode()),
            ],
        )
        self._metrics.dead_lettered.inc()

    async def emit(self, partition: int, output: Output, sources: dict[int, SourceMessage]) -> None:
        """Send what one partition step produced: aggregates, late clicks, clicks from the future.

        Returns once the aggregates are acknowledged, so the caller may record them as emitted. ``sources``
        maps the offsets of the step's clicks to their messages.
        """
        acks = await self._send_output(partition, output, sources)
        if acks:
            await asyncio.gather(*acks)

    async def _send_output(
        self, partition: int, output: Output, sources: dict[int, SourceMessage]
    ) -> list[Awaitable[object]]:
        """Send what one partition step produced; return the aggregates' acknowledgements, not awaited."""
        acks = [
            await self._send(
                self._topics.aggregates, aggregate.key, self._aggregate_codec.encode(aggregate), None
            )
            for aggregate in output.aggregates
        ]
        for click, windows in output.late:
            message = sources[click.offset]
            await self._send(
                self._topics.late,
                message.key,
                message.value,
                [
                    ("late.windows", ",".join(windows).encode()),
                    ("source.partition", str(partition).encode()),
                    ("source.offset", str(click.offset).encode()),
                ],
            )
            for window in windows:
                self._metrics.late.labels(window).inc()
        for future in output.future:
            await self.dead_letter(sources[future.click.offset], future.reason)
            self._metrics.future.inc()
        self._metrics.replayed.inc(output.replayed)
        self._metrics.amending.inc(output.amending)
        self._metrics.windows_amended.inc(output.amended_windows)
        self._metrics.windows_closed.inc(output.closed_windows)
        self._metrics.windows_expired.inc(output.expired_windows)
        return acks

    async def _settle(self, partition: int) -> None:
        """Await a partition's sent aggregates, then record them as emitted (call it under the lock)."""
        unsettled = self._unsettled.pop(partition, None)
        if unsettled is not None:
            output, acks = unsettled
            if acks:
                await asyncio.gather(*acks)
            self._partitions.mark_emitted(partition, output)

    async def _process(self, partition: int, messages: Sequence[SourceMessage]) -> None:
        batch: list[Click] = []
        append = batch.append
        decode = self._decoder.decode
        if self._schemas is not None:  # registry look-ups off the event loop, before decoding
            await self._schemas.prepare(message.value or b"" for message in messages)
        for message in messages:
            try:
                click = decode(message.offset, message.value or b"")
            except SerializationError as exc:
                await self.dead_letter(message, str(exc))
                continue
            if click is None:
                self._metrics.ignored.inc()
                continue
            append(click)
        async with self._lock:
            await self._settle(partition)  # the previous step's windows are recorded before this step
            output = self._partitions.process(partition, batch, clock_ms=producer_clock(messages))
            # The messages of the clicks set aside (late, or from the future): few, so looked up only then.
            sources = {m.offset: m for m in messages} if output.late or output.future else {}
            acks = await self._send_output(partition, output, sources)
            if output.closing or output.expiring:
                self._unsettled[partition] = (output, acks)
        self._metrics.processed.inc(len(messages))


_timestamp = operator.attrgetter("timestamp")


def producer_clock(messages: Sequence[SourceMessage]) -> int | None:
    """The producer's clock of a partition's fetched messages: their highest Kafka timestamp, None for none.

    The producer appends records without a timestamp (``producer.delivery``), so Kafka stamps each with
    the producer's clock when it sends it (CreateTime), redirect and batch-ingest clicks alike, or with the
    broker's clock when the topic says LogAppendTime. Either way it is not the event time inside, which a
    tenant chooses. One pass in C per batch: the hot path pays nothing per click for it.
    """
    try:
        clock: int = max(map(_timestamp, messages), default=-1)
    except TypeError:  # records without a timestamp (None: message format v0) among them
        clock = max((m.timestamp for m in messages if m.timestamp is not None), default=-1)
    return clock if clock >= 0 else None
