"""The redirect service on a real broker: faithful events, broker outages and shutdowns lose no click."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import signal
import sqlite3
import time
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from clickpipe.admin import ensure_topics
from clickpipe.broker import free_port
from producer.visitors import DailySalts, VisitorKeys
from schemas.broker_auth import BrokerAuth
from schemas.codec import LinkClickCodec
from schemas.events import EventType, LinkClick
from schemas.topics import TopicSpec
from tests.integration.conftest import (
    API_KEY,
    BROWSER,
    Broker,
    OwnBroker,
    Service,
    Services,
    StartProducer,
    Topics,
)

CODEC = LinkClickCodec()


async def _create_link(producer: Service, slug: str) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=producer.url) as client:
        response = await client.post(
            "/api/links",
            json={
                "slug": slug,
                "default_destination": "https://example.com/",
                "country_destinations": {"DE": "https://example.de/"},
            },
            headers={"Authorization": f"Bearer {API_KEY}"},
        )
    assert response.status_code == 201, response.text
    result: dict[str, str] = response.json()
    return result


async def _events(
    bootstrap: str, topic: str, want: set[str], timeout: float = 90, raw: list[bytes] | None = None
) -> dict[str, LinkClick]:
    """Consume ``topic`` until every event whose referer is in ``want`` has arrived (or the timeout); the
    messages' bytes go to ``raw`` when given."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
        **BrokerAuth().aiokafka_options(),
    )
    await consumer.start()
    seen: dict[str, LinkClick] = {}
    try:
        deadline = time.monotonic() + timeout
        while not want <= seen.keys() and time.monotonic() < deadline:
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                for message in messages:
                    if raw is not None:
                        raw.append(message.value)
                    event = CODEC.decode(message.value)
                    if event.referer:
                        seen[event.referer] = event
    finally:
        await consumer.stop()
    return seen


async def _click(client: httpx.AsyncClient, slug: str, i: int, country: str = "DE") -> int:
    response = await client.get(
        f"/{slug}",
        headers={"CF-IPCountry": country, "Referer": f"https://ref.example/{i}", "User-Agent": BROWSER},
    )
    return response.status_code


async def test_every_click_becomes_an_event_with_the_request_fields(
    broker: Broker, topics: Topics, start_producer: StartProducer
) -> None:
    producer = start_producer()
    link = await _create_link(producer, "faithful")
    async with httpx.AsyncClient(base_url=producer.url) as client:
        for i in range(200):
            response = await client.get(
                "/faithful",
                headers={
                    "CF-IPCountry": ["DE", "FR"][i % 2],
                    "CF-IPCity": "Berlin",
                    "CF-IPLatitude": "52.52",
                    "CF-IPLongitude": "not-a-number",
                    "Referer": f"https://ref.example/{i}",
                    "User-Agent": BROWSER if i % 10 else "Twitterbot/1.0",
                },
            )
            assert response.status_code == 302
        missing = await client.get("/no-such-slug", headers={"Referer": "https://ref.example/missing"})
        assert missing.status_code == 404
    want = {f"https://ref.example/{i}" for i in range(200)} | {"https://ref.example/missing"}
    events = await _events(broker.bootstrap_servers, topics.clicks, want)
    assert want <= events.keys()
    for i in range(200):
        event = events[f"https://ref.example/{i}"]
        assert event.type is EventType.LINK_CLICK
        assert (event.link_id, event.slug) == (link["link_id"], "faithful")
        assert event.country == ["DE", "FR"][i % 2]
        assert event.destination == ("https://example.de/" if i % 2 == 0 else "https://example.com/")
        assert (event.city, event.latitude, event.longitude) == ("Berlin", 52.52, None)
        assert event.is_bot is (i % 10 == 0)
    assert len({event.event_id for event in events.values()}) == len(events)
    assert events["https://ref.example/missing"].type is EventType.LINK_NOT_FOUND


IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.0 Mobile/15E148 Safari/604.1"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.0 Mobile/15E148 Safari/604.1"
)
PREVIEW = "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"


