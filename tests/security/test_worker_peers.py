"""A rogue member of the workers' consumer group, end to end: it joins the group (the broker lets anyone in
where it is unauthenticated), advertises a URL of its own, and is asked for its partitions' part. It must
receive no caller's key, and its forged answer must not reach any caller's counts."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiohttp import web

from clickpipe.broker import free_port
from schemas.codec import LinkClickCodec
from schemas.events import LinkClick
from tests.integration.conftest import (
    API_KEY,
    OPERATOR,
    OPERATOR_KEY,
    Broker,
    Service,
    StartProducer,
    StartWorker,
    Topics,
)
from tests.kafka_io import produce

pytestmark = pytest.mark.integration

FORGED_CLICKS = 1_000_000


class Recorder:
    """What the rogue member advertises: an HTTP server that keeps every request and answers a forged part
    (a million clicks, with a made-up answer signature)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None

    async def _answer(self, request: web.Request) -> web.Response:
        self.requests.append({"path": request.path_qs, "headers": dict(request.headers)})
        part = {"part": {"clicks": FORGED_CLICKS, "sketch": None}, "partitions": list(range(64))}
        return web.json_response(part, headers={"X-Clickpipe-Peer-Answer": "forged"})

    async def __aenter__(self) -> Recorder:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._answer)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def _partitions(worker: Service) -> list[int] | None:
    """The partitions a worker owns; None while they move (``/readyz`` then says no)."""
    async with httpx.AsyncClient() as client:
        owned: list[int] | None = (await client.get(f"{worker.url}/readyz")).json().get("partitions")
    return owned


async def _count(worker: Service, headers: dict[str, str]) -> tuple[int, Any]:
    async with httpx.AsyncClient(base_url=worker.url, headers=headers, timeout=30) as client:
        response = await client.get("/api/analytics", params={"groupBy": "count", "bots": "all"})
    return response.status_code, response.json()


async def test_a_rogue_group_member_receives_no_key_and_cannot_skew_a_count(
    broker: Broker,
    topics: Topics,
    start_producer: StartProducer,
    start_worker: StartWorker,
) -> None:
    producer = start_producer()
    honest = start_worker("honest", auth_url=producer.url, grace_seconds="600")
    async with httpx.AsyncClient(base_url=producer.url) as client:
        account = (await client.get("/api/account", headers={"Authorization": f"Bearer {API_KEY}"})).json()
    codec = LinkClickCodec()
    for n in range(40):  # links over every partition
        click = LinkClick(
            link_id=f"link-{n}",
            account_id=account["account_id"],
            destination="https://example.com/",
            timestamp=datetime.now(UTC),
            country="DE",
        )
        await produce(broker, topics.clicks, [codec.encode(click)], key=click.key)
    deadline = time.monotonic() + 60
    while (answer := await _count(honest, OPERATOR))[1].get("data", {}).get("clicks") != 40:
        assert time.monotonic() < deadline, answer
        await asyncio.sleep(0.3)

    async with Recorder() as recorder:
        # The rogue runs the worker itself, in the same group, but without the cluster secret, and tells the
        # group its partitions are served at the recorder's URL.
        rogue = start_worker(
            "rogue",
            auth_url=producer.url,
            cluster_secret="not-the-cluster-secret-0123456789abcdef",  # noqa: S106  # the rogue's own
            advertised_url=recorder.url,
        )
        deadline = time.monotonic() + 90
        while not (0 < len(await _partitions(honest) or []) < topics.partitions and await _partitions(rogue)):
            assert time.monotonic() < deadline, "the rogue never got a partition"
            await asyncio.sleep(0.5)

        answers = []
        deadline = time.monotonic() + 30
        while not recorder.requests and time.monotonic() < deadline:
            for headers in ({"Authorization": f"Bearer {API_KEY}"}, OPERATOR):
                answers.append(await _count(honest, headers))
            await asyncio.sleep(0.5)
        for _ in range(3):  # and again, now that the rogue has been asked
            for headers in ({"Authorization": f"Bearer {API_KEY}"}, OPERATOR):
                answers.append(await _count(honest, headers))

    assert recorder.requests, "the honest worker never asked the rogue: the test proves nothing"
    seen = json.dumps(recorder.requests)
    for secret in (API_KEY, OPERATOR_KEY, "Bearer"):
        assert secret not in seen, f"the rogue received {secret!r}: {seen[:2000]}"
    assert all("authorization" not in {name.lower() for name in r["headers"]} for r in recorder.requests)
    for status, body in answers:
        # Never the forged part: while the rogue holds partitions the answer cannot be whole (503).
        assert status == 503, (status, body)
        assert str(FORGED_CLICKS) not in json.dumps(body)
