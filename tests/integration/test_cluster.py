"""On a three-node Apache Kafka cluster: broker failover, rolling restarts and worker takeover lose nothing.

Run with ``--broker cluster`` (``CLICKPIPE_TEST_BROKER=cluster``). Each test drives real clicks through the
redirect service (or straight onto the topic) while brokers or workers are killed, then compares what arrived
with an independent count of what was answered or sent. Figures (redirect p99 during a failover, duplicates)
are printed at the end of the run.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import UnknownTopicOrPartitionError

from clickpipe.kafka import KafkaCluster
from schemas.broker_auth import BrokerAuth
from schemas.codec import LinkClickCodec
from tests.integration.conftest import BROWSER, Broker, StartProducer, StartWorker, Topics
from tests.integration.test_windows import _processed, _produce, _top_links, _traffic, _wait_for_total

CODEC = LinkClickCodec()


@dataclass
class Load:
    """Visitors following the demo link at a steady pace, each request numbered (the Referer carries it)."""

    url: str
    visitors: int = 8
    pace: float = 0.01  # seconds between one visitor's requests
    answered: dict[int, float] = field(default_factory=dict)  # request number -> seconds it took
    failed: dict[int, str] = field(default_factory=dict)  # not answered: no click is owed for them
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._visit(n)) for n in range(self.visitors)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    def mark(self) -> int:
        """How many requests were answered so far (to slice latencies by phase)."""
        return len(self.answered)

    async def _visit(self, first: int) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            number = first
            while not self._stop.is_set():
                headers = {"Referer": f"https://ref.example/{number}", "User-Agent": BROWSER}
                began = time.perf_counter()
                try:
                    response = await client.get("/demo", headers=headers)
                except httpx.TransportError as exc:
                    self.failed[number] = repr(exc)
                else:
                    if response.status_code == 302:
                        self.answered[number] = time.perf_counter() - began
                    else:
                        self.failed[number] = f"HTTP {response.status_code}"
                number += self.visitors
                await asyncio.sleep(self.pace)


def _p99(seconds: list[float]) -> float:
    ordered = sorted(seconds)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000 if ordered else float("nan")


async def _wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def _partition_leaders(bootstrap: str, topic: str) -> dict[int, tuple[int, int]]:
    """partition -> (leader node id, in-sync replicas)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **BrokerAuth().aiokafka_options())
    await admin.start()
    try:
        [description] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return {p["partition"]: (p["leader"], len(p["isr"])) for p in description["partitions"]}


async def _wait_fully_replicated(bootstrap: str, topic: str, replicas: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        leaders = await _partition_leaders(bootstrap, topic)
        if all(leader >= 0 and isr == replicas for leader, isr in leaders.values()):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{topic} not fully replicated again: {leaders}")
        await asyncio.sleep(0.5)


@dataclass(frozen=True)
class Arrived:
    """What the click topic holds for the requests: request number -> event ids."""

    events: dict[int, list[str]]

    @property
    def duplicates(self) -> int:
        return sum(len(ids) - 1 for ids in self.events.values() if len(ids) > 1)


async def _arrived(bootstrap: str, topic: str, want: set[int], timeout: float = 120) -> Arrived:
    deadline = time.monotonic() + timeout
    while True:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            group_id=None,
            **BrokerAuth().aiokafka_options(),
        )
        try:
            await consumer.start()
            break
        except UnknownTopicOrPartitionError:
            # Just after a restart a node can answer metadata before it has caught up with the topic.
            await consumer.stop()
            if time.monotonic() > deadline:
                raise
    events: dict[int, list[str]] = {}
    try:
        quiet_until = 0.0
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for messages in batches.values():
                for message in messages:
                    event = CODEC.decode(message.value)
                    number = int((event.referer or "/-1").rsplit("/", 1)[1])
                    events.setdefault(number, []).append(event.event_id)
            if want <= events.keys():
                # Everything is there; read on a little so late duplicates would show too.
                quiet_until = quiet_until or time.monotonic() + 3
                if time.monotonic() > quiet_until:
                    break
    finally:
        await consumer.stop()
    return Arrived(events)


def _cluster(broker: Broker) -> KafkaCluster:
    assert broker.cluster is not None and len(broker.cluster.nodes) == 3, "needs the three-node cluster"
    return broker.cluster


async def _check_nothing_lost(
    broker: Broker, topics: Topics, load: Load, start_worker: StartWorker, figures: list[str], name: str
) -> Arrived:
    """Every answered redirect is in the topic exactly once, and the worker counts exactly them."""
    answered = set(load.answered)
    arrived = await _arrived(broker.bootstrap_servers, topics.clicks, answered)
    lost = answered - arrived.events.keys()
    figures.append(
        f"{name}: answered {len(answered)}, failed requests {len(load.failed)}, events "
        f"{sum(len(ids) for ids in arrived.events.values())}, distinct {len(arrived.events)}, "
        f"duplicates {arrived.duplicates}, lost {len(lost)}"
    )
    assert not lost, f"{len(lost)} answered clicks never reached the topic: {sorted(lost)[:20]}"
    worker = start_worker(grace_seconds="600")
    now = datetime.now(UTC)
    counted = await _wait_for_total(worker, now, sum(len(ids) for ids in arrived.events.values()))
    assert sum(counted.values()) == sum(len(ids) for ids in arrived.events.values())
    return arrived


