"""Window semantics on a real broker: final aggregates, late clicks, restarts, several workers."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from clickpipe.admin import ensure_topics
from schemas.aggregates import WindowAggregate, WindowAggregateCodec
from schemas.codec import LinkClickCodec
from schemas.events import LinkClick
from schemas.topics import TopicSpec
from tests.integration.conftest import OPERATOR, Broker, Service, StartWorker, Topics, get_stats
from tests.kafka_io import consume

CODEC = LinkClickCodec()
MINUTE = timedelta(minutes=1)


def _minute_start(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def _click(link: str, at: datetime, country: str | None = "DE", *, bot: bool = False) -> LinkClick:
    return LinkClick(
        link_id=link,
        account_id="acct",
        destination="https://example.com/",
        timestamp=at,
        country=country,
        is_bot=bot,
    )


async def _produce(broker: Broker, topic: str, clicks: list[LinkClick]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap_servers, **broker.client_options, linger_ms=5
    )
    await producer.start()
    try:
        # Each sent as a redirect sends its click, as it happens: the record's timestamp (the producer's
        # clock, which moves the watermarks) is the click's time.
        futures = [
            await producer.send(topic, CODEC.encode(click), key=click.key, timestamp_ms=_ms(click.timestamp))
            for click in clicks
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _range(center: datetime, granularity: str = "hour") -> dict[str, str]:
    return {
        "from": (center - timedelta(hours=3)).isoformat(),
        "to": (center + timedelta(hours=3)).isoformat(),
        "granularity": granularity,
    }


async def _top_links(worker: Service, center: datetime) -> dict[str, int]:
    async with httpx.AsyncClient(base_url=worker.url, headers=OPERATOR, timeout=15) as client:
        response = await get_stats(client, "/api/stats/top-links", {**_range(center), "limit": "1000"})
    assert response.status_code == 200, response.text
    return {link["link_id"]: link["total"] for link in response.json()["links"]}


async def _wait_for_total(
    worker: Service, center: datetime, total: int, timeout: float = 180
) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    seen: dict[str, int] = {}
    while time.monotonic() < deadline:
        seen = await _top_links(worker, center)
        if sum(seen.values()) >= total:
            return seen
        await asyncio.sleep(0.5)
    async with httpx.AsyncClient(base_url=worker.url, timeout=15) as client:
        metrics = [
            line
            for line in (await client.get("/metrics")).text.splitlines()
            if line.startswith("clickpipe_worker_")
        ]
    raise AssertionError(
        f"counted {sum(seen.values())} of {total} clicks before the deadline; the worker's metrics:\n"
        + "\n".join(metrics)
    )


async def _processed(worker: Service) -> float:
    async with httpx.AsyncClient(base_url=worker.url, headers=OPERATOR) as client:
        text = (await client.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith("clickpipe_worker_events_processed_total"):
            return float(line.split()[-1])
    return 0.0


async def _stop_mid_stream(worker: Service, total: int, stop: signal.Signals) -> None:
    """Send ``stop`` to the worker once it has processed 5,000 of ``total`` clicks, and wait for its exit."""
    deadline = time.monotonic() + 120
    while await _processed(worker) < 5_000 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert await _processed(worker) < total, "the worker finished before it could be stopped mid-stream"
    os.kill(worker.process.pid, stop)
    worker.process.wait(timeout=60)


@pytest.fixture
async def output_topics(broker: Broker, topics: Topics) -> dict[str, str]:
    names = {"late_topic": f"{topics.clicks}.late", "aggregates_topic": f"{topics.clicks}.aggregates"}
    await ensure_topics(
        broker.bootstrap_servers, [TopicSpec(name, topics.partitions) for name in names.values()]
    )
    return names


async def test_late_clicks_amend_closed_windows_and_past_retention_are_set_aside(
    broker: Broker, topics: Topics, output_topics: dict[str, str], start_worker: StartWorker
) -> None:
    # Minute windows are kept 15 minutes after they close here, hour windows as always.
    worker = start_worker(grace_seconds="2", idle_seconds="3600", retention_minute="900", **output_topics)
    window = _minute_start(datetime.now(UTC)) - 10 * MINUTE
    start_ms = int(window.timestamp() * 1000)
    on_time = [
        _click("x", window + timedelta(seconds=1), "DE"),
        _click("x", window + timedelta(seconds=20), "FR", bot=True),
        _click("x", window + timedelta(seconds=59), None),
    ]
    closer = _click("x", window + MINUTE + timedelta(seconds=3))  # watermark passes window end + grace
    late = _click("x", window + timedelta(seconds=30), "JP")
    await _produce(broker, topics.clicks, on_time)
    await _produce(broker, topics.clicks, [closer])
    await _wait_for_total(worker, window, 4)
    await _produce(broker, topics.clicks, [late])  # the minute closed, and is kept: the click amends it

    def minutes(found: list[Any]) -> list[WindowAggregate]:
        decoded = [WindowAggregateCodec().decode(m.value) for m in found]
        return [a for a in decoded if a.granularity == "minute" and a.window_start_ms == start_ms]

    found: list[WindowAggregate] = []
    for count in range(2, 6):  # a window's aggregate may be sent twice (again before its ack was seen)
        found = minutes(await consume(broker, output_topics["aggregates_topic"], count))
        if any(a.clicks == 4 for a in found):
            break
    first, amended = found[0], found[-1]
    assert {(a.clicks, a.revision) for a in found} == {(3, first.revision), (4, amended.revision)}
    assert (first.link_id, first.clicks, first.human, first.bot) == ("x", 3, 2, 1)
    assert first.countries == {"DE": (1, 0), "FR": (1, 1), None: (1, 0)}
    assert (amended.key, amended.clicks) == (first.key, 4)  # the same key: a compacted topic keeps this one
    assert amended.revision > first.revision  # and a sink upserting by key and revision does too
    assert amended.countries == {**first.countries, "JP": (1, 0)}

    async with httpx.AsyncClient(base_url=worker.url, headers=OPERATOR) as client:
        deadline = time.monotonic() + 30
        while True:
            series = (await get_stats(client, "/api/stats/links/x", _range(window, "minute"))).json()[
                "series"
            ]
            if series[0]["total"] == 4 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.3)
        assert (series[0]["total"], series[0]["closed"]) == (4, True)  # the late click is in its minute
        hourly = (await get_stats(client, "/api/stats/links/x", _range(window, "hour"))).json()["totals"]
        assert hourly["total"] == 5  # and in its hour

    # A click for a minute past its retention (30 minutes back) is set aside on the late topic, said so.
    gone = _click("x", window - 20 * MINUTE, "BR")
    await _produce(broker, topics.clicks, [gone])
    [late_message] = await consume(broker, output_topics["late_topic"], 1)
    assert CODEC.decode(late_message.value).event_id == gone.event_id
    assert dict(late_message.headers)["late.windows"] == b"minute"


def _traffic(center: datetime, count: int, links: int = 200) -> list[LinkClick]:
    rng = random.Random(11)
    names = [f"link-{i}" for i in range(links)]
    weights = [1 / (rank + 1) for rank in range(links)]  # Zipf-like popularity
    countries = ["DE", "FR", "US", "JP", "BR", None]
    return [
        _click(
            rng.choices(names, weights)[0],
            center + timedelta(seconds=rng.uniform(-120, 120)),  # out of order, within the hour's grace
            rng.choice(countries),
            bot=rng.random() < 0.1,
        )
        for _ in range(count)
    ]


EXACTLY_ONCE = pytest.mark.kafka_only(reason="exactly_once needs Kafka transactions")


@pytest.mark.parametrize(
    ("stop", "guarantee", "machine"),
    [
        pytest.param(signal.SIGTERM, "at_least_once", "same", id="graceful"),
        pytest.param(signal.SIGKILL, "at_least_once", "same", id="killed"),
        pytest.param(signal.SIGKILL, "at_least_once", "another", id="killed-taken-over"),
        pytest.param(signal.SIGKILL, "exactly_once", "same", id="killed-exactly-once", marks=EXACTLY_ONCE),
        pytest.param(
            signal.SIGKILL, "exactly_once", "another", id="killed-exactly-once-taken-over", marks=EXACTLY_ONCE
        ),
    ],
)
async def test_restart_mid_stream_counts_every_click_once(
    broker: Broker,
    topics: Topics,
    output_topics: dict[str, str],
    start_worker: StartWorker,
    stop: signal.Signals,
    guarantee: str,
    machine: str,
    tmp_path: Path,
) -> None:
    # "same": the worker starts again on its machine, with its local state (RocksDB) as it was left.
    # "another": a worker elsewhere takes the partitions over, with only what the changelog holds.
    center = datetime.now(UTC)
    clicks = _traffic(center, 30_000)
    expected = Counter(click.link_id for click in clicks)
    settings = {
        "grace_seconds": "600",
        "batch_size": "500",
        "processing_guarantee": guarantee,
        **output_topics,
    }
    worker = start_worker(**settings)
    await _produce(broker, topics.clicks, clicks)
    await _stop_mid_stream(worker, len(clicks), stop)

    data_dir = tmp_path / ("worker" if machine == "same" else "another-machine")
    restarted = start_worker("restarted", data_dir=str(data_dir), **settings)
    counted = await _wait_for_total(restarted, center, len(clicks))
    await asyncio.sleep(2)  # a double count would show up after the total is reached
    assert await _top_links(restarted, center) == counted == dict(expected)


@pytest.mark.parametrize(
    "guarantee", ["at_least_once", pytest.param("exactly_once", marks=EXACTLY_ONCE, id="exactly_once")]
)
async def test_a_worker_killed_amid_amendments_counts_every_late_click_once(
    broker: Broker,
    topics: Topics,
    output_topics: dict[str, str],
    start_worker: StartWorker,
    guarantee: str,
    tmp_path: Path,
) -> None:
    # Every click of the backfill is for a window that closed (minutes, and hours up to three back): each one
    # amends a closed window, read back from the state store. The worker is SIGKILLed in the middle.
    now = datetime.now(UTC)
    settings = {"grace_seconds": "1", "batch_size": "500", "processing_guarantee": guarantee, **output_topics}
    worker = start_worker(**settings)
    await _produce(broker, topics.clicks, [_click("closer", now)])  # the watermark: now, less the grace
    await _wait_for_total(worker, now, 1)
    center = now - timedelta(hours=2)
    rng = random.Random(5)
    clicks = [
        _click(f"link-{rng.randrange(100)}", center + timedelta(seconds=rng.uniform(-3_600, 3_600)))
        for _ in range(20_000)
    ]
    expected = Counter(click.link_id for click in clicks) + Counter(closer=1)
    await _produce(broker, topics.clicks, clicks)
    await _stop_mid_stream(worker, len(clicks), signal.SIGKILL)

    restarted = start_worker("restarted", data_dir=str(tmp_path / "worker"), **settings)
    await _wait_for_total(restarted, center, len(clicks) + 1)
    await asyncio.sleep(2)  # a double count would show up after the total is reached
    counted = await _top_links(restarted, center)
    assert {link: n - expected[link] for link, n in counted.items() if n != expected[link]} == {}
    assert counted == dict(expected)
    async with httpx.AsyncClient(base_url=restarted.url, headers=OPERATOR, timeout=30) as client:
        minutes = await get_stats(
            client, "/api/stats/top-links", {**_range(center, "minute"), "limit": "1000"}
        )
    assert {link["link_id"]: link["total"] for link in minutes.json()["links"]} == dict(expected)
    assert "amending" in (await _metrics(restarted))


async def _metrics(worker: Service) -> str:
    async with httpx.AsyncClient(base_url=worker.url, timeout=15) as client:
        return (await client.get("/metrics")).text


@EXACTLY_ONCE
async def test_an_exactly_once_worker_outlives_quiet_partitions(
    broker: Broker, topics: Topics, output_topics: dict[str, str], start_worker: StartWorker
) -> None:
    # Each partition's windows close on the wall clock once it is quiet, which writes rows outside any batch.
    # Those writes must not wait for the partition's next click to be committed: past the transaction
    # timeout (60 s) the broker aborts them, and the next commit fenced the worker, which then stopped.
    worker = start_worker(
        grace_seconds="1", idle_seconds="2", processing_guarantee="exactly_once", **output_topics
    )
    first = datetime.now(UTC)
    links = [f"quiet-{n}" for n in range(40)]  # over every partition
    await _produce(broker, topics.clicks, [_click(link, first) for link in links])
    await _wait_for_total(worker, first, len(links))
    await asyncio.sleep(70)
    for batch in (2, 3):
        await _produce(broker, topics.clicks, [_click(link, datetime.now(UTC)) for link in links])
        await _wait_for_total(worker, first, batch * len(links), timeout=60)
        await asyncio.sleep(8)  # commits of the new clicks' offsets
    assert worker.process.poll() is None, worker.output()[-5000:]
    assert "ProducerFenced" not in worker.output(), worker.output()[-5000:]


async def test_two_workers_share_partitions_and_answer_whole(
    broker: Broker, topics: Topics, output_topics: dict[str, str], start_worker: StartWorker
) -> None:
    center = datetime.now(UTC)
    clicks = _traffic(center, 5_000)
    first = start_worker("worker-1", grace_seconds="600", **output_topics)
    second = start_worker("worker-2", grace_seconds="600", **output_topics)
    await _produce(broker, topics.clicks, clicks)
    expected = dict(Counter(click.link_id for click in clicks))
    assert await _wait_for_total(first, center, len(clicks)) == expected
    assert await _top_links(second, center) == expected
    async with httpx.AsyncClient() as client:
        owned = [(await client.get(w.url + "/readyz")).json()["partitions"] for w in (first, second)]
    assert sorted(owned[0] + owned[1]) == list(range(topics.partitions))
    assert owned[0] and owned[1]
