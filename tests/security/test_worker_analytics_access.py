"""``/api/analytics`` across the tenant boundary, end to end: a real producer checks the keys, a real worker
scopes every answer, and hostile parameters get a 400, never another account's counts or a stalled worker."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from clickpipe.cli import main
from schemas.codec import LinkClickCodec
from schemas.events import LinkClick
from tests.integration.conftest import API_KEY, OPERATOR, Broker, Service, StartProducer, StartWorker, Topics
from tests.kafka_io import produce

pytestmark = pytest.mark.integration


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _ask(worker: Service, headers: dict[str, str], params: dict[str, str] | str) -> tuple[int, Any]:
    async with httpx.AsyncClient(base_url=worker.url, headers=headers, timeout=30) as client:
        deadline = time.monotonic() + 60
        while True:
            response = await client.get("/api/analytics", params=params)
            moving = response.status_code == 503 and "partitions" in response.json()
            if not moving or time.monotonic() > deadline:
                return response.status_code, response.json()
            await asyncio.sleep(0.2)


async def _create_account(data_dir: Path, name: str, capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    assert await asyncio.to_thread(main, ["accounts", "create", name, "--data-dir", str(data_dir)]) == 0
    account_id = capsys.readouterr().out.split()[1]
    assert await asyncio.to_thread(main, ["keys", "create", account_id, "--data-dir", str(data_dir)]) == 0
    return account_id, capsys.readouterr().out.strip()


async def _send(broker: Broker, topic: str, link: str, account: str, count: int, country: str) -> None:
    click = LinkClick(
        link_id=link,
        account_id=account,
        destination="https://example.com/",
        timestamp=datetime.now(UTC),
        country=country,
        device="mobile",
        visitor=hash(link) & 0xFFFF,
        slug=link,
    )
    await produce(broker, topic, [LinkClickCodec().encode(click)] * count, key=click.key)


async def test_an_account_never_sees_another_accounts_analytics(
    broker: Broker,
    topics: Topics,
    start_producer: StartProducer,
    start_worker: StartWorker,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    mallory_id, mallory_key = await _create_account(tmp_path / "producer", "Mallory", capsys)
    producer = start_producer()
    worker = start_worker(auth_url=producer.url, auth_cache_seconds="60")
    async with httpx.AsyncClient(base_url=producer.url) as client:
        demo_id = (await client.get("/api/account", headers=_bearer(API_KEY))).json()["account_id"]
    await _send(broker, topics.clicks, "demo-link", demo_id, 5, "DE")
    await _send(broker, topics.clicks, "mallory-link", mallory_id, 3, "FR")

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, answer = await _ask(worker, OPERATOR, {"groupBy": "count"})
        assert status == 200, answer
        if answer["data"]["clicks"] >= 8:
            break
        await asyncio.sleep(0.3)
    assert answer["data"]["clicks"] == 8

    for group_by, field in (("top_links", "link_id"), ("countries", "country"), ("devices", "device")):
        _, mine = await _ask(worker, _bearer(API_KEY), {"groupBy": group_by})
        _, hers = await _ask(worker, _bearer(mallory_key), {"groupBy": group_by})
        ours = {"top_links": "demo-link", "countries": "DE", "devices": "mobile"}[group_by]
        theirs = {"top_links": "mallory-link", "countries": "FR", "devices": "mobile"}[group_by]
        assert [(entry[field], entry["clicks"]) for entry in mine["data"]] == [(ours, 5)]
        assert [(entry[field], entry["clicks"]) for entry in hers["data"]] == [(theirs, 3)]
    for link in ("mallory-link", "mallory-link' OR '1'='1", "*", "%"):
        _, mine = await _ask(worker, _bearer(API_KEY), {"link": link, "bots": "all"})
        assert mine["data"] == {"clicks": 0, "uniques": 0}, link
    _, mine = await _ask(
        worker, _bearer(API_KEY), {"groupBy": "timeseries", "country": "FR", "interval": "1h"}
    )
    assert sum(point["clicks"] for point in mine["data"]) == 0

    hostile: list[dict[str, str] | str] = [
        {"account_id": mallory_id},
        {"account": mallory_id},
        {"scope": "all"},
        "link=demo-link&link=mallory-link",
        {"country": "DE\x00"},
        {"timezone": "../../../../etc/passwd"},
        {"timezone": "Europe/Berlin\n"},
        {"country": ",".join(f"C{i}" for i in range(1_000))},  # past the 100 values a filter may list
        {"city": "x" * 5_000},
        {"start": "1970-01-01T00:00:00Z", "end": "8999-12-31T00:00:00Z", "granularity": "minute"},
        {"interval": "all", "granularity": "minute"},
        {"limit": "10000000000000000000000"},
    ]
    for params in hostile:
        started = time.monotonic()
        status, body = await _ask(worker, _bearer(API_KEY), params)
        assert status == 400, (params, body)
        assert body["parameter"]
        assert time.monotonic() - started < 5, params
        assert "mallory-link" not in str(body)

    # scope=local answers one worker's part, still scoped to the caller's own account.
    status, part = await _ask(worker, _bearer(API_KEY), {"groupBy": "top_links", "scope": "local"})
    assert status == 200
    assert set(part["part"]["links"]) == {"demo-link"}

    for headers in ({}, _bearer("cpk_made-up"), {"Authorization": API_KEY}):
        status, body = await _ask(worker, headers, {"groupBy": "count"})
        assert status == 401, body