@pytest.fixture
def load(start_producer: StartProducer) -> Load:
    """Visitors of a redirect service on this test's topic (a send may wait out a leader election)."""
    return Load(start_producer(request_timeout_ms="30000").url)


@pytest.mark.cluster
async def test_killing_the_busiest_broker_under_load_loses_no_click(
    broker: Broker, topics: Topics, load: Load, start_worker: StartWorker, figures: list[str]
) -> None:
    cluster = _cluster(broker)
    load.start()
    try:
        await _wait_until(lambda: load.mark() >= 1_000, 60, "1,000 redirects before the failover")
        leaders = await _partition_leaders(broker.bootstrap_servers, topics.clicks)
        busiest = Counter(leader for leader, _ in leaders.values()).most_common(1)[0][0]
        before = load.mark()
        # The load runs on this loop: what blocks (waiting for a node) runs in a thread.
        await asyncio.to_thread(
            cluster.kill, busiest
        )  # SIGKILL: no controlled shutdown, leadership moves on the session timeout
        killed_at = time.monotonic()
        await _wait_until(lambda: time.monotonic() - killed_at > 15, 30, "15 s of load with a broker down")
        cluster.start_node(busiest)  # from this thread: a node dies with the thread that started it
        await asyncio.to_thread(cluster.wait_ready, [busiest])
        during = list(load.answered.values())[before:]
        await _wait_fully_replicated(broker.bootstrap_servers, topics.clicks, 3)
        settle = load.mark()
        await _wait_until(lambda: load.mark() >= settle + 500, 60, "500 redirects after the restart")
    finally:
        await load.stop()
    all_times = list(load.answered.values())
    led = sum(1 for leader, _ in leaders.values() if leader == busiest)
    figures.append(
        f"failover: killed node {busiest} (led {led} of "
        f"{len(leaders)} partitions); redirect p99 before {_p99(all_times[:before]):.1f} ms, during the "
        f"failover {_p99(during):.1f} ms ({len(during)} redirects)"
    )
    arrived = await _check_nothing_lost(broker, topics, load, start_worker, figures, "failover")
    assert arrived.duplicates == 0, "the idempotent producer must not write a click twice"


@pytest.mark.cluster
async def test_a_rolling_restart_of_every_broker_under_load_loses_nothing(
    broker: Broker, topics: Topics, load: Load, start_worker: StartWorker, figures: list[str]
) -> None:
    cluster = _cluster(broker)
    load.start()
    try:
        await _wait_until(lambda: load.mark() >= 500, 60, "500 redirects before the restarts")
        for node in cluster.nodes:
            await asyncio.to_thread(
                cluster.terminate, node.node_id
            )  # a controlled shutdown, as an operator's restart does
            mark = load.mark()
            await _wait_until(lambda m=mark: load.mark() >= m + 200, 60, "redirects with a broker down")
            cluster.start_node(node.node_id)
            await asyncio.to_thread(cluster.wait_ready, [node.node_id])
            await _wait_fully_replicated(broker.bootstrap_servers, topics.clicks, 3)
        mark = load.mark()
        await _wait_until(lambda: load.mark() >= mark + 300, 60, "redirects after the restarts")
    finally:
        await load.stop()
    figures.append(f"rolling restart: redirect p99 {_p99(list(load.answered.values())):.1f} ms")
    await _check_nothing_lost(broker, topics, load, start_worker, figures, "rolling restart")


@pytest.mark.kafka_only(reason="recovers a worker's state from the changelog, with the consistency check on")
async def test_another_worker_with_no_local_state_takes_over_and_ends_exact(
    broker: Broker, topics: Topics, start_worker: StartWorker
) -> None:
    center = datetime.now(UTC)
    clicks = _traffic(center, 30_000)
    expected = Counter(click.link_id for click in clicks)
    # Info logs: Faust's recovery (changelog offsets read, highwaters) is what a failure here needs.
    settings = {"grace_seconds": "600", "batch_size": "500", "log_level": "info"}
    first = start_worker("worker-1", **settings)
    await _produce(broker, topics.clicks, clicks)
    deadline = time.monotonic() + 120
    while await _processed(first) < 5_000 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert await _processed(first) < len(clicks), "the worker finished before it could be killed mid-stream"
    os.kill(first.process.pid, signal.SIGKILL)
    first.process.wait(timeout=30)

    second = start_worker("worker-2", **settings)  # its own, empty data directory
    counted = await _wait_for_total(second, center, len(clicks))
    await asyncio.sleep(2)  # a double count would show up after the total is reached
    assert await _top_links(second, center) == counted == dict(expected)
