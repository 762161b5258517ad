"""The redirect against its anchors, uvicorn against granian, one process against two; publishing's cost.

    python -m bench.redirect [--seconds 8] [--rounds 2] [--connections 32] [--events 100000] [--broker ...]

Part 1 drives ``GET /demo`` with wrk (a load generator that is not this project's code; Debian package
``wrk``, ``-t1``) against, in turn and alternated ``--rounds`` times (medians reported):

- the anchors in ``bench/anchors.py``: a raw ASGI redirect (a dict lookup, a 302) and a bare FastAPI route
  doing the same, each under granian and under uvicorn, served by ``producer.main.run_server`` with the very
  flags clickpipe is served with;
- ``clickpipe producer`` (publishing on) under each server, and with ``--workers 2`` on the default server;
- ``clickpipe producer`` with publishing off;
- each ``--variant LABEL:NAME=VALUE,...``: ``clickpipe producer`` (publishing on, one process, the first
  server) with those settings (``CLICKPIPE_PRODUCER_`` + NAME), e.g. ``--variant
  same-loop:SENDER_THREAD=false`` to compare a setting's values in one run.

It prints req/s, p50 and p99 for each, clickpipe's ratios to both anchors on the same server (goal: at
least 1.0x the bare FastAPI req/s with at most 1.5x its p99; stretch: 0.5x the raw ASGI req/s), and the
publishing on/off pair as a second table. Part 2 sends the same events through ``KafkaClickPublisher`` and
through a raw aiokafka producer (values pre-encoded: the transport's ceiling) and prints events/s and the
ratio (target: at least 0.5).
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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.common import add_broker_option, broker
from clickpipe.admin import ensure_topics
from clickpipe.broker import free_port
from producer.main import SERVERS
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


@dataclass(frozen=True)
class Target:
    """A server to measure: how to start it, and the path that answers once it is ready."""

    label: str
    args: list[str]
    env: dict[str, str]
    ready: str


def anchor(app: str, server: str) -> Target:
    label = f"{'raw ASGI' if app == 'raw' else 'bare FastAPI'} [{server}]"
    return Target(label, ["-m", "bench.anchors", app, "--server", server], {}, "/demo")


def clickpipe(
    bootstrap: str,
    topic: str,
    server: str,
    *,
    workers: int = 1,
    publish: bool = True,
    variant: tuple[str, dict[str, str]] | None = None,
) -> Target:
    processes = f" x{workers}" if workers > 1 else ""
    name = f" {variant[0]}" if variant else ""
    label = f"clickpipe{processes}{name}{'' if publish else ' (no publish)'} [{server}]"
    env = {
        **{f"CLICKPIPE_PRODUCER_{key.upper()}": value for key, value in (variant or ("", {}))[1].items()},
        "CLICKPIPE_PRODUCER_BOOTSTRAP_SERVERS": bootstrap,
        "CLICKPIPE_PRODUCER_CLICKS_TOPIC": topic,
        "CLICKPIPE_PRODUCER_DEMO_LINK": "true",
        "CLICKPIPE_PRODUCER_PUBLISH": str(publish).lower(),
        "CLICKPIPE_PRODUCER_SERVER": server,
    }
    args = ["-m", "clickpipe", "--log-level", "WARNING", "producer", "--workers", str(workers)]
    return Target(label, args, env, "/readyz")


def start(target: Target, data: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, **target.env, "CLICKPIPE_PRODUCER_DATA_DIR": str(data)}
    process = subprocess.Popen(
        [sys.executable, *target.args, "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + target.ready, timeout=1).status_code in (200, 302):
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{target.label} did not start")


Runs = dict[str, list[tuple[float, float, float]]]


def measure(targets: list[Target], seconds: int, connections: int, rounds: int) -> Runs:
    """Each target's (req/s, p50 ms, p99 ms) in each of ``rounds`` alternated runs."""
    runs: dict[str, list[tuple[float, float, float]]] = {target.label: [] for target in targets}
    with tempfile.TemporaryDirectory(prefix="bench-redirect-") as data:
        for round_ in range(rounds):
            for n, target in enumerate(targets):
                process, url = start(target, Path(data) / f"{round_}-{n}")
                try:
                    run_wrk(url + "/demo", 2, connections)  # warm up
                    runs[target.label].append(run_wrk(url + "/demo", seconds, connections))
                finally:
                    process.terminate()
                    process.wait(60)
                rate, _, p99 = runs[target.label][-1]
                print(
                    f"  round {round_ + 1}: {target.label:<40} {rate:>9,.0f} req/s {p99:>8.2f} ms p99",
                    flush=True,
                )
    return runs


def paired(runs: Runs, ours: str, theirs: str, index: int) -> float:
    """The median over rounds of ``ours / theirs`` within each round (steadier than a ratio of medians
    when other work on the machine comes and goes between rounds)."""
    return statistics.median(a[index] / b[index] for a, b in zip(runs[ours], runs[theirs], strict=True))


