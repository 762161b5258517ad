"""``GET /api/analytics`` on real workers and a real broker, checked against counts made from the clicks sent.

v3 clicks with known dimension values and visitor keys go straight onto the click topic, spread over the
last two days (in event-time order, with a grace period wide enough that none is late); two workers share
the partitions (on Kafka the second joins as a rule while the first counts: partitions move with their state),
and each must answer every question whole and the same.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from schemas.codec import LinkClickCodec
from schemas.events import LinkClick
from stream_app.sketches import RELATIVE_STANDARD_ERROR
from tests.integration.conftest import OPERATOR, Broker, Service, StartWorker, Topics, get_stats

pytestmark = pytest.mark.integration

CLICKS = 2_500
WINDOWS = {
    "windows": '{"minute": 60, "hour": 3600, "day": 86400}',
    "retention": '{"minute": 86400, "hour": 2592000, "day": 31536000}',
    "grace_seconds": str(4 * 86_400),  # clicks from two days ago are on time
}
POOLS: dict[str, list[str | None]] = {
    "country": ["DE", "FR", "US", "IN", None],
    "continent": ["EU", "NA", "AS", None],
    "region": ["BE", "IDF", "CA", None],
    "city": ["Berlin", "Paris", "São Paulo", None],
    "device": ["desktop", "mobile", "tablet", None],
    "browser": ["Chrome", "Safari", "Firefox", None],
    "os": ["Windows", "iOS", "Android", None],
    "referer_domain": ["news.ycombinator.com", "t.co", None],
    "rule": ["DE", "FR", None],
}
GROUPS = {
    "countries": ("country", lambda c: c.country or "unknown"),
    "continents": ("continent", lambda c: c.continent or "unknown"),
    "regions": ("region", lambda c: c.region or "unknown"),
    "cities": ("city", lambda c: c.city or "unknown"),
    "devices": ("device", lambda c: c.device or "unknown"),
    "browsers": ("browser", lambda c: c.browser or "unknown"),
    "os": ("os", lambda c: c.os or "unknown"),
    "referers": ("referer", lambda c: c.referer_domain or "direct"),
    "rules": ("rule", lambda c: c.rule or "default"),
    "top_urls": ("url", lambda c: c.destination),
}


def _clicks(now: datetime) -> list[LinkClick]:
    rng = random.Random(2026)
    clicks = []
    for _ in range(CLICKS):
        link = rng.randrange(6)
        bot = rng.random() < 0.15
        dims = {name: rng.choice(pool) for name, pool in POOLS.items()}
        clicks.append(
            LinkClick(
                link_id=f"link-{link}",
                account_id="acct",
                slug=f"slug-{link}",
                destination=f"https://example.com/{rng.randrange(3)}",
                timestamp=now - timedelta(seconds=rng.randrange(48 * 3600)),
                is_bot=bot,
                bot_reason="Googlebot" if bot else None,
                visitor=rng.randrange(-(2**63), 2**63) if bot else rng.randrange(1_800) * 7919 - 2**40,
                **dims,  # type: ignore[arg-type]
            )
        )
    return sorted(clicks, key=lambda click: click.timestamp)


async def _produce(broker: Broker, topic: str, clicks: list[LinkClick]) -> None:
    codec = LinkClickCodec()
    producer = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap_servers, **broker.client_options, linger_ms=5
    )
    await producer.start()
    try:
        # In event-time order, each under its link's key: no click reaches a partition after a later one.
        # Each sent at its time, as a redirect sends its click: the record's timestamp (the producer's
        # clock, which moves the watermarks) is the click's time.
        futures = [
            await producer.send(
                topic,
                codec.encode(click),
                key=click.key,
                timestamp_ms=int(click.timestamp.timestamp() * 1000),
            )
            for click in clicks
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def _ask(worker: Service, **params: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=worker.url, headers=OPERATOR, timeout=30) as client:
        response = await get_stats(client, "/api/analytics", params)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def _wait_for(worker: Service, total: int, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        seen = (await _ask(worker, interval="7d", bots="all"))["data"]["clicks"]
        if seen >= total:
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"the worker counted {seen} of {total} clicks")


async def _shared(first: Service, second: Service, partitions: int, timeout: float = 90) -> None:
    """Wait until the two workers share the partitions (before any click: no partition moves with state)."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=5) as client:
        while time.monotonic() < deadline:
            owned = [
                (await client.get(w.url + "/readyz")).json().get("partitions", []) for w in (first, second)
            ]
            if owned[0] and owned[1] and sorted(owned[0] + owned[1]) == list(range(partitions)):
                return
            await asyncio.sleep(0.3)
    raise AssertionError(f"the workers did not share the partitions: {owned}")


def _ranked(counts: Counter[str], limit: int = 100) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]


