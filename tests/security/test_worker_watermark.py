"""Watermark poisoning: a click dated far in the future must not stop counting on its partition."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from schemas.codec import LinkClickCodec
from tests.integration.conftest import OPERATOR, Broker, Service, StartWorker, Topics, get_stats
from tests.kafka_io import click_at, consume, produce

pytestmark = pytest.mark.integration

CODEC = LinkClickCodec()


async def _total(worker: Service, link: str, around: datetime) -> int:
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
