"""KafkaClickPublisher around a fake aiokafka producer: batching, spooling, replay, shutdown."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError, MessageSizeTooLargeError

from producer.clicks import visit
from producer.geo import Geo
from producer.links import Link
from producer.metrics import ProducerMetrics
from producer.publisher import KafkaClickPublisher
from producer.rejected import InMemoryRejectedSink
from producer.spool import Spool
from schemas.codec import LinkClickCodec
from schemas.events import LinkClick

CODEC = LinkClickCodec()


class FakeBatch:
    def __init__(self) -> None:
        self.records: list[tuple[bytes, bytes]] = []

    def append(self, *, key: bytes, value: bytes, timestamp: None) -> object:
        self.records.append((key, value))
        return object()


class FakeProducer:
    """Stands in for AIOKafkaProducer: ``down`` makes sends fail like an unreachable broker."""

    def __init__(
        self,
        *,
        down: bool = False,
        start_failures: int = 0,
        refuse: Callable[[bytes], bool] = lambda value: False,
        down_partitions: frozenset[int] = frozenset(),
    ) -> None:
        self.down = down
        self.start_failures = start_failures
        self.refuse = refuse  # the broker refuses a batch holding a value this says yes to
        self.down_partitions = down_partitions  # batches to these time out
        self.sent: list[tuple[int, bytes, bytes]] = []
        self.batches_sent = 0
        self.stopped = False

    async def start(self) -> None:
        if self.start_failures:
            self.start_failures -= 1
            raise KafkaConnectionError("no broker")

    async def stop(self) -> None:
        self.stopped = True

    async def partitions_for(self, topic: str) -> set[int]:
        if self.down:
            raise KafkaTimeoutError()
        return {0, 1, 2, 3}

    def create_batch(self) -> FakeBatch:
        return FakeBatch()

    async def send_batch(self, batch: FakeBatch, topic: str, *, partition: int) -> asyncio.Future[None]:
        if self.down:
            raise KafkaTimeoutError()
        self.batches_sent += 1
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if partition in self.down_partitions:
            future.set_exception(KafkaTimeoutError())
        elif any(self.refuse(value) for _, value in batch.records):
            future.set_exception(MessageSizeTooLargeError())  # Kafka refuses the whole batch
        else:
            self.sent.extend((partition, key, value) for key, value in batch.records)
            future.set_result(None)
        return future

    def event_ids(self) -> list[str]:
        return [CODEC.decode(value).event_id for _, _, value in self.sent]

    def ids_by_link(self) -> dict[bytes, list[int]]:
        """Event numbers per link, in the order sent (Kafka orders within a partition, so per link)."""
        ordered: dict[bytes, list[int]] = {}
        for _, key, value in self.sent:
            ordered.setdefault(key, []).append(int(CODEC.decode(value).event_id[1:]))
        return ordered


def in_order(fake: FakeProducer, count: int) -> bool:
    by_link = fake.ids_by_link()
    return sum(map(len, by_link.values())) == count and all(ids == sorted(ids) for ids in by_link.values())


def click(i: int, **fields: Any) -> LinkClick:
    return LinkClick(
        f"link-{i % 7}", "acct", "https://example.com/", datetime.now(UTC), event_id=f"e{i}", **fields
    )


def metric(metrics: ProducerMetrics, name: str) -> float:
    return metrics.registry.get_sample_value(f"clickpipe_producer_{name}_total") or 0.0


async def eventually(condition: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


THREADED = pytest.mark.parametrize("threaded", [False, True], ids=["same-loop", "sender-thread"])
"""For tests that hold for a sender on the caller's loop and for one on a thread of its own."""


def publisher(
    fake: FakeProducer, spool_dir: Path, metrics: ProducerMetrics, **options: Any
) -> KafkaClickPublisher:
    factory = options.pop("producer_factory", lambda: fake)
    options["sender_thread"] = options.pop("threaded", False)
    return KafkaClickPublisher(
        factory,
        options.pop("spool", None) or Spool(spool_dir),
        "clicks",
        metrics,
        retry_seconds=0.02,
        **{"rejected": InMemoryRejectedSink(), **options},
    )


