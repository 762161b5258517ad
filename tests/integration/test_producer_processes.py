"""Several producer processes on one data directory: each its own spool, link changes reach them all."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from clickpipe.broker import free_port
from producer.main import SERVERS
from producer.spool_slots import claim_slot
from tests.integration.conftest import API_KEY, Broker, Services, StartProducer, Topics

CACHE_SECONDS = 1.0


def _held_slots(spool: Path) -> list[int]:
    """The slots live processes hold (claiming one more tells which are taken)."""
    probe = claim_slot(spool)
    probe.release()
    return [n for n in range(probe.number + 1) if n != probe.number]


async def test_a_link_change_reaches_another_process_within_the_cache_time(
    start_producer: StartProducer,
) -> None:
    settings = {"link_cache_seconds": str(CACHE_SECONDS)}
    first, second = start_producer("shared", **settings), start_producer("shared", **settings)
    spool = Path(first.log).parent / "shared" / "spool"
    assert _held_slots(spool) == [0, 1]
    async with httpx.AsyncClient(base_url=first.url) as one, httpx.AsyncClient(base_url=second.url) as two:
        for client in (one, two):  # both cache the link as it is
            assert (await client.get("/demo")).headers["location"] == "https://example.com/"
        patched = await one.patch(
            "/api/links/demo",
            json={"default_destination": "https://example.org/moved"},
            headers={"Authorization": f"Bearer {API_KEY}"},
        )
        assert patched.status_code == 200, patched.text
        changed = time.monotonic()
        assert (await one.get("/demo")).headers["location"] == "https://example.org/moved"
        while (await two.get("/demo")).headers["location"] != "https://example.org/moved":
            assert time.monotonic() - changed <= CACHE_SECONDS + 0.5, "the other process kept the old link"


@pytest.mark.parametrize("server", SERVERS)
async def test_workers_share_one_port_each_with_its_own_spool(
    broker: Broker, topics: Topics, services: Services, tmp_path: Path, server: str
) -> None:
    port = free_port()
    data = tmp_path / "data"
    env = {
        "CLICKPIPE_PRODUCER_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "CLICKPIPE_PRODUCER_CLICKS_TOPIC": topics.clicks,
        "CLICKPIPE_PRODUCER_DATA_DIR": str(data),
        "CLICKPIPE_PRODUCER_DEMO_LINK": "true",
        "CLICKPIPE_PRODUCER_SERVER": server,
    }
    services.start("producer", ["producer", "--port", str(port), "--workers", "2"], env, "/readyz", port)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        deadline = time.monotonic() + 30
        while _held_slots(data / "spool") != [0, 1]:  # the second worker may still be starting
            assert time.monotonic() < deadline, _held_slots(data / "spool")
            assert (await client.get("/healthz")).status_code == 200
        statuses = {(await client.get("/demo")).status_code for _ in range(50)}
    assert statuses == {302}
