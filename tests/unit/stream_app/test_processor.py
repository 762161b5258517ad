"""ClickProcessor over in-memory partitions and an in-memory send: decoding, dead letters, emitting, ticks."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka.structs import ConsumerRecord

from schemas.aggregates import WindowAggregate, WindowAggregateCodec
from schemas.codec import LinkClickCodec
from schemas.events import LinkClick
from stream_app.decoding import ClickDecoder
from stream_app.metrics import WorkerMetrics
from stream_app.processor import ClickProcessor, OutputTopics, producer_clock
from stream_app.testing import DictRowStore, InMemoryPartitions, InMemorySend
from stream_app.windows import MINUTE_MS, Granularity

T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
T0_MS = int(T0.timestamp() * 1000)
GRANS = (Granularity("minute", MINUTE_MS, retention_ms=10 * MINUTE_MS),)
TOPICS = OutputTopics(aggregates="aggs", dlq="dlq", late="late")
CODEC = LinkClickCodec()
AGGREGATES = WindowAggregateCodec()


class Clock:
    """The wall clock, in epoch ms, moved by the test."""

    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


Record = ConsumerRecord[bytes, bytes]


def message(offset: int, value: bytes, partition: int = 0, *, sent_ms: int = T0_MS) -> Record:
    """A fetched record, as the batch tap hands it on; ``sent_ms`` is its Kafka timestamp (the producer's
    clock when it sent it)."""
    return ConsumerRecord("clicks", partition, offset, sent_ms, 0, b"k", value, None, 1, len(value), [])


def click(
    offset: int,
    at: datetime,
    link: str = "a",
    country: str | None = "DE",
    partition: int = 0,
    *,
    sent: datetime | None = None,
) -> Record:
    """A click at ``at``, sent at ``sent`` (by default as it happened: a redirect's click)."""
    event = LinkClick(
        link_id=link, account_id="acct", destination="https://example.com/", timestamp=at, country=country
    )
    sent_ms = int((sent or at).timestamp() * 1000)
    return message(offset, CODEC.encode(event), partition, sent_ms=sent_ms)


class Worker:
    """A processor over a store that outlives it (a restart builds a new Worker over the same store)."""

    def __init__(
        self, store: DictRowStore, clock: Clock, send: InMemorySend, owned: tuple[int, ...] = (0,)
    ) -> None:
        self.metrics = WorkerMetrics()
        self.partitions = InMemoryPartitions(
            store, GRANS, owned=owned, grace_ms=0, idle_ms=MINUTE_MS, clock=clock
        )
        self.processor = ClickProcessor(
            self.partitions,
            ClickDecoder(),
            send,
            TOPICS,
            self.metrics,
            clock=lambda: clock() / 1000,
        )


def aggregates(send: InMemorySend) -> list[WindowAggregate]:
    return [AGGREGATES.decode(sent.value or b"") for sent in send.to(TOPICS.aggregates)]


@pytest.fixture
def clock() -> Clock:
    return Clock(T0_MS + 5_000)


async def test_undecodable_messages_are_dead_lettered_with_where_they_came_from(clock: Clock) -> None:
    send = InMemorySend()
    worker = Worker(DictRowStore(), clock, send)

    await worker.processor.handle([click(0, T0), message(1, b"garbage"), click(2, T0)])

    (dead,) = send.to(TOPICS.dlq)
    assert dead.value == b"garbage"
    assert dead.header("source.offset") == b"1"
    assert dead.header("source.partition") == b"0"
    assert dead.header("source.topic") == b"clicks"
    assert dead.header("error")  # the reason
    assert worker.metrics.dead_lettered._value.get() == 1
    assert worker.metrics.processed._value.get() == 3


async def test_a_closed_window_is_emitted_once_with_its_final_counts(clock: Clock) -> None:
    send = InMemorySend()
    worker = Worker(DictRowStore(), clock, send)
    await worker.processor.handle([click(0, T0, "a", "DE"), click(1, T0, "a", None), click(2, T0, "b", "FR")])
    assert aggregates(send) == []

    # The next minute's click moves the watermark past the first minute (no grace): it closes.
    await worker.processor.handle([click(3, T0 + timedelta(minutes=1))])
    await worker.processor.tick()

    got = {(agg.link_id, agg.window_start_ms): (agg.clicks, agg.countries) for agg in aggregates(send)}
    assert got == {("a", T0_MS): (2, {"DE": (1, 0), None: (1, 0)}), ("b", T0_MS): (1, {"FR": (1, 0)})}
    assert all(
        sent.key == agg.key for sent, agg in zip(send.to(TOPICS.aggregates), aggregates(send), strict=True)
    )


async def test_the_timer_closes_an_idle_partitions_windows(clock: Clock) -> None:
    send = InMemorySend()
    worker = Worker(DictRowStore(), clock, send)
    await worker.processor.handle([click(0, T0)])
    await worker.processor.tick()
    assert aggregates(send) == []

    clock.now_ms += 2 * MINUTE_MS  # idle for longer than idle_ms: the watermark follows the wall clock
    await worker.processor.tick()

    assert [(agg.link_id, agg.clicks) for agg in aggregates(send)] == [("a", 1)]
    assert worker.metrics.windows_open._value.get() == 1  # closed, kept for its retention


async def test_late_and_future_clicks_go_to_their_topics(clock: Clock) -> None:
    send = InMemorySend()
    worker = Worker(DictRowStore(), clock, send)
    clock.now_ms = T0_MS + 20 * MINUTE_MS
    await worker.processor.handle([click(0, T0 + timedelta(minutes=20))])  # minute T0 past its retention

    await worker.processor.handle([click(1, T0), click(2, T0 + timedelta(days=1))])

    (late,) = send.to(TOPICS.late)
    assert (late.header("late.windows"), late.header("source.offset")) == (b"minute", b"1")
    (future,) = send.to(TOPICS.dlq)
    assert future.header("source.offset") == b"2"
    assert b"ahead of the worker clock" in (future.header("error") or b"")
    assert worker.metrics.future._value.get() == 1


async def test_a_late_click_amends_its_closed_window_and_its_aggregate_is_sent_again(clock: Clock) -> None:
    send = InMemorySend()
    worker = Worker(DictRowStore(), clock, send)
    await worker.processor.handle([click(0, T0), click(1, T0 + timedelta(minutes=1))])  # minute T0 closes
    first = [a for a in aggregates(send) if a.window_start_ms == T0_MS]
    assert [a.clicks for a in first] == [1]

    await worker.processor.handle([click(2, T0 + timedelta(seconds=30))])  # late for minute T0

    again = [a for a in aggregates(send) if a.window_start_ms == T0_MS]
    assert [a.clicks for a in again] == [1, 2]  # the amended aggregate, same key, the late click counted
    assert send.to(TOPICS.late) == []
    assert worker.metrics.amending._value.get() == 1
    assert worker.metrics.windows_amended._value.get() == 1


async def test_a_fetch_is_split_by_partition(clock: Clock) -> None:
    send = InMemorySend()
    worker = Worker(DictRowStore(), clock, send, owned=(0, 1))

    await worker.processor.handle([click(0, T0, "a", partition=0), click(0, T0, "b", partition=1)])

    counts = {
        partition: {link for _, row in engine.windows("minute", T0_MS, T0_MS + 1) for link in row.links}
        for partition, engine in worker.partitions.engines()
    }
    assert counts == {0: {"a"}, 1: {"b"}}


@pytest.mark.parametrize("after_restart", ["replay", "tick"])
async def test_a_crash_between_sending_and_recording_sends_the_aggregates_again(
    clock: Clock, after_restart: str
) -> None:
    store = DictRowStore()
    first_minute = [click(0, T0, "a", "DE"), click(1, T0, "a", "FR"), click(2, T0, "b", "DE")]
    closer = [click(3, T0 + timedelta(minutes=1), "c")]
    dying = InMemorySend(fail_after=1)  # the first aggregate goes out, then the worker dies
    worker = Worker(store, clock, dying)
    await worker.processor.handle(first_minute)
    with pytest.raises(ConnectionError):
        await worker.processor.handle(closer)
    assert len(aggregates(dying)) == 1  # one of the two went out

    # A new worker over the state that was written (the closing batch's offset was not committed).
    send = InMemorySend()
    restarted = Worker(store, clock, send)
    if after_restart == "replay":
        await restarted.processor.handle(closer)
    else:
        await restarted.processor.tick()

    got = {(agg.link_id, agg.window_start_ms): (agg.clicks, agg.countries) for agg in aggregates(send)}
    assert got == {("a", T0_MS): (2, {"DE": (1, 0), "FR": (1, 0)}), ("b", T0_MS): (1, {"DE": (1, 0)})}
    # Once acknowledged they are recorded: the next step sends nothing more.
    await restarted.processor.tick()
    assert len(aggregates(send)) == 2


async def test_aggregates_are_recorded_as_emitted_only_once_acknowledged(clock: Clock) -> None:
    store = DictRowStore()
    send = InMemorySend(hold_acks=True)
    worker = Worker(store, clock, send)
    await worker.processor.handle([click(0, T0)])
    step = asyncio.create_task(worker.processor.handle([click(1, T0 + timedelta(minutes=1))]))
    await send.waiting.wait()
    assert [agg.link_id for agg in aggregates(send)] == ["a"]

    # Sent, not yet acknowledged: a worker restarted from the state as it is now sends the aggregate again.
    meanwhile = InMemorySend()
    await Worker(copy.deepcopy(store), clock, meanwhile).processor.tick()
    assert [agg.link_id for agg in aggregates(meanwhile)] == ["a"]

    # The step does not wait for the acknowledgements (they come back while the next fetch is processed).
    await step
    send.release()
    await worker.processor.settle()  # as the partition's next step or the timer do first
    later = InMemorySend()
    await Worker(store, clock, later).processor.tick()
    assert aggregates(later) == []


async def test_the_records_timestamps_move_the_watermark_not_the_clicks_event_time(clock: Clock) -> None:
    # A backfill dated four minutes ahead, sent by the producer at T0 + 5 s (its records' timestamp): the
    # minute windows between stay open for everyone's clicks.
    send = InMemorySend()
    worker = Worker(DictRowStore(), clock, send)
    now = T0 + timedelta(seconds=5)
    await worker.processor.handle([click(n, T0 + timedelta(minutes=4), "evil", sent=now) for n in range(3)])
    await worker.processor.handle([click(3, T0 + timedelta(seconds=6), "victim")])
    await worker.processor.tick()
    assert send.to(TOPICS.late) == [] and aggregates(send) == []
    (_, engine), *_ = worker.partitions.engines()
    assert engine.watermark.value_ms == T0_MS + 6_000  # grace 0: the latest record's timestamp

    # The victim's next click, a minute on, closes minute T0 with its click in it; the backfill's minute
    # is still open.
    await worker.processor.handle([click(4, T0 + timedelta(minutes=1), "victim")])
    await worker.processor.tick()
    assert [(a.link_id, a.window_start_ms, a.clicks) for a in aggregates(send)] == [("victim", T0_MS, 1)]


def test_the_producer_clock_is_the_batchs_highest_record_timestamp() -> None:
    records = [message(0, b"", sent_ms=T0_MS + 5), message(1, b"", sent_ms=T0_MS + 9), message(2, b"")]
    assert producer_clock(records) == T0_MS + 9
    # Records without a timestamp (message format v0: None, or -1) say nothing of the producer's clock.
    unstamped = [dataclasses.replace(records[0], timestamp=None), message(1, b"", sent_ms=-1)]
    assert producer_clock(unstamped) is None
    assert producer_clock([*unstamped, records[1]]) == T0_MS + 9