@THREADED
async def test_events_are_sent_keyed_by_link_and_decode_back(tmp_path: Path, threaded: bool) -> None:
    fake, metrics = FakeProducer(), ProducerMetrics()
    pub = publisher(fake, tmp_path, metrics, threaded=threaded)
    await pub.start()
    events = [click(i) for i in range(50)]
    for event in events:
        pub.publish(event)
    await eventually(lambda: len(fake.sent) == 50)
    await pub.stop()
    assert sorted(fake.event_ids()) == sorted(event.event_id for event in events)
    partition_of = {}
    for partition, key, value in fake.sent:
        assert CODEC.decode(value).key == key
        assert partition_of.setdefault(key, partition) == partition  # one link, one partition
    assert fake.stopped


@THREADED
async def test_a_broker_outage_spools_and_replays_in_order(tmp_path: Path, threaded: bool) -> None:
    fake, metrics = FakeProducer(), ProducerMetrics()
    pub = publisher(fake, tmp_path, metrics, threaded=threaded)
    await pub.start()
    await eventually(lambda: pub.state == "connected")
    fake.down = True
    for i in range(100):
        pub.publish(click(i))
    await eventually(lambda: metric(metrics, "clicks_spooled") == 100)
    assert pub.state == "spooling"
    assert fake.sent == []
    for i in range(100, 150):
        pub.publish(click(i))
    fake.down = False
    await eventually(lambda: len(fake.sent) == 150)
    await pub.stop()
    assert in_order(fake, 150)  # spooled first, later ones behind them
    # The later 50 are spooled too, unless the replay of the first 100 was under way when they came and
    # ended first (spool I/O runs on its own thread): then they follow the replay straight from the queue.
    assert 100 <= metric(metrics, "clicks_replayed") <= 150
    assert metric(metrics, "clicks_dropped") == 0


@THREADED
async def test_an_unreachable_broker_at_start_is_retried_and_nothing_is_lost(
    tmp_path: Path, threaded: bool
) -> None:
    fake, metrics = FakeProducer(start_failures=3), ProducerMetrics()
    pub = publisher(fake, tmp_path, metrics, threaded=threaded)
    await pub.start()
    for i in range(20):
        pub.publish(click(i))
    await eventually(lambda: len(fake.sent) == 20)
    await pub.stop()
    assert in_order(fake, 20)


async def test_an_async_factory_that_cannot_reach_the_broker_is_retried(tmp_path: Path) -> None:
    """The factory may ask the broker first (is it idempotent?): its KafkaError means "not reachable yet"."""
    fake, metrics = FakeProducer(), ProducerMetrics()
    attempts = 0

    async def connect() -> FakeProducer:
        nonlocal attempts
        attempts += 1
        if attempts <= 2:
            raise KafkaError("no producer id yet")
        return fake

    pub = publisher(fake, tmp_path, metrics, producer_factory=connect)
    await pub.start()
    for i in range(20):
        pub.publish(click(i))
    await eventually(lambda: len(fake.sent) == 20)
    await pub.stop()
    assert attempts == 3
    assert in_order(fake, 20)


