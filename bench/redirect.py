"""The redirect's cost of publishing, and the publisher against a raw aiokafka producer.

    python -m bench.redirect [--seconds 10] [--connections 32] [--events 100000]

Part 1 drives ``GET /demo`` with wrk (a load generator that is not this project's code; Debian package
``wrk``) against the same redirect service with publishing on and off, alternating twice, and prints req/s,
p50 and p99 for each and the ratios (target: publishing costs at most 10% of throughput and of p99).
Part 2 sends the same events through ``KafkaClickPublisher`` and through a raw aiokafka producer (values
pre-encoded: the transport's ceiling) and prints events/s and the ratio (target: at least 0.5).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.common import add_broker_option, broker
from clickpipe.admin import ensure_topics
from clickpipe.broker import free_port
from producer.metrics import ProducerMetrics
from producer.publisher import KafkaClickPublisher, kafka_producer
from producer.rejected import FileRejectedSink
from producer.spool import Spool
from schemas.codec import LinkClickCodec
from schemas.events import LinkClick
from schemas.topics import TopicSpec

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def run_wrk(url: str, seconds: int, connections: int) -> tuple[float, float, float]:
    """Return (req/s, p50 ms, p99 ms) of a wrk run."""
    out = subprocess.run(
        [
            "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
            "-H", "CF-IPCountry: DE", "-H", f"User-Agent: {BROWSER}", url,
        ],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    if "Non-2xx or 3xx responses" in out:
        raise RuntimeError(f"wrk saw errors:\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.MULTILINE))
    return rate, _ms(latency["50"]), _ms(latency["99"])


def _ms(text: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def start_producer(
    bootstrap: str, topic: str, data: Path, *, publish: bool
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "CLICKPIPE_PRODUCER_BOOTSTRAP_SERVERS": bootstrap,
        "CLICKPIPE_PRODUCER_CLICKS_TOPIC": topic,
        "CLICKPIPE_PRODUCER_DATA_DIR": str(data),
        "CLICKPIPE_PRODUCER_DEMO_LINK": "true",
        "CLICKPIPE_PRODUCER_PUBLISH": str(publish).lower(),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "clickpipe", "--log-level", "WARNING", "producer", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("the producer did not start")


def redirect_part(bootstrap: str, topic: str, seconds: int, connections: int) -> None:
    results: dict[bool, list[tuple[float, float, float]]] = {True: [], False: []}
    with tempfile.TemporaryDirectory(prefix="bench-redirect-") as data:
        for publish in (False, True, False, True):
            process, url = start_producer(bootstrap, topic, Path(data) / str(publish), publish=publish)
            try:
                run_wrk(url + "/demo", 2, connections)  # warm up
                results[publish].append(run_wrk(url + "/demo", seconds, connections))
            finally:
                process.terminate()
                process.wait(30)
    on = [statistics.median(values) for values in zip(*results[True], strict=True)]
    off = [statistics.median(values) for values in zip(*results[False], strict=True)]
    print(f"\nredirect, wrk -c{connections} {seconds}s x2 each (medians)")
    print(f"{'':<18} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8}")
    print(f"{'publishing off':<18} {off[0]:>10,.0f} {off[1]:>8.2f} {off[2]:>8.2f}")
    print(f"{'publishing on':<18} {on[0]:>10,.0f} {on[1]:>8.2f} {on[2]:>8.2f}")
    print(f"{'on / off':<18} {on[0] / off[0]:>10.3f} {on[1] / off[1]:>8.3f} {on[2] / off[2]:>8.3f}")
    print(
        f"throughput cost {1 - on[0] / off[0]:.1%}, p99 cost {on[2] / off[2] - 1:.1%} (target: <= 10% each)"
    )


def _events(count: int) -> list[LinkClick]:
    now = datetime.now(UTC)
    return [
        LinkClick(
            link_id=f"link-{i % 1000}", account_id="acct", slug=f"s{i % 1000}", destination="https://example.com/",
            timestamp=now, country="DE", user_agent=BROWSER, referer="https://news.example.org/",
        )
        for i in range(count)
    ]  # fmt: skip


async def raw_rate(bootstrap: str, topic: str, events: list[LinkClick]) -> float:
    codec = LinkClickCodec()
    records = [(event.key, codec.encode(event)) for event in events]
    producer = kafka_producer(bootstrap, enable_idempotence=False, linger_ms=10, request_timeout_ms=30_000)
    await producer.start()
    try:
        started = time.perf_counter()
        futures = [await producer.send(topic, value, key=key) for key, value in records]
        await asyncio.gather(*futures)
        return len(records) / (time.perf_counter() - started)
    finally:
        await producer.stop()


async def publisher_rate(bootstrap: str, topic: str, events: list[LinkClick]) -> float:
    metrics = ProducerMetrics()
    with tempfile.TemporaryDirectory(prefix="bench-spool-") as spool_dir:
        publisher = KafkaClickPublisher(
            lambda: kafka_producer(
                bootstrap, enable_idempotence=False, linger_ms=10, request_timeout_ms=30_000
            ),
            Spool(Path(spool_dir)),
            topic,
            metrics,
            queue_size=len(events) + 1,
            rejected=FileRejectedSink(Path(spool_dir) / "rejected"),
        )
        await publisher.start()
        while publisher.state != "connected":
            await asyncio.sleep(0.01)
        started = time.perf_counter()
        for event in events:
            publisher.publish(event)
        while (metrics.registry.get_sample_value("clickpipe_producer_clicks_published_total") or 0) < len(
            events
        ):
            await asyncio.sleep(0.001)
        elapsed = time.perf_counter() - started
        await publisher.stop()
    return len(events) / elapsed


def publisher_part(bootstrap: str, topic: str, count: int) -> None:
    events = _events(count)
    raw = [asyncio.run(raw_rate(bootstrap, topic, events)) for _ in range(2)]
    ours = [asyncio.run(publisher_rate(bootstrap, topic, events)) for _ in range(2)]
    print(f"\npublishing {count:,} events (best of 2)")
    print(f"{'raw aiokafka producer (pre-encoded)':<40} {max(raw):>10,.0f} events/s")
    print(f"{'KafkaClickPublisher (encodes too)':<40} {max(ours):>10,.0f} events/s")
    print(f"ratio {max(ours) / max(raw):.3f} (target: >= 0.5)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--events", type=int, default=100_000)
    add_broker_option(parser)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench.redirect needs wrk: apt-get install wrk")
    with broker(args.broker) as bootstrap:
        topic = f"bench-redirect-{uuid.uuid4().hex[:6]}"
        asyncio.run(ensure_topics(bootstrap, [TopicSpec(topic, 4)]))
        redirect_part(bootstrap, topic, args.seconds, args.connections)
        publisher_part(bootstrap, topic, args.events)


if __name__ == "__main__":
    main()