def _count(
    clicks: list[LinkClick], value: Callable[[LinkClick], str], keep: Callable[[LinkClick], bool]
) -> Counter[str]:
    return Counter(value(click) for click in clicks if keep(click))


def people(click: LinkClick) -> bool:
    return not click.is_bot


async def test_every_grouping_filter_and_bots_mode_equals_the_clicks_sent(
    broker: Broker, topics: Topics, start_worker: StartWorker
) -> None:
    first = start_worker("first", **WINDOWS)
    second = start_worker("second", **WINDOWS)
    if broker.embedded:
        # Partitions that move while the first worker counts reach the second through their changelog, which
        # the embedded broker cuts short (its log end offset falls below records it acknowledged, see
        # test_broker_features): the missed records' clicks are lost once their offsets are committed. On
        # Kafka nothing waits: the second worker joins when it is ready, as a rule while the first counts.
        await _shared(first, second, topics.partitions)
    clicks = _clicks(datetime.now(UTC))
    await _produce(broker, topics.clicks, clicks)
    await _wait_for(first, CLICKS)

    range_ = {"interval": "7d"}
    for worker in (first, second):  # each worker answers whole, and the same
        for group_by, (name, value) in GROUPS.items():
            data = (await _ask(worker, groupBy=group_by, **range_))["data"]
            got = [(entry[name], entry["clicks"]) for entry in data]
            assert got == _ranked(_count(clicks, value, people)), (worker.name, group_by, got)

    top = (await _ask(first, groupBy="top_links", bots="all", **range_))["data"]
    assert [(entry["link_id"], entry["clicks"]) for entry in top] == _ranked(
        _count(clicks, lambda c: c.link_id, lambda c: True)
    )
    assert {entry["slug"] for entry in top} == {f"slug-{i}" for i in range(6)}

    for bots, keep in (("exclude", people), ("only", lambda c: c.is_bot), ("all", lambda c: True)):
        data = (await _ask(first, bots=bots, **range_))["data"]
        kept = [click for click in clicks if keep(click)]
        assert data["clicks"] == len(kept), bots
        distinct = len({click.visitor for click in kept})
        assert abs(data["uniques"] - distinct) <= 3 * RELATIVE_STANDARD_ERROR * distinct, (
            bots,
            data,
            distinct,
        )

    def de_not_fr_not_mobile(click: LinkClick) -> bool:
        return click.country == "DE" and click.device != "mobile" and people(click)

    data = (await _ask(first, country="DE,-FR", device="-mobile", **range_))["data"]
    assert data == {"clicks": sum(map(de_not_fr_not_mobile, clicks)), "uniques": None}
    data = (await _ask(first, groupBy="browsers", country="-unknown", link="-link-0", bots="all", **range_))[
        "data"
    ]
    expected = _count(
        clicks, lambda c: c.browser or "unknown", lambda c: bool(c.country) and c.link_id != "link-0"
    )
    assert [(entry["browser"], entry["clicks"]) for entry in data] == _ranked(expected)
    data = (await _ask(first, link="link-1,link-2", **range_))["data"]
    linked = [c for c in clicks if people(c) and c.link_id in ("link-1", "link-2")]
    assert data["clicks"] == len(linked)
    distinct = len({click.visitor for click in linked})
    assert abs(data["uniques"] - distinct) <= 3 * RELATIVE_STANDARD_ERROR * distinct

    for zone_name in ("America/New_York", "Asia/Kolkata", "UTC"):
        zone = ZoneInfo(zone_name)
        answer = await _ask(first, groupBy="timeseries", interval="7d", timezone=zone_name)
        by_day = Counter(
            click.timestamp.astimezone(zone).date().isoformat()
            if zone_name != "Asia/Kolkata"
            # Kolkata's midnights are at 18:30 UTC: from hour windows, each hour counts where it starts.
            else _kolkata_day_of_hour(click.timestamp)
            for click in clicks
            if people(click)
        )
        got = {point["start"][:10]: point["clicks"] for point in answer["data"] if point["clicks"]}
        assert got == dict(by_day), zone_name
        assert answer["edges_rounded"] is (zone_name == "Asia/Kolkata")
        assert len(answer["data"]) == 7

    hourly = await _ask(second, groupBy="timeseries", interval="24h")
    assert len(hourly["data"]) == 24
    assert sum(point["clicks"] for point in hourly["data"]) == sum(
        1 for c in clicks if people(c) and c.timestamp >= datetime.fromisoformat(hourly["start"])
    )


def _kolkata_day_of_hour(moment: datetime) -> str:
    """The Kolkata date where the UTC hour window holding ``moment`` starts."""
    hour = moment.replace(minute=0, second=0, microsecond=0)
    return hour.astimezone(ZoneInfo("Asia/Kolkata")).date().isoformat()