class HangingProducer(FakeProducer):
    """A leader that is known but cannot be reached: aiokafka then holds batches unanswered, however long."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[asyncio.Future[None]] = []
        self._sender = self
        self._message_accumulator = self

    async def send_batch(self, batch: FakeBatch, topic: str, *, partition: int) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.held.append(future)
        return future

    async def close(self) -> None:  # Sender.close: the sender task stops
        pass

    def fail_all(self, exception: BaseException) -> None:  # MessageAccumulator.fail_all
        for future in self.held:
            if not future.done():
                future.set_exception(exception)


@THREADED
async def test_a_send_the_broker_never_answers_is_spooled_and_its_producer_abandoned(
    tmp_path: Path, threaded: bool
) -> None:
    hanging, fake, metrics = HangingProducer(), FakeProducer(), ProducerMetrics()
    made = iter([hanging, fake])
    pub = publisher(
        fake, tmp_path, metrics, producer_factory=lambda: next(made), send_timeout=0.1, threaded=threaded
    )
    await pub.start()
    for i in range(30):
        pub.publish(click(i))
    await eventually(lambda: len(fake.sent) == 30)
    await pub.stop()
    assert hanging.stopped and all(future.done() for future in hanging.held)  # it will send nothing more
    assert metric(metrics, "clicks_spooled") == 30
    assert in_order(fake, 30)  # each click once, through the producer that took over


@THREADED
async def test_stop_spools_what_the_broker_does_not_take_and_a_restart_replays_it(
    tmp_path: Path, threaded: bool
) -> None:
    fake, metrics = FakeProducer(down=True), ProducerMetrics()
    pub = publisher(fake, tmp_path, metrics, drain_timeout=0.2, threaded=threaded)
    await pub.start()
    for i in range(30):
        pub.publish(click(i))
    await pub.stop()
    assert fake.sent == []
    assert Spool(tmp_path).pending_records == 30
    back, metrics_after = FakeProducer(), ProducerMetrics()
    restarted = publisher(back, tmp_path, metrics_after, threaded=threaded)
    await restarted.start()
    await eventually(lambda: len(back.sent) == 30)
    await restarted.stop()
    assert in_order(back, 30)


@THREADED
async def test_a_full_queue_overflows_to_the_spool(tmp_path: Path, threaded: bool) -> None:
    fake, metrics = FakeProducer(), ProducerMetrics()
    pub = publisher(fake, tmp_path, metrics, queue_size=5, threaded=threaded)
    for i in range(12):  # not started yet: the queue fills up
        pub.publish(click(i))
    assert metric(metrics, "clicks_spooled") == 7
    await pub.start()
    await eventually(lambda: len(fake.sent) == 12)
    await pub.stop()
    assert sorted(fake.event_ids()) == sorted(f"e{i}" for i in range(12))
    assert metric(metrics, "clicks_dropped") == 0


async def test_clicks_the_spool_cannot_take_are_counted_as_dropped(tmp_path: Path) -> None:
    fake, metrics = FakeProducer(), ProducerMetrics()
    pub = publisher(fake, tmp_path / "spool", metrics, queue_size=1)
    pub.publish(click(0))  # not started: this fills the queue
    (tmp_path / "spool").rmdir()
    (tmp_path / "spool").write_text("not a directory")  # the spool's appends now fail
    pub.publish(click(1))
    assert metric(metrics, "clicks_dropped") == 1


@pytest.mark.parametrize("count", [1, 2_500])
async def test_batches_of_any_size_arrive_whole(tmp_path: Path, count: int) -> None:
    fake, metrics = FakeProducer(), ProducerMetrics()
    pub = publisher(fake, tmp_path, metrics, batch_size=1_000)
    await pub.start()
    for i in range(count):
        pub.publish(click(i))
    await eventually(lambda: len(fake.sent) == count)
    await pub.stop()
    assert metric(metrics, "clicks_published") == count


def rejected(metrics: ProducerMetrics, reason: str) -> float:
    return (
        metrics.registry.get_sample_value("clickpipe_producer_clicks_rejected_total", {"reason": reason})
        or 0.0
    )


async def test_a_record_the_broker_refuses_is_set_aside_and_its_batch_mates_are_sent_once(
    tmp_path: Path,
) -> None:
    poison = b"POISON"
    fake, metrics, sink = (
        FakeProducer(refuse=lambda value: poison in value),
        ProducerMetrics(),
        InMemoryRejectedSink(),
    )
    pub = publisher(fake, tmp_path, metrics, rejected=sink)
    for i in range(40):  # queued before the start: one round, the poison amid its partition's batch
        pub.publish(click(i, user_agent="POISON" if i == 7 else None))
    await pub.start()
    await eventually(lambda: len(fake.sent) == 39)
    for i in range(40, 60):  # later clicks still flow
        pub.publish(click(i))
    await eventually(lambda: len(fake.sent) == 59)
    await pub.stop()
    ids = fake.event_ids()
    assert sorted(ids) == sorted(f"e{i}" for i in range(60) if i != 7)  # each exactly once
    assert [CODEC.decode(record.value).event_id for record in sink.records] == ["e7"]
    assert sink.records[0].reason == "refused"
    assert sink.records[0].error == "MessageSizeTooLargeError"
    assert rejected(metrics, "refused") == 1
    assert metric(metrics, "clicks_spooled") == 0
    assert metric(metrics, "clicks_published") == 59


async def test_a_refused_record_in_the_spool_does_not_block_the_replay(tmp_path: Path) -> None:
    fake, metrics, sink = FakeProducer(down=True), ProducerMetrics(), InMemoryRejectedSink()
    fake.refuse = lambda value: b"POISON" in value
    pub = publisher(fake, tmp_path, metrics, rejected=sink)
    await pub.start()
    for i in range(30):
        pub.publish(click(i, user_agent="POISON" if i == 3 else None))
    await eventually(lambda: metric(metrics, "clicks_spooled") == 30)
    fake.down = False
    await eventually(lambda: len(fake.sent) == 29)
    await eventually(lambda: pub.state == "connected" and Spool(tmp_path).is_empty())
    await pub.stop()
    assert in_order_without(fake, 30, skip=3)
    assert rejected(metrics, "refused") == 1


def in_order_without(fake: FakeProducer, count: int, skip: int) -> bool:
    ids = [int(event_id[1:]) for event_id in fake.event_ids()]
    return sorted(ids) == [i for i in range(count) if i != skip] and all(
        numbers == sorted(numbers) for numbers in fake.ids_by_link().values()
    )


async def test_only_the_records_of_a_partition_that_failed_are_spooled_not_their_mates(
    tmp_path: Path,
) -> None:
    fake, metrics = FakeProducer(down_partitions=frozenset({0, 1, 2, 3})), ProducerMetrics()
    pub = publisher(fake, tmp_path, metrics)
    partitions = {0, 1, 2, 3}
    fake.down_partitions = frozenset({min(partitions)})
    for i in range(70):
        pub.publish(click(i))
    await pub.start()
    await eventually(lambda: metric(metrics, "clicks_spooled") > 0)
    spooled = metric(metrics, "clicks_spooled")
    assert 0 < spooled < 70  # one partition's clicks, not the round's
    fake.down_partitions = frozenset()
    await eventually(lambda: len(fake.sent) == 70)
    await pub.stop()
    assert sorted(fake.event_ids()) == sorted(f"e{i}" for i in range(70))  # none twice
    assert metric(metrics, "clicks_replayed") == spooled


async def test_an_event_over_the_size_limit_is_set_aside_never_sent(tmp_path: Path) -> None:
    fake, metrics, sink = FakeProducer(), ProducerMetrics(), InMemoryRejectedSink()
    pub = publisher(fake, tmp_path, metrics, rejected=sink, max_event_bytes=4_096)
    await pub.start()
    pub.publish(click(0, user_agent="x" * 5_000))
    pub.publish(click(1))
    await eventually(lambda: len(fake.sent) == 1)
    await pub.stop()
    assert fake.event_ids() == ["e1"]
    assert [(r.reason, CODEC.decode(r.value).event_id) for r in sink.records] == [("too_large", "e0")]
    assert rejected(metrics, "too_large") == 1


async def test_an_event_that_does_not_fit_the_schema_is_set_aside_and_the_sender_lives_on(
    tmp_path: Path,
) -> None:
    fake, metrics, sink = FakeProducer(), ProducerMetrics(), InMemoryRejectedSink()
    pub = publisher(fake, tmp_path, metrics, rejected=sink)
    await pub.start()
    pub.publish(click(0, user_agent="lone \udc80 surrogate"))
    pub.publish(click(1))
    await eventually(lambda: len(fake.sent) == 1)
    assert pub.state == "connected"
    await pub.stop()
    assert [record.reason for record in sink.records] == ["unencodable"]
    assert rejected(metrics, "unencodable") == 1


@THREADED
async def test_a_failed_sender_is_reported_as_failed(tmp_path: Path, threaded: bool) -> None:
    class Broken(FakeProducer):
        async def partitions_for(self, topic: str) -> set[int]:
            raise RuntimeError("a bug")

    pub = publisher(Broken(), tmp_path, ProducerMetrics(), threaded=threaded)
    await pub.start()
    pub.publish(click(0))
    await eventually(lambda: pub.state == "failed")
    await pub.stop()


async def test_past_the_spool_cap_clicks_are_dropped_and_counted_only_then(tmp_path: Path) -> None:
    fake, metrics = FakeProducer(down=True), ProducerMetrics()
    pub = publisher(fake, tmp_path, metrics, spool=Spool(tmp_path, max_bytes=2_000), queue_size=1)
    for i in range(40):  # not started: all but the first overflow to the spool, one at a time
        pub.publish(click(i))
    spooled, dropped = metric(metrics, "clicks_spooled"), metric(metrics, "clicks_dropped")
    assert spooled > 0 and dropped > 0 and spooled + dropped == 39
    assert pub.spool_bytes <= 2_000
    assert pub.spool_bytes + 200 > 2_000  # dropped only once the next record no longer fit
    assert metrics.registry.get_sample_value("clickpipe_producer_spool_bytes") == pub.spool_bytes
    fake.down = False
    await pub.start()
    await eventually(lambda: len(fake.sent) == 40 - dropped)
    await pub.stop()


async def test_a_visit_is_queued_as_is_and_its_event_built_by_the_sender(tmp_path: Path) -> None:
    fake, metrics = FakeProducer(), ProducerMetrics()
    pub = publisher(fake, tmp_path, metrics)
    link = Link("link-1", "acct", "promo", "https://example.com/", {"DE": "https://example.de/"})
    now = datetime.now(UTC)
    visits = [
        visit("promo", link, Geo(country="DE"), now, user_agent=agent, referer="https://r/")[1]
        for agent in ("Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0", "curl/8.0")
    ]
    for seen in visits:
        pub.publish(seen)
    assert pub._queue.take(1) == [visits[0]]  # the request path did no more than queue it
    pub.publish(visits[0])
    await pub.start()
    await eventually(lambda: len(fake.sent) == 2)
    await pub.stop()
    events = sorted((CODEC.decode(value) for _, _, value in fake.sent), key=lambda event: event.is_bot)
    assert [(e.destination, e.country, e.is_bot, e.referer) for e in events] == [
        ("https://example.de/", "DE", False, "https://r/"),
        ("https://example.de/", "DE", True, "https://r/"),
    ]
    assert events[0].timestamp == now.replace(microsecond=now.microsecond // 1000 * 1000)
    assert uuid.UUID(events[0].event_id).version == 7
    assert metric(metrics, "clicks_received") == 3


class InlineExecutor(concurrent.futures.Executor):
    """Runs each call at once in the caller's thread, so a test can count event-loop turns."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 -- handed to the future, as a thread pool does
            future.set_exception(exc)
        return future


