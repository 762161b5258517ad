"""The whole pipeline on a real broker: clicks over HTTP, the worker's counts over HTTP."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from tests.integration.conftest import ADMIN_TOKEN, Broker, Service, StartProducer, StartWorker, Topics

COUNTRIES = ["DE", "FR", "US", "GB", "JP", "BR", None]


async def _create_links(client: httpx.AsyncClient, count: int) -> dict[str, dict[str, Any]]:
    links = {}
    for i in range(count):
        body = {
            "slug": f"link-{i}",
            "account_id": f"account-{i % 2}",
            "default_destination": f"https://example.com/{i}",
            "country_destinations": {"DE": f"https://example.de/{i}", "JP": f"https://example.jp/{i}"},
        }
        response = await client.post(
            "/api/links", json=body, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        assert response.status_code == 201, response.text
        links[body["slug"]] = response.json()
    return links


async def _wait_for_counts(worker: Service, expected_total: int, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    counts: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=worker.url) as client:
        while time.monotonic() < deadline:
            counts = (await client.get("/api/counts")).json()
            if sum(counts["links"].values()) >= expected_total:
                return counts
            await asyncio.sleep(0.25)
    raise AssertionError(f"worker counted {counts} before the deadline, expected {expected_total} clicks")


async def test_clicks_over_http_are_counted_exactly(
    start_worker: StartWorker, start_producer: StartProducer
) -> None:
    worker = start_worker()
    producer = start_producer()
    rng = random.Random(7)
    sent_links: Counter[str] = Counter()
    sent_countries: Counter[str] = Counter()

    async with httpx.AsyncClient(base_url=producer.url, timeout=10) as client:
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

    counts = await _wait_for_counts(worker, 1_000)
    assert counts["links"] == dict(sent_links)
    assert counts["countries"] == dict(sent_countries)
    assert counts["dead_lettered"] == 0


async def test_undecodable_message_goes_to_dead_letter_topic(
    broker: Broker, topics: Topics, start_worker: StartWorker
) -> None:
    worker = start_worker()
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
    await producer.start()
    try:
        metadata = await producer.send_and_wait(topics.clicks, b"not avro at all", key=b"link-x")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topics.dlq,
        bootstrap_servers=broker.bootstrap_servers,
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
    async with httpx.AsyncClient(base_url=worker.url) as client:
        assert (await client.get("/api/counts")).json()["dead_lettered"] == 1