def redirect_part(bootstrap: str, topic: str, args: argparse.Namespace) -> None:
    servers: list[str] = args.servers
    chosen = servers[0]
    targets = [
        *(anchor(app, server) for server in servers for app in ("raw", "bare")),
        *(clickpipe(bootstrap, topic, server) for server in servers),
        *(
            []
            if args.only_variants
            else [
                clickpipe(bootstrap, topic, chosen, workers=2),
                clickpipe(bootstrap, topic, chosen, publish=False),
            ]
        ),
        *(clickpipe(bootstrap, topic, chosen, variant=variant) for variant in args.variant),
    ]
    runs = measure(targets, args.seconds, args.connections, args.rounds)
    medians = {
        label: [statistics.median(values) for values in zip(*results, strict=True)]
        for label, results in runs.items()
    }
    print(
        f"\nredirect GET /demo, wrk -t1 -c{args.connections} {args.seconds}s, "
        f"{args.rounds} alternated rounds (medians)"
    )
    print(f"{'':<36} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8}")
    for target in targets:
        rate, p50, p99 = medians[target.label]
        print(f"{target.label:<36} {rate:>10,.0f} {p50:>8.2f} {p99:>8.2f}")
    print(
        f"\n{'clickpipe (publishing on) vs anchors':<58} {'req/s x':>8} {'p99 x':>8}"
        f" {'paired req/s x':>15} {'paired p99 x':>13}"
    )
    for server in servers:
        variants = [
            *([] if args.only_variants else [f"clickpipe x2 [{server}]"]),
            *(f"clickpipe {name} [{server}]" for name, _ in args.variant),
        ]
        for label in (f"clickpipe [{server}]", *(variants if server == chosen else [])):
            ours = medians[label]
            for anchor_label in (f"bare FastAPI [{server}]", f"raw ASGI [{server}]"):
                theirs = medians[anchor_label]
                name = f"{label} / {anchor_label}"
                print(
                    f"{name:<58} {ours[0] / theirs[0]:>8.2f} {ours[2] / theirs[2]:>8.2f}"
                    f" {paired(runs, label, anchor_label, 0):>15.2f}"
                    f" {paired(runs, label, anchor_label, 2):>13.2f}"
                )
    print("goal: >= 1.0x bare FastAPI req/s with p99 <= 1.5x; stretch: >= 0.5x raw ASGI req/s")
    print("(x: ratio of the medians; paired x: median of the ratios within each round)")
    if args.only_variants:
        return
    on, off = medians[f"clickpipe [{chosen}]"], medians[f"clickpipe (no publish) [{chosen}]"]
    print(f"\npublishing, clickpipe [{chosen}]")
    print(f"{'':<18} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8}")
    print(f"{'publishing off':<18} {off[0]:>10,.0f} {off[1]:>8.2f} {off[2]:>8.2f}")
    print(f"{'publishing on':<18} {on[0]:>10,.0f} {on[1]:>8.2f} {on[2]:>8.2f}")
    print(f"{'on / off':<18} {on[0] / off[0]:>10.3f} {on[1] / off[1]:>8.3f} {on[2] / off[2]:>8.3f}")


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


async def publisher_rate(
    bootstrap: str, topic: str, events: list[LinkClick], *, sender_thread: bool
) -> float:
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
            sender_thread=sender_thread,
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
    ours = {
        threaded: max(
            asyncio.run(publisher_rate(bootstrap, topic, events, sender_thread=threaded)) for _ in range(2)
        )
        for threaded in (True, False)
    }
    print(f"\npublishing {count:,} events (best of 2)")
    print(f"{'raw aiokafka producer (pre-encoded)':<44} {max(raw):>10,.0f} events/s")
    for threaded, rate in ours.items():
        label = f"KafkaClickPublisher, {'sender thread' if threaded else 'same loop'} (encodes too)"
        print(f"{label:<44} {rate:>10,.0f} events/s  ratio {rate / max(raw):.3f} (target: >= 0.5)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--servers", type=lambda text: text.split(","), default=list(SERVERS),
        help="servers to compare; the first also runs --workers 2 and publishing off (%(default)s)",
    )  # fmt: skip
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument(
        "--variant", type=_variant, action="append", default=[], metavar="LABEL:NAME=VALUE,...",
        help="also measure clickpipe with these settings (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--only-variants",
        action="store_true",
        help="measure the anchors, clickpipe and the variants only (no x2, no publishing off)",
    )
    parser.add_argument(
        "--skip-publisher", action="store_true", help="skip part 2 (the publisher against raw aiokafka)"
    )
    add_broker_option(parser)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench.redirect needs wrk: apt-get install wrk")
    with broker(args.broker) as bootstrap:
        topic = f"bench-redirect-{uuid.uuid4().hex[:6]}"
        asyncio.run(ensure_topics(bootstrap, [TopicSpec(topic, 4)]))
        redirect_part(bootstrap, topic, args)
        if not args.skip_publisher:
            publisher_part(bootstrap, topic, args.events)


def _variant(text: str) -> tuple[str, dict[str, str]]:
    label, _, settings = text.partition(":")
    pairs = [pair.partition("=") for pair in settings.split(",") if pair]
    if not label or any(not sep for _, sep, _ in pairs):
        raise argparse.ArgumentTypeError(f"expected LABEL:NAME=VALUE,...: {text!r}")
    return label, {name: value for name, _, value in pairs}


if __name__ == "__main__":
    main()