class GatedProducer(FakeProducer):
    """A broker that answers a send only once the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.waiting = False

    async def send_batch(self, batch: FakeBatch, topic: str, *, partition: int) -> asyncio.Future[None]:
        self.waiting = True
        await self.gate.wait()
        return await super().send_batch(batch, topic, partition=partition)


async def turns(count: int) -> None:
    """Let the event loop run ``count`` times round (no wall-clock time is waited for)."""
    for _ in range(count):
        await asyncio.sleep(0)


async def test_stop_returns_as_soon_as_the_last_click_is_delivered_not_on_a_timer(tmp_path: Path) -> None:
    gated, metrics = GatedProducer(), ProducerMetrics()
    pub = publisher(gated, tmp_path, metrics, spool_executor=InlineExecutor(), drain_timeout=60)
    await pub.start()
    pub.publish(click(0))
    await eventually(lambda: gated.waiting)
    stopping = asyncio.create_task(pub.stop())
    await turns(50)
    assert not stopping.done()  # the click is still on its way: stop waits for it
    gated.gate.set()
    await turns(50)  # a poll of any period would still be asleep
    assert stopping.done()
    await stopping
    assert gated.event_ids() == ["e0"]
    assert metric(metrics, "clicks_spooled") == 0
    assert pub.state == "stopped"


async def test_stop_with_nothing_pending_returns_at_once(tmp_path: Path) -> None:
    fake = FakeProducer()
    pub = publisher(fake, tmp_path, ProducerMetrics(), spool_executor=InlineExecutor(), drain_timeout=60)
    await pub.start()
    await eventually(lambda: pub.state == "connected")
    stopping = asyncio.create_task(pub.stop())
    await turns(20)
    assert stopping.done()
    await stopping


class SlowSpool(Spool):
    """A spool whose appends wait (in whatever thread runs them) until the test releases them."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.appending = threading.Event()
        self.release = threading.Event()

    def append(self, records: Sequence[tuple[bytes, bytes]]) -> int:
        self.appending.set()
        self.release.wait(timeout=5)  # on the event loop this would stall the test: it must not be there
        self.appending.clear()
        return super().append(records)