async def test_a_redirect_records_the_dimensions_and_a_visitor_key_never_the_ip(
    broker: Broker, topics: Topics, start_producer: StartProducer, tmp_path: Path
) -> None:
    producer = start_producer()  # its secret in DATA_DIR, as a deployment without the setting has it
    await _create_link(producer, "dims")
    # referer -> (headers, (device, browser, os, referer_domain, rule, bot_reason), the visitor's address)
    visits: dict[str, tuple[dict[str, str], tuple[str | None, ...], str]] = {
        "https://www.News.Example/a": (
            {"User-Agent": IPHONE, "CF-IPCountry": "DE", "CF-Connecting-IP": "198.51.100.7"},
            ("mobile", "Mobile Safari", "iOS", "news.example", "DE", None),
            "198.51.100.7",
        ),
        "https://t.co/b": (
            {"User-Agent": IPAD, "CF-IPCountry": "FR", "X-Forwarded-For": "2001:db8::44, 127.0.0.1"},
            ("tablet", "Mobile Safari", "iOS", "t.co", None, None),
            "2001:db8::44",
        ),
        "https://l.facebook.com/c": (
            {"User-Agent": PREVIEW, "CF-Connecting-IP": "192.0.2.9"},
            ("other", "FacebookBot", None, "l.facebook.com", None, "facebookexternalhit"),
            "192.0.2.9",
        ),
        "android-app://com.slack/": (
            {"User-Agent": ""},  # httpx would send its own
            (None, None, None, "com.slack", None, "no user agent"),
            "127.0.0.1",
        ),
    }
    async with httpx.AsyncClient(base_url=producer.url) as client:
        for referer, (headers, _, _) in visits.items():
            response = await client.get("/dims", headers={**headers, "Referer": referer})
            assert response.status_code == 302
    raw: list[bytes] = []
    events = await _events(broker.bootstrap_servers, topics.clicks, set(visits), raw=raw)
    # The producer's day salts, from its link database (it made them at start).
    with contextlib.closing(sqlite3.connect(tmp_path / "producer" / "links.db")) as db:
        stored = db.execute("SELECT day, salt FROM visitor_salts").fetchall()
    salts = DailySalts()
    salts.replace({date.fromisoformat(day): bytes(salt) for day, salt in stored})
    keys = VisitorKeys(salts)
    for referer, (headers, dimensions, address) in visits.items():
        event = events[referer]
        got = (event.device, event.browser, event.os, event.referer_domain, event.rule, event.bot_reason)
        assert got == dimensions, referer
        assert event.is_bot is (dimensions[5] is not None)
        assert event.visitor == keys.key(event.timestamp, address, headers.get("User-Agent"))
        assert event.visitor is not None
    for address in ("198.51.100.7", "2001:db8::44", "192.0.2.9"):
        assert all(address.encode() not in value for value in raw)
        assert all(ipaddress.ip_address(address).packed not in value for value in raw)


@pytest.fixture
async def own_broker(tmp_path: Path, broker: Broker) -> AsyncIterator[OwnBroker]:
    """A broker of this test's own, of the session's kind, so the test may stop and restart it."""
    own = broker.own(tmp_path)
    own.start()
    yield own
    own.stop()


async def test_a_broker_outage_delays_clicks_but_loses_none(
    own_broker: OwnBroker, services: Services, tmp_path: Path
) -> None:
    topic = "outage-clicks"
    await ensure_topics(own_broker.bootstrap_servers, [TopicSpec(topic, 4)])
    port = free_port()
    env = {
        "CLICKPIPE_PRODUCER_BOOTSTRAP_SERVERS": own_broker.bootstrap_servers,
        "CLICKPIPE_PRODUCER_CLICKS_TOPIC": topic,
        "CLICKPIPE_PRODUCER_DATA_DIR": str(tmp_path / "producer"),
        "CLICKPIPE_PRODUCER_DEMO_LINK": "true",
        "CLICKPIPE_PRODUCER_REQUEST_TIMEOUT_MS": "1500",
    }
    producer = services.start("producer", ["producer", "--port", str(port)], env, "/readyz", port)
    async with httpx.AsyncClient(base_url=producer.url) as client:
        before = [await _click(client, "demo", i) for i in range(100)]
        await _events(own_broker.bootstrap_servers, topic, {f"https://ref.example/{i}" for i in range(100)})

        own_broker.stop()  # the broker is gone (the embedded one, being in memory, with its data)
        during = [await _click(client, "demo", i) for i in range(100, 400)]
        await asyncio.sleep(3)  # past the send timeout: the clicks are on their way to the spool
        metrics = (await client.get("/metrics")).text
        assert "clickpipe_producer_clicks_spooled_total 0.0" not in metrics

        own_broker.start()  # back (the embedded one empty: the topic must exist again)
        await ensure_topics(own_broker.bootstrap_servers, [TopicSpec(topic, 4)])
        after = [await _click(client, "demo", i) for i in range(400, 500)]
    assert set(before + during + after) == {302}
    want = {f"https://ref.example/{i}" for i in range(100, 500)}
    arrived = await _events(own_broker.bootstrap_servers, topic, want, timeout=120)
    assert want - arrived.keys() == set()
    async with httpx.AsyncClient(base_url=producer.url) as client:
        metrics = (await client.get("/metrics")).text
    assert "clickpipe_producer_clicks_dropped_total 0.0" in metrics


async def test_sigterm_under_load_loses_no_click(
    broker: Broker, topics: Topics, start_producer: StartProducer
) -> None:
    producer = start_producer(log_level="INFO")  # the whole shutdown in the log, for the traceback check
    statuses: dict[int, int] = {}
    async with httpx.AsyncClient(base_url=producer.url, timeout=5) as client:

        async def visitor(first: int) -> None:
            for i in range(first, first + 100_000, 20):
                try:
                    statuses[i] = await _click(client, "demo", i)
                except httpx.TransportError:
                    return  # the service has stopped listening

        load = [asyncio.create_task(visitor(n)) for n in range(20)]
        while len(statuses) < 1_500:
            await asyncio.sleep(0.01)
        os.kill(producer.process.pid, signal.SIGTERM)
        await asyncio.gather(*load)
    # The server shuts down gracefully (uvicorn then re-raises SIGTERM, granian exits 0).
    assert producer.process.wait(timeout=60) in (0, -signal.SIGTERM)
    assert "Traceback" not in producer.output()
    answered = {i for i, status in statuses.items() if status == 302}
    assert len(answered) >= 1_500
    # What the broker did not take before the exit is in the spool: a restart replays it.
    restarted = start_producer()
    want = {f"https://ref.example/{i}" for i in answered}
    arrived = await _events(broker.bootstrap_servers, topics.clicks, want)
    assert want - arrived.keys() == set()
    assert restarted.process.poll() is None
