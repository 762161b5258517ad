"""The stream worker's throughput against a raw aiokafka consumer on the same pre-loaded topic.

    python -m bench.stream [--events 200000] [--partitions 4] [--workers 1 2] [--rounds 3]
                           [--broker embedded|kafka] [--guarantee at_least_once|exactly_once]

Pre-loads realistic clicks, then measures, in alternated rounds: a raw aiokafka consumer (the ceiling), the
same plus fastavro decoding and in-memory counting by every dimension with HLL sketches of the visitors
(plain Python's ceiling for the job in one process, ``AnchorCounts``, the anchor), and the clickpipe worker
(`clickpipe worker` processes, one consumer group; one process, then one per core), from the first to the
last event processed (group join excluded). Prints each round, the medians, ratios to the anchor, the
workers' peak RSS, and checks every run's counts are exact.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from statistics import median

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.common import add_broker_option, broker, peak_rss_mib, realistic_clicks
from clickpipe.admin import ensure_topics
from clickpipe.broker import free_port
from schemas.broker_auth import BrokerAuth
from schemas.codec import LinkClickCodec
from schemas.events import LinkClick
from schemas.topics import TopicSpec
from stream_app import native
from stream_app.sketches import Uniques

OPERATOR_KEY = "bench-operator-key-0123456789"  # the bench worker's stats API key


async def preload(
    bootstrap: str, topic: str, count: int, partitions: int, late: float = 0.0
) -> list[LinkClick]:
    clicks = realistic_clicks(count)
    # The share ``late`` of the clicks arrives 1 to 48 hours after it happened (a spool replayed after an
    # outage, a backfill): its event time is that far back, its record sent with the others.
    sent_at = [int(c.timestamp.timestamp() * 1000) for c in clicks]
    rng = random.Random(48)
    clicks = [
        replace(c, timestamp=c.timestamp - timedelta(hours=rng.uniform(1, 48))) if rng.random() < late else c
        for c in clicks
    ]
    await ensure_topics(
        bootstrap,
        [TopicSpec(f"{topic}{suffix}", partitions) for suffix in ("", ".dlq", ".late", ".aggregates")],
    )
    codec = LinkClickCodec()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=20,
        max_batch_size=512 * 1024,
        **BrokerAuth().aiokafka_options(),
    )
    await producer.start()
    try:
        # Each record stamped with its click's time, as the redirect that recorded it would have sent it
        # (the records' timestamps, the producer's clock, move the watermarks).
        futures = [
            await producer.send(topic, codec.encode(c), key=c.key, timestamp_ms=at)
            for c, at in zip(clicks, sent_at, strict=True)
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return clicks


class AnchorCounts:
    """Plain Python doing the worker's job per click: per minute window and link, clicks by the cube of
    dimension values (and bots), and HLL sketches of people's and bots' visitor keys."""

    def __init__(self) -> None:
        self.cells: Counter[tuple[int, str, tuple[str | None, ...]]] = Counter()
        self.bots: Counter[tuple[int, str, tuple[str | None, ...]]] = Counter()
        self.sketches: dict[tuple[int, str, bool], Uniques] = {}

    def add(self, click: LinkClick) -> None:
        ts = int(click.timestamp.timestamp() * 1000)
        key = (
            ts - ts % 60_000,
            click.link_id,
            (
                click.country,
                click.continent,
                click.region,
                click.city,
                click.device,
                click.browser,
                click.os,
                click.referer_domain,
                click.rule,
                click.destination,
            ),
        )
        self.cells[key] += 1
        if click.is_bot:
            self.bots[key] += 1
        if click.visitor is not None:
            sketch_key = (key[0], key[1], click.is_bot)
            sketch = self.sketches.get(sketch_key)
            if sketch is None:
                sketch = self.sketches[sketch_key] = Uniques()
            sketch.add(click.visitor)


async def raw_consumer(bootstrap: str, topic: str, count: int, decode: bool) -> float:
    """events/s of aiokafka getmany (optionally + decode + ``AnchorCounts``), first to last message."""
    codec = LinkClickCodec()
    counts = AnchorCounts()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        **BrokerAuth().aiokafka_options(),
        group_id=f"bench-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    await consumer.start()
    seen = 0
    first = 0.0
    try:
        while seen < count:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for messages in batches.values():
                if not first and messages:
                    first = time.perf_counter()
                seen += len(messages)
                if decode:
                    for message in messages:
                        counts.add(codec.decode(message.value))
        last = time.perf_counter()
    finally:
        await consumer.stop()
    return count / (last - first)


def worker_run(
    bootstrap: str,
    topic: str,
    count: int,
    partitions: int,
    clicks: list[LinkClick],
    *,
    workers: int,
    consistency_check: bool,
    guarantee: str = "at_least_once",
) -> tuple[float, float, bool]:
    """Run ``workers`` worker processes (one consumer group) on the topic; return (events/s, the largest
    peak RSS in MiB, exact)."""
    app_id = f"bench-{uuid.uuid4().hex[:6]}"
    with contextlib.ExitStack() as stack:
        urls = [
            stack.enter_context(_worker(bootstrap, topic, partitions, app_id, consistency_check, guarantee))
            for _ in range(workers)
        ]
        clients = [
            stack.enter_context(
                httpx.Client(base_url=url, headers={"Authorization": f"Bearer {OPERATOR_KEY}"}, timeout=5)
            )
            for url, _ in urls
        ]
        first = last = 0.0
        first_count = 0.0
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            for _, process in urls:
                process.check()
            processed = sum(_processed(client) for client in clients)
            now = time.perf_counter()
            if processed and not first:
                # The first observation already includes one whole batch: count from there on.
                first, first_count = now, processed
            if processed >= count:
                last = now
                break
            time.sleep(0.02)
        # After a rebalance the new owner processes some clicks again (their rows skip them), so `processed`
        # can reach `count` early: the run ends when the counts are exact, or stay wrong for 60 s.
        exact = _exact(clients[0], clicks, report=False)  # one worker's answer gathers every worker's
        settle = time.monotonic() + 60
        while not exact and time.monotonic() < settle:
            time.sleep(0.2)
            exact = _exact(clients[0], clicks, report=False)
            last = time.perf_counter()
        if not exact:
            _exact(clients[0], clicks, report=True)
            for _, process in urls:
                process.report()
        rss = max(peak_rss_mib(process.pid) for _, process in urls)
        return (count - first_count) / (last - first), rss, exact


class _Process:
    def __init__(self, process: subprocess.Popen[bytes], log: Path) -> None:
        self.process, self.log, self.pid = process, log, process.pid

    def report(self) -> None:
        """Print the process's warnings and errors (the log of a run that was not exact)."""
        lines = [
            line for line in self.log.read_text().splitlines() if " WARNING " in line or " ERROR " in line
        ]
        print(
            f"worker {self.pid}: {len(lines)} warnings and errors", *lines[-40:], sep="\n  ", file=sys.stderr
        )

    def check(self) -> None:
        if self.process.poll() is not None:
            text = self.log.read_text()
            first = min((at for at in (text.find("Traceback"), text.find(" ERROR ")) if at >= 0), default=0)
            raise RuntimeError(f"worker exited; its log from the first error:\n{text[first : first + 6000]}")


