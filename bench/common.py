"""What the benchmarks share: a broker, realistic clicks, and process measurements."""

from __future__ import annotations

import argparse
import os
import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from clickpipe.broker import EmbeddedBroker
from clickpipe.kafka import KafkaCluster
from schemas.events import LinkClick

COUNTRIES = [
    "US", "DE", "FR", "GB", "JP", "BR", "IN", "CA", "AU", "ES", "IT", "NL", "SE", "PL", "MX", "KR",
    "CN", "RU", "TR", "ID", "AR", "ZA", "NG", "EG", "CH", "AT", "BE", "DK", "NO", "FI", "IE", "PT",
    "CZ", "GR", "IL", "SG", "HK", "TW", "NZ", "CL",
]  # fmt: skip


BROKERS = ("embedded", "kafka")


def add_broker_option(parser: argparse.ArgumentParser) -> None:
    """``--broker``: which broker the benchmark runs on."""
    parser.add_argument(
        "--broker",
        choices=BROKERS,
        default="embedded",
        help="embedded (Tansu, in memory) or kafka (one Apache Kafka node, started for the run); "
        "KAFKA_BOOTSTRAP_SERVERS wins over it (default: %(default)s)",
    )


@contextmanager
def broker(kind: str = "embedded") -> Iterator[str]:
    """Yield bootstrap servers: ``KAFKA_BOOTSTRAP_SERVERS`` if set, else a fresh broker of ``kind``."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    if kind == "embedded":
        with EmbeddedBroker() as embedded:
            yield embedded.bootstrap_servers
        return
    with KafkaCluster(1) as kafka:
        print(f"Apache Kafka on {kafka.bootstrap_servers}", flush=True)
        yield kafka.bootstrap_servers


def realistic_clicks(count: int, links: int = 1_000, seed: int = 1) -> list[LinkClick]:
    """Clicks over ten minutes of event time: Zipf-like link popularity, 40 countries (10% unknown), 8% bots,
    jittered out of order by up to 5 s, and 1% arriving two minutes late."""
    rng = random.Random(seed)
    names = [f"link-{i:04d}" for i in range(links)]
    weights = [1 / (rank + 1) ** 1.1 for rank in range(links)]
    chosen = rng.choices(names, weights, k=count)
    start = datetime.now(UTC).replace(minute=5, second=0, microsecond=0) - timedelta(hours=1)
    span_ms = 10 * 60_000
    clicks = []
    for i, link in enumerate(chosen):
        offset_ms = span_ms * i / count + rng.uniform(-5_000, 5_000)
        if rng.random() < 0.01:
            offset_ms -= 120_000
        clicks.append(
            LinkClick(
                link_id=link,
                account_id=f"acct-{hash(link) % 50}",
                destination=f"https://example.com/{link}",
                timestamp=start + timedelta(milliseconds=max(0.0, offset_ms)),
                country=None if rng.random() < 0.1 else rng.choice(COUNTRIES),
                latitude=rng.uniform(-60, 60),
                longitude=rng.uniform(-180, 180),
                user_agent="Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120 Safari/537.36",
                referer="https://news.example.org/",
                is_bot=rng.random() < 0.08,
            )
        )
    return clicks


def peak_rss_mib(pid: int) -> float:
    """Peak resident memory of a running process (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")
