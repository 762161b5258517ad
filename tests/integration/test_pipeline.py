"""The whole pipeline on a real broker: clicks over HTTP, the worker's counts over HTTP."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

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

COUNTRIES = ["DE", "FR", "US", "GB", "JP", "BR", None]


async def _create_links(client: httpx.AsyncClient, count: int) -> dict[str, dict[str, Any]]:
    links = {}
    for i in range(count):
        body = {
            "slug": f"link-{i}",
            "default_destination": f"https://example.com/{i}",
            "country_destinations": {"DE": f"https://example.de/{i}", "JP": f"https://example.jp/{i}"},
        }
        response = await client.post("/api/links", json=body, headers={"Authorization": f"Bearer {API_KEY}"})
        assert response.status_code == 201, response.text
        links[body["slug"]] = response.json()
    return links


def _day_range() -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "from": (now - timedelta(hours=2)).isoformat(),
        "to": (now + timedelta(hours=2)).isoformat(),
        "granularity": "hour",
    }


async def _wait_for_total(worker: Service, expected_total: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    answer: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=worker.url, headers=OPERATOR) as client:
        while time.monotonic() < deadline:
            answer = (await get_stats(client, "/api/stats/countries", _day_range())).json()
            if answer["totals"]["total"] >= expected_total:
                return
            await asyncio.sleep(0.25)
    raise AssertionError(f"worker answered {answer} before the deadline, expected {expected_total} clicks")


async def test_clicks_over_http_are_counted_exactly(
    start_worker: StartWorker, start_producer: StartProducer
) -> None:
    worker = start_worker()
    producer = start_producer()
    rng = random.Random(7)
    sent_links: Counter[str] = Counter()
    sent_countries: Counter[str] = Counter()

    async with httpx.AsyncClient(
        base_url=producer.url, timeout=10, headers={"User-Agent": BROWSER}
    ) as client:
        links = await _create_links(client, 8)
        slugs = list(links)
        visits = [(rng.choice(slugs), rng.choice(COUNTRIES)) for _ in range(1_000)]
        semaphore = asyncio.Semaphore(32)

        async def click(slug: str, country: str | None) -> None:
            headers = {"CF-IPCountry": country} if country else {}
            async with semaphore:
                response = await client.get(f"/{slug}", headers=headers)
            assert response.status_code == 302
            link = links[slug]
            expected = link["country_destinations"].get(country, link["default_destination"])
            assert response.headers["location"] == expected
            sent_links[link["link_id"]] += 1
            sent_countries[country or "unknown"] += 1

        await asyncio.gather(*(click(slug, country) for slug, country in visits))

    await _wait_for_total(worker, 1_000)
    async with httpx.AsyncClient(base_url=worker.url, headers=OPERATOR) as client:
        top = (await get_stats(client, "/api/stats/top-links", {**_day_range(), "limit": "100"})).json()
        by_country = (await get_stats(client, "/api/stats/countries", _day_range())).json()
        metrics = (await client.get("/metrics")).text
    assert {link["link_id"]: link["total"] for link in top["links"]} == dict(sent_links)
    assert {country: counts["total"] for country, counts in by_country["countries"].items()} == dict(
        sent_countries
    )
    assert by_country["totals"] == {"total": 1_000, "human": 1_000, "bot": 0}
    assert "clickpipe_worker_events_dead_lettered_total 0.0" in metrics


async def test_undecodable_message_goes_to_dead_letter_topic(
    broker: Broker, topics: Topics, start_worker: StartWorker
) -> None:
    worker = start_worker()
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers, **broker.client_options)
    await producer.start()
    try:
        metadata = await producer.send_and_wait(topics.clicks, b"not avro at all", key=b"link-x")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topics.dlq,
        bootstrap_servers=broker.bootstrap_servers,
        **broker.client_options,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    try:
        message = await asyncio.wait_for(consumer.getone(), timeout=60)
    finally:
        await consumer.stop()
    headers = {name: value.decode() for name, value in message.headers}
    assert message.value == b"not avro at all"
    assert message.key == b"link-x"
    assert headers["source.topic"] == topics.clicks
    assert headers["source.partition"] == str(metadata.partition)
    assert headers["source.offset"] == str(metadata.offset)
    assert "not a single-object Avro message" in headers["error"]
    async with httpx.AsyncClient(base_url=worker.url, headers=OPERATOR) as client:
        metrics = (await client.get("/metrics")).text
    assert "clickpipe_worker_events_dead_lettered_total 1.0" in metrics
