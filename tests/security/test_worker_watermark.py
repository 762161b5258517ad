"""Watermark poisoning: no click, whoever dates it, may stop or delay counting on its partition.

A click dated far in the future is set aside; a tenant's backfill dated ahead within the skew bounds is
counted in its window and moves no one's watermark (only the producer's clock does).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from aiokafka.partitioner import DefaultPartitioner

from clickpipe.cli import main
from schemas.codec import LinkClickCodec
from tests.integration.conftest import (
    API_KEY,
    BROWSER,
    OPERATOR,
    Broker,
    Service,
    StartProducer,
    StartWorker,
    Topics,
    get_stats,
)
from tests.kafka_io import click_at, consume, produce

pytestmark = pytest.mark.integration

CODEC = LinkClickCodec()


async def _total(worker: Service, link: str, around: datetime) -> int:
    """The link's clicks in minute windows (late clicks are not in them) within an hour of ``around``."""
    params = {
        "from": (around - timedelta(hours=1)).isoformat(),
        "to": (around + timedelta(hours=1)).isoformat(),
        "granularity": "minute",
    }
    async with httpx.AsyncClient(base_url=worker.url, headers=OPERATOR, timeout=15) as client:
        response = await get_stats(client, f"/api/stats/links/{link}", params)
    assert response.status_code == 200, response.text
    return int(response.json()["totals"]["total"])


async def _metric(worker: Service, name: str) -> float:
    async with httpx.AsyncClient(base_url=worker.url, headers=OPERATOR) as client:
        text = (await client.get("/metrics")).text
    values = [float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " ")]
    return values[0] if values else 0.0


async def test_a_far_future_click_is_dead_lettered_and_its_partition_keeps_counting(
    broker: Broker, topics: Topics, start_worker: StartWorker
) -> None:
    worker = start_worker(grace_seconds="5", idle_seconds="3600")
    now = datetime.now(UTC)
    poison = click_at("victim", datetime(9999, 12, 31, tzinfo=UTC))
    await produce(broker, topics.clicks, [CODEC.encode(poison)], key=poison.key)
    [dead] = await consume(broker, topics.dlq, 1, timeout=120)
    assert CODEC.decode(dead.value).event_id == poison.event_id
    assert b"ahead of the worker clock" in dict(dead.headers)["error"]

    ordinary = [click_at("victim", now + timedelta(milliseconds=i)) for i in range(25)]
    await produce(broker, topics.clicks, [CODEC.encode(c) for c in ordinary], key=poison.key)
    deadline = time.monotonic() + 120
    while await _total(worker, "victim", now) < 25 and time.monotonic() < deadline:
        await asyncio.sleep(0.3)
    assert await _total(worker, "victim", now) == 25
    assert await _metric(worker, "clickpipe_worker_events_future_total") == 1


async def _metric_sum(worker: Service, name: str) -> float:
    """The sum of a metric over its labels."""
    async with httpx.AsyncClient(base_url=worker.url, headers=OPERATOR) as client:
        text = (await client.get("/metrics")).text
    # A counter with labels has a line per label set seen (none before the first); one without, always one.
    lines = [line for line in text.splitlines() if line.startswith((name + "{", name + " "))]
    return sum(float(line.split()[-1]) for line in lines)


async def _wait_for(worker: Service, link: str, around: datetime, count: int, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while (total := await _total(worker, link, around)) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.3)
    return total


async def _links_on_every_partition(
    client: httpx.AsyncClient, key: str, prefix: str, partitions: int
) -> dict[int, tuple[str, str]]:
    """Create links until one lies on each partition (as the producer keys them); partition -> (id, slug)."""
    partitioner = DefaultPartitioner()
    every = list(range(partitions))
    found: dict[int, tuple[str, str]] = {}
    for n in range(64):
        if len(found) == partitions:
            break
        slug = f"{prefix}-{n}"
        response = await client.post(
            "/api/links",
            json={"slug": slug, "default_destination": "https://example.com/"},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert response.status_code == 201, response.text
        link_id = response.json()["link_id"]
        found.setdefault(partitioner(link_id.encode(), every, every), (link_id, slug))
    assert len(found) == partitions
    return found


async def test_a_tenants_backfill_dated_ahead_delays_no_ones_counts(
    broker: Broker,
    topics: Topics,
    start_producer: StartProducer,
    start_worker: StartWorker,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Issue 23, attack 1: a batch dated now + 295 s is inside both skew bounds (300 s at the producer and at
    # the worker). It moved every partition's watermark ~285 s ahead, so every tenant's real clicks of the
    # next minutes were late for their minute windows.
    data_dir = tmp_path / "producer"
    assert await asyncio.to_thread(main, ["accounts", "create", "Mallory", "--data-dir", str(data_dir)]) == 0
    mallory_id = capsys.readouterr().out.split()[1]
    assert await asyncio.to_thread(main, ["keys", "create", mallory_id, "--data-dir", str(data_dir)]) == 0
    mallory_key = capsys.readouterr().out.strip()
    producer = start_producer()
    worker = start_worker(grace_seconds="10", idle_seconds="3600")
    headers = {"User-Agent": BROWSER}
    async with httpx.AsyncClient(base_url=producer.url, headers=headers, timeout=30) as client:
        evil = await _links_on_every_partition(client, mallory_key, "evil", topics.partitions)
        victims = await _links_on_every_partition(client, API_KEY, "mine", topics.partitions)
        ahead = datetime.now(UTC) + timedelta(seconds=295)
        response = await client.post(
            "/api/clicks/batch",
            json={
                "clicks": [
                    {"link_id": link_id, "timestamp": ahead.isoformat()}
                    for link_id, _ in evil.values()
                    for _ in range(5)
                ]
            },
            headers={"Authorization": f"Bearer {mallory_key}"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["accepted"] == 5 * topics.partitions, response.text
        # The backfill counts in its own minute window, on every partition.
        for link_id, _ in evil.values():
            assert await _wait_for(worker, link_id, ahead, 5) == 5

        # Another tenant's visitors, on every partition, right after the backfill was folded in.
        now = datetime.now(UTC)
        for _, slug in victims.values():
            for _ in range(3):
                assert (await client.get(f"/{slug}", follow_redirects=False)).status_code == 302
    for link_id, _ in victims.values():
        assert await _wait_for(worker, link_id, now, 3) == 3, link_id
    await asyncio.sleep(1)  # a late click would be counted in the metrics by now
    assert await _metric_sum(worker, "clickpipe_worker_events_late_total") == 0
    # Nor did a victim's click find its minute closed early (it would have amended it: counted, but late).
    assert await _metric_sum(worker, "clickpipe_worker_events_amending_total") == 0