@contextlib.contextmanager
def _worker(
    bootstrap: str, topic: str, partitions: int, app_id: str, consistency_check: bool, guarantee: str
) -> Iterator[tuple[str, _Process]]:
    """A worker process of consumer group ``app_id``: yields (its URL, the process)."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-worker-") as data:
        env = {
            **os.environ,
            "CLICKPIPE_WORKER_BOOTSTRAP_SERVERS": bootstrap,
            "CLICKPIPE_WORKER_APP_ID": app_id,
            "CLICKPIPE_WORKER_CLICKS_TOPIC": topic,
            "CLICKPIPE_WORKER_DLQ_TOPIC": f"{topic}.dlq",
            "CLICKPIPE_WORKER_LATE_TOPIC": f"{topic}.late",
            "CLICKPIPE_WORKER_AGGREGATES_TOPIC": f"{topic}.aggregates",
            "CLICKPIPE_WORKER_PARTITIONS": str(partitions),
            "CLICKPIPE_WORKER_OPERATOR_KEY": OPERATOR_KEY,
            "CLICKPIPE_WORKER_DATA_DIR": data,
            "CLICKPIPE_WORKER_SESSION_TIMEOUT": "6",
            "CLICKPIPE_WORKER_REBALANCE_TIMEOUT": "6",
            # The embedded broker's end offsets are wrong; Apache Kafka runs with the check on.
            "CLICKPIPE_WORKER_RECOVERY_CONSISTENCY_CHECK": str(consistency_check).lower(),
            "CLICKPIPE_WORKER_LOG_LEVEL": "warning",
            "CLICKPIPE_WORKER_GRACE_SECONDS": "10",
            "CLICKPIPE_WORKER_IDLE_SECONDS": "3600",
            "CLICKPIPE_WORKER_PROCESSING_GUARANTEE": guarantee,
        }
        log = Path(data) / "worker.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "clickpipe",
                    "--log-level",
                    "WARNING",
                    "worker",
                    "--web-port",
                    str(port),
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            yield f"http://127.0.0.1:{port}", _Process(process, log)
        finally:
            process.terminate()
            process.wait(30)


def _processed(client: httpx.Client) -> float:
    try:
        text = client.get("/metrics").text
    except httpx.TransportError:
        return 0.0
    for line in text.splitlines():
        if line.startswith("clickpipe_worker_events_processed_total"):
            return float(line.split()[-1])
    return 0.0


def _exact(client: httpx.Client, clicks: list[LinkClick], *, report: bool) -> bool:
    """The hour windows hold every click (late ones amend their closed windows); ``report``: say how
    it does not."""
    start = min(c.timestamp for c in clicks) - timedelta(hours=2)
    end = max(c.timestamp for c in clicks) + timedelta(hours=2)
    params = {"from": start.isoformat(), "to": end.isoformat(), "granularity": "hour", "limit": "1000"}
    response = client.get("/api/stats/top-links", params=params)
    while response.status_code == 503:  # state still recovering: the answer would not be whole
        time.sleep(0.2)
        response = client.get("/api/stats/top-links", params=params)
    answer = response.json()
    counted = {link["link_id"]: link["total"] for link in answer["links"]}
    expected = Counter(c.link_id for c in clicks)
    if counted != dict(expected):
        if not report:
            return False
        wrong = {k: (counted.get(k), v) for k, v in expected.items() if counted.get(k) != v}
        print(f"not exact: {len(wrong)} links differ, e.g. {list(wrong.items())[:5]}", file=sys.stderr)
        print(f"counted {sum(counted.values())} of {len(clicks)}", file=sys.stderr)
        return False
    by_country = client.get("/api/stats/countries", params=params).json()["countries"]
    countries = {country: counts["total"] for country, counts in by_country.items()}
    if countries != dict(Counter(c.country or "unknown" for c in clicks)):
        if not report:
            return False
        print(f"not exact by country: {countries}", file=sys.stderr)
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1, 2],
        help="worker process counts to measure, each a consumer group of that many processes (default: 1 2; "
        "Faust scales by partitions, a process per core)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternated rounds; medians are printed")
    parser.add_argument(
        "--late",
        type=float,
        default=0.0,
        help="share of clicks that arrive 1 to 48 hours after their event time (they amend closed windows; "
        "default 0: every click in order)",
    )
    parser.add_argument(
        "--guarantee",
        choices=["at_least_once", "exactly_once"],
        default="at_least_once",
        help="the workers' processing guarantee (exactly_once needs Kafka transactions: --broker kafka)",
    )
    add_broker_option(parser)
    args = parser.parse_args()
    if (
        args.guarantee == "exactly_once"
        and args.broker == "embedded"
        and not os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    ):
        parser.error("--guarantee exactly_once needs Kafka transactions: add --broker kafka")
    runs: dict[str, list[float]] = defaultdict(list)
    rss: dict[int, float] = {}
    exact = True
    with broker(args.broker) as bootstrap:
        topic = f"bench-clicks-{uuid.uuid4().hex[:6]}"
        print(
            f"pre-loading {args.events:,} clicks into {topic} ({args.partitions} partitions) ...", flush=True
        )
        clicks = asyncio.run(preload(bootstrap, topic, args.events, args.partitions, args.late))
        for round_ in range(1, args.rounds + 1):
            line = [f"round {round_}:"]
            runs["raw"].append(asyncio.run(raw_consumer(bootstrap, topic, args.events, decode=False)))
            runs["anchor"].append(asyncio.run(raw_consumer(bootstrap, topic, args.events, decode=True)))
            line.append(f"anchor {runs['anchor'][-1]:,.0f}")
            for workers in args.workers:
                rate, peak, ok = worker_run(
                    bootstrap,
                    topic,
                    args.events,
                    args.partitions,
                    clicks,
                    workers=workers,
                    consistency_check=args.broker != "embedded",
                    guarantee=args.guarantee,
                )
                runs[f"workers {workers}"].append(rate)
                rss[workers] = max(rss.get(workers, 0.0), peak)
                exact = exact and ok
                line.append(f"{workers} worker(s) {rate:,.0f}{'' if ok else ' NOT EXACT'}")
            print("  ".join(line), flush=True)
    raw, anchor = median(runs["raw"]), median(runs["anchor"])
    print()
    print(
        f"medians of {args.rounds} rounds, {args.events:,} clicks ({args.late:.0%} 1-48 h late), "
        f"workers {args.guarantee}"
    )
    print(f"{'reader':<50} {'events/s':>10} {'vs anchor':>10} {'peak RSS':>9}")
    print(f"{'raw aiokafka consumer (ceiling)':<50} {raw:>10,.0f} {raw / anchor:>10.3f}")
    print(f"{'anchor: raw consumer + decode + cube + HLL (1 proc)':<50} {anchor:>10,.0f} {1:>10.3f}")
    for workers in args.workers:
        rate = median(runs[f"workers {workers}"])
        label = f"clickpipe worker, {workers} process{'es' if workers > 1 else ''}"
        print(f"{label:<50} {rate:>10,.0f} {rate / anchor:>10.3f} {rss[workers]:>5.0f} MiB")
    print(f"exact (every run): {exact}")
    print(f"worker's hot modules: {native.describe()}")


if __name__ == "__main__":
    main()