async def test_spool_writes_do_not_block_the_event_loop(tmp_path: Path) -> None:
    fake, metrics = FakeProducer(down=True), ProducerMetrics()
    spool = SlowSpool(tmp_path)
    pub = publisher(fake, tmp_path, metrics, spool=spool)
    await pub.start()
    pub.publish(click(0))  # the broker is down: the sender spools it
    await eventually(spool.appending.is_set)
    assert spool.appending.is_set()  # this coroutine ran while the append was still waiting
    pub.publish(click(1))  # and so does the request path
    spool.release.set()
    await eventually(lambda: metric(metrics, "clicks_spooled") == 2)
    fake.down = False
    await eventually(lambda: len(fake.sent) == 2)
    await pub.stop()
    assert in_order(fake, 2)


@THREADED
async def test_a_spool_write_under_way_when_stop_cancels_the_sender_is_kept_once(
    tmp_path: Path, threaded: bool
) -> None:
    fake, metrics = FakeProducer(down=True), ProducerMetrics()
    spool = SlowSpool(tmp_path / "spool")
    pub = publisher(fake, tmp_path, metrics, spool=spool, drain_timeout=0, threaded=threaded)
    await pub.start()
    for i in range(3):
        pub.publish(click(i))
    await eventually(spool.appending.is_set)
    stopping = asyncio.create_task(pub.stop())
    await turns(5)
    spool.release.set()
    await stopping
    assert Spool(tmp_path / "spool").pending_records == 3  # each once: not lost, not spooled twice


