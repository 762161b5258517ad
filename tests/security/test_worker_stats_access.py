"""Stats access end to end: a real producer checks the keys, a real worker scopes the answers."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from clickpipe.cli import main
from clickpipe.process import terminate
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
from tests.kafka_io import click_at, produce

pytestmark = pytest.mark.integration


def _range() -> dict[str, str]:
    now = datetime.now(UTC)
    return {"from": (now - timedelta(hours=1)).isoformat(), "to": (now + timedelta(hours=1)).isoformat()}


async def _top(worker: Service, headers: dict[str, str]) -> tuple[int, Any]:
    async with httpx.AsyncClient(base_url=worker.url, headers=headers, timeout=15) as client:
        response = await get_stats(client, "/api/stats/top-links", {**_range(), "limit": "100"})
    return response.status_code, response.json()


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _create_account(data_dir: Path, name: str, capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    # The commands run their own event loop: in a thread of their own.
    assert await asyncio.to_thread(main, ["accounts", "create", name, "--data-dir", str(data_dir)]) == 0
    account_id = capsys.readouterr().out.split()[1]
    assert await asyncio.to_thread(main, ["keys", "create", account_id, "--data-dir", str(data_dir)]) == 0
    return account_id, capsys.readouterr().out.strip()


async def test_each_account_sees_only_its_own_counts(
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
    async with httpx.AsyncClient(base_url=producer.url, headers={"User-Agent": BROWSER}) as client:
        response = await client.post(
            "/api/links",
            json={"slug": "mine", "default_destination": "https://example.com/"},
            headers=_bearer(API_KEY),
        )
        assert response.status_code == 201, response.text
        demo_link = response.json()["link_id"]
        for _ in range(5):
            assert (await client.get("/mine")).status_code == 302
    theirs = click_at("mallory-link", datetime.now(UTC), account=mallory_id, slug="theirs")
    await produce(broker, topics.clicks, [LinkClickCodec().encode(theirs)] * 3, key=theirs.key)

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, everything = await _top(worker, OPERATOR)
        assert status == 200, everything
        if sum(link["total"] for link in everything["links"]) >= 8:
            break
        await asyncio.sleep(0.3)
    assert {link["link_id"]: link["total"] for link in everything["links"]} == {
        demo_link: 5,
        "mallory-link": 3,
    }

    status, mine = await _top(worker, _bearer(API_KEY))
    assert status == 200
    assert [(link["link_id"], link["total"]) for link in mine["links"]] == [(demo_link, 5)]
    status, mallorys = await _top(worker, _bearer(mallory_key))
    assert [(link["link_id"], link["total"]) for link in mallorys["links"]] == [("mallory-link", 3)]

    for headers in ({}, _bearer("cpk_made-up"), {"Authorization": API_KEY}):
        status, body = await _top(worker, headers)
        assert status == 401, body
        assert body["error"]

    terminate(producer.process, timeout=20)
    status, body = await _top(worker, _bearer("cpk_another-made-up"))
    assert status == 503, body
    status, mine = await _top(worker, _bearer(API_KEY))  # still cached
    assert status == 200
