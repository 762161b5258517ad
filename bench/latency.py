"""Click-to-stats latency: how long a click on the redirect takes to show in the worker's stats, under load.

    python -m bench.latency [--rate 1000] [--probes 200] [--broker embedded|kafka]

Starts the broker, ``clickpipe producer`` (publishing on) and ``clickpipe worker``, drives a steady
``--rate`` of ``GET /demo`` in the background, and meanwhile clicks ``--probes`` links of their own one by
one: each probe's latency runs from sending its ``GET /{slug}`` to the first answer of the worker's
``/api/stats/links/{link_id}`` that counts it (polled every 5 ms). Prints p50, p90, p99 and max.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.common import add_broker_option, broker
from bench.redirect import Target, clickpipe, start
from clickpipe.admin import ensure_topics
from clickpipe.broker import free_port
from schemas.topics import TopicSpec

KEY = "bench-latency-key"
OPERATOR_KEY = "bench-latency-operator-key"  # the worker's stats API wants a key; this one sees every account


def start_worker(bootstrap: str, topic: str, data: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "CLICKPIPE_WORKER_BOOTSTRAP_SERVERS": bootstrap,
        "CLICKPIPE_WORKER_APP_ID": f"bench-latency-{uuid.uuid4().hex[:6]}",
        "CLICKPIPE_WORKER_CLICKS_TOPIC": topic,
        "CLICKPIPE_WORKER_DLQ_TOPIC": f"{topic}.dlq",
        "CLICKPIPE_WORKER_LATE_TOPIC": f"{topic}.late",
        "CLICKPIPE_WORKER_AGGREGATES_TOPIC": f"{topic}.aggregates",
        "CLICKPIPE_WORKER_PARTITIONS": "4",
        "CLICKPIPE_WORKER_DATA_DIR": str(data),
        "CLICKPIPE_WORKER_SESSION_TIMEOUT": "6",
        "CLICKPIPE_WORKER_REBALANCE_TIMEOUT": "6",
        "CLICKPIPE_WORKER_RECOVERY_CONSISTENCY_CHECK": "false",
        "CLICKPIPE_WORKER_LOG_LEVEL": "warning",
        "CLICKPIPE_WORKER_OPERATOR_KEY": OPERATOR_KEY,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "clickpipe", "--log-level", "WARNING", "worker", "--web-port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("the worker did not get ready")


def steady_load(url: str, rate: float, seconds: float) -> subprocess.Popen[bytes]:
    """``clickpipe loadgen`` at ``rate`` req/s in a process of its own, so the probes' timing is not
    skewed by the load sharing their event loop."""
    return subprocess.Popen(
        [
            sys.executable, "-m", "clickpipe", "--log-level", "WARNING", "loadgen", "--url", url,
            "--rate", str(rate), "--duration", str(seconds), "--bot-share", "0",
        ],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


async def probe(producer: str, worker: str, links: list[tuple[str, str]]) -> list[float]:
    now = datetime.now(UTC)
    params = {
        "from": (now - timedelta(hours=1)).isoformat(),
        "to": (now + timedelta(hours=1)).isoformat(),
        "granularity": "minute",
    }
    latencies = []
    operator = {"Authorization": f"Bearer {OPERATOR_KEY}"}
    async with (
        httpx.AsyncClient(base_url=producer) as redirect,
        httpx.AsyncClient(base_url=worker, headers=operator) as stats,
    ):
        for slug, link_id in links:
            clicked = time.perf_counter()
            if (await redirect.get(f"/{slug}")).status_code != 302:
                raise RuntimeError(f"probe link {slug} did not redirect")
            while True:
                answer = await stats.get(f"/api/stats/links/{link_id}", params=params)
                if answer.status_code == 200 and answer.json()["totals"]["total"] >= 1:
                    break
                if time.perf_counter() - clicked > 30:
                    raise RuntimeError(
                        f"probe {slug}: not in the stats after 30 s: {answer.status_code} {answer.text[:300]}"
                    )
                await asyncio.sleep(0.005)
            latencies.append((time.perf_counter() - clicked) * 1000)
    return latencies


async def run(producer: str, worker: str, rate: float, probes: int) -> tuple[list[float], float]:
    headers = {"Authorization": f"Bearer {KEY}"}
    links = []
    async with httpx.AsyncClient(base_url=producer, headers=headers) as api:
        for i in range(probes):
            slug = f"probe-{i}-{uuid.uuid4().hex[:6]}"
            made = await api.post(
                "/api/links", json={"slug": slug, "default_destination": "https://example.com/"}
            )
            links.append((slug, made.json()["link_id"]))
    load = steady_load(producer, rate, seconds=3_600)
    try:
        await asyncio.sleep(3)  # let the load settle before probing
        clicked = await _clicks(producer)
        started = time.perf_counter()
        latencies = await probe(producer, worker, links)
        achieved = (await _clicks(producer) - clicked) / (time.perf_counter() - started)
    finally:
        load.terminate()
        load.wait(30)
    return latencies, achieved


async def _clicks(producer: str) -> float:
    """Clicks the redirect service has received so far (its own metric)."""
    async with httpx.AsyncClient(base_url=producer) as client:
        text = (await client.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith("clickpipe_producer_clicks_received_total"):
            return float(line.split()[-1])
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=1000, help="background req/s (%(default)s)")
    parser.add_argument("--probes", type=int, default=200, help="probe clicks (%(default)s)")
    add_broker_option(parser)
    args = parser.parse_args()
    with broker(args.broker) as bootstrap, tempfile.TemporaryDirectory(prefix="bench-latency-") as data:
        topic = f"bench-latency-{uuid.uuid4().hex[:6]}"
        specs = [
            TopicSpec(name, 4) for name in (topic, f"{topic}.dlq", f"{topic}.late", f"{topic}.aggregates")
        ]
        asyncio.run(ensure_topics(bootstrap, specs))
        made = clickpipe(bootstrap, topic, "uvicorn")
        target = Target(
            made.label, made.args, {**made.env, "CLICKPIPE_PRODUCER_DEMO_API_KEY": KEY}, made.ready
        )
        producer, producer_url = start(target, Path(data) / "producer")
        worker, worker_url = start_worker(bootstrap, topic, Path(data) / "worker")
        try:
            latencies, rate = asyncio.run(run(producer_url, worker_url, args.rate, args.probes))
        finally:
            for process in (producer, worker):
                process.terminate()
                process.wait(60)
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    print(f"\nclick-to-stats latency, {len(latencies)} probes under ~{rate:,.0f} req/s of background clicks")
    print(
        f"p50 {cuts[49]:.0f} ms   p90 {cuts[89]:.0f} ms   p99 {cuts[98]:.0f} ms   max {max(latencies):.0f} ms"
    )


if __name__ == "__main__":
    main()