class TickingCodec(LinkClickCodec):
    """Notes, for each event it encodes, how many turns a ticker task had had on the loop by then."""

    def __init__(self) -> None:
        super().__init__()
        self.ticks = 0
        self.seen: list[int] = []

    def encode(self, event: LinkClick) -> bytes:
        self.seen.append(self.ticks)
        return super().encode(event)


async def test_a_batch_is_built_and_encoded_a_slice_at_a_time_with_the_loop_free_in_between(
    tmp_path: Path,
) -> None:
    fake, codec = FakeProducer(), TickingCodec()
    pub = publisher(fake, tmp_path, ProducerMetrics(), codec=codec, batch_size=1_000, build_slice=100)

    async def tick() -> None:
        while True:
            codec.ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(tick())
    for i in range(1_000):
        pub.publish(click(i))
    await pub.start()
    await eventually(lambda: len(fake.sent) == 1_000)
    await pub.stop()
    ticker.cancel()
    slices = [codec.seen[start : start + 100] for start in range(0, 1_000, 100)]
    assert all(len(set(part)) == 1 for part in slices)  # a slice runs without a break
    assert len({part[0] for part in slices}) == 10  # and the loop ran between any two of them


@THREADED
async def test_clicks_taken_but_not_yet_encoded_when_stop_cancels_are_spooled(
    tmp_path: Path, threaded: bool
) -> None:
    fake, metrics = FakeProducer(down=True), ProducerMetrics()
    pub = publisher(fake, tmp_path, metrics, build_slice=1, drain_timeout=0, threaded=threaded)
    for i in range(500):
        pub.publish(click(i))
    await pub.start()
    await pub.stop()
    assert Spool(tmp_path).pending_records == 500
    assert metric(metrics, "clicks_dropped") == 0


async def test_the_sender_thread_runs_the_producer_off_the_callers_thread(tmp_path: Path) -> None:
    class Recording(FakeProducer):
        def __init__(self) -> None:
            super().__init__()
            self.threads: set[int] = set()

        async def send_batch(self, batch: FakeBatch, topic: str, *, partition: int) -> asyncio.Future[None]:
            self.threads.add(threading.get_ident())
            return await super().send_batch(batch, topic, partition=partition)

    fake, metrics = Recording(), ProducerMetrics()
    pub = publisher(fake, tmp_path, metrics, threaded=True)
    await pub.start()
    assert pub._loop_thread is not None
    for i in range(50):
        pub.publish(click(i))
    await eventually(lambda: len(fake.sent) == 50)
    assert fake.threads and threading.get_ident() not in fake.threads
    await pub.stop()
    assert pub.state == "stopped" and fake.stopped
    assert not any(thread.name == "click-sender" for thread in threading.enumerate())
    assert in_order(fake, 50)
