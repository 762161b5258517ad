"""What the benchmarks share: a broker, realistic clicks, and process measurements."""

from __future__ import annotations

import argparse
import itertools
import os
import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from clickpipe.broker import EmbeddedBroker
from clickpipe.kafka import KafkaCluster
from schemas.broker_auth import exported
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
    with KafkaCluster(1) as kafka, exported(kafka.auth()):  # every client of the run logs in as admin
        print(f"Apache Kafka on {kafka.bootstrap_servers} ({kafka.auth().describe()})", flush=True)
        yield kafka.bootstrap_servers


CONTINENTS = {
    "US": "NA", "CA": "NA", "MX": "NA", "BR": "SA", "AR": "SA", "CL": "SA", "AU": "OC", "NZ": "OC",
    "ZA": "AF", "NG": "AF", "EG": "AF", "JP": "AS", "IN": "AS", "KR": "AS", "CN": "AS", "ID": "AS",
    "IL": "AS", "SG": "AS", "HK": "AS", "TW": "AS", "TR": "AS",
}  # fmt: skip
"""Continents of the countries not in Europe."""

USER_AGENTS = [  # (device, browser, os, weight): a 2026 mix of people's browsers
    ("mobile", "Mobile Safari", "iOS", 24), ("mobile", "Chrome Mobile", "Android", 26),
    ("desktop", "Chrome", "Windows", 18), ("desktop", "Chrome", "Mac OS X", 7),
    ("desktop", "Safari", "Mac OS X", 5), ("desktop", "Edge", "Windows", 5),
    ("desktop", "Firefox", "Windows", 3), ("desktop", "Firefox", "Linux", 1),
    ("mobile", "Samsung Internet", "Android", 4), ("tablet", "Mobile Safari", "iOS", 3),
    ("tablet", "Chrome", "Android", 1), ("other", "Other", "Other", 1), (None, None, None, 2),
]  # fmt: skip
BOTS = [  # (browser, os, bot reason, weight)
    ("Googlebot", "Other", "Googlebot", 30), ("bingbot", "Other", "bingbot", 15),
    ("facebookexternalhit", "Other", "facebookexternalhit", 20), ("Twitterbot", "Other", "Twitterbot", 10),
    ("Slackbot-LinkExpanding", "Other", "Slackbot", 10), ("curl", "Other", "curl", 10),
    (None, None, "no user agent", 5),
]  # fmt: skip
REFERERS = [
    "google.com", "t.co", "facebook.com", "news.ycombinator.com", "reddit.com", "linkedin.com", "bing.com",
    "duckduckgo.com", "instagram.com", "youtube.com", "mail.google.com", "outlook.live.com", "github.com",
    "medium.com", "slack.com", "teams.microsoft.com", "yahoo.com", "baidu.com", "yandex.ru", "substack.com",
]  # fmt: skip
RULE_COUNTRIES = ("DE", "FR", "JP", "BR")
"""Countries with a destination rule on every link (the rest go to the default destination)."""


def realistic_clicks(count: int, links: int = 1_000, seed: int = 1) -> list[LinkClick]:
    """Clicks over ten minutes of event time, with every field of ``link_click.v3`` a producer fills.

    Zipf-like link popularity; 40 countries (10% unknown), each with 3 regions of 2 cities; 8% bots (a
    crawler mix, their own visitor keys); people's device, browser and OS from a browser-share mix (2%
    unknown); 40% direct visits, the rest from 20 referer domains (Zipf-like); destination rules for
    DE, FR, JP and BR; visitors from a pool of ``count // 4`` with Zipf-like repeat visits (each visitor
    keeps its country, city and user agent). Jittered out of order by up to 5 s, 1% two minutes late.
    """
    rng = random.Random(seed)
    names = [f"link-{i:04d}" for i in range(links)]
    weights = [1 / (rank + 1) ** 1.1 for rank in range(links)]
    chosen = rng.choices(names, weights, k=count)
    visitors = [_visitor(rng) for _ in range(max(1, count // 4))]
    visitor_weights = [1 / (rank + 1) ** 0.6 for rank in range(len(visitors))]
    who = rng.choices(visitors, visitor_weights, k=count)
    crawlers = [(rng.getrandbits(64) - (1 << 63), *bot) for bot in BOTS for _ in range(20)]
    crawler_weights = list(itertools.accumulate(bot[-1] for bot in crawlers))
    referer_weights = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(REFERERS))))
    start = datetime.now(UTC).replace(minute=5, second=0, microsecond=0) - timedelta(hours=1)
    span_ms = 10 * 60_000
    clicks = []
    for i, link in enumerate(chosen):
        offset_ms = span_ms * i / count + rng.uniform(-5_000, 5_000)
        if rng.random() < 0.01:
            offset_ms -= 120_000
        key, country, continent, region, city, device, browser, os = who[i]
        is_bot = rng.random() < 0.08
        bot_reason = None
        if is_bot:
            key, browser, os, bot_reason, _ = rng.choices(crawlers, cum_weights=crawler_weights)[0]
            device = "other" if browser else None
        rule = country if country in RULE_COUNTRIES else None
        referer = None if rng.random() < 0.4 else rng.choices(REFERERS, cum_weights=referer_weights)[0]
        clicks.append(
            LinkClick(
                link_id=link,
                account_id=f"acct-{hash(link) % 50}",
                destination=f"https://example.{rule.lower()}/{link}"
                if rule
                else f"https://example.com/{link}",
                timestamp=start + timedelta(milliseconds=max(0.0, offset_ms)),
                country=country,
                continent=continent,
                region=region,
                city=city,
                latitude=rng.uniform(-60, 60),
                longitude=rng.uniform(-180, 180),
                user_agent=f"Mozilla/5.0 ({os}) {browser}" if browser else None,
                referer=f"https://{referer}/" if referer else None,
                referer_domain=referer,
                device=device,
                browser=browser,
                os=os,
                rule=rule,
                is_bot=is_bot,
                bot_reason=bot_reason,
                visitor=key,
            )
        )
    return clicks


def _visitor(
    rng: random.Random,
) -> tuple[int, str | None, str | None, str | None, str | None, str | None, str | None, str | None]:
    """A person: visitor key, country, continent, region, city, device, browser, os."""
    country = None if rng.random() < 0.1 else rng.choice(COUNTRIES)
    device, browser, os, _ = rng.choices(USER_AGENTS, [ua[-1] for ua in USER_AGENTS])[0]
    region = city = continent = None
    if country is not None:
        continent = CONTINENTS.get(country, "EU")
        r = rng.randrange(3)
        region, city = f"{country}-R{r}", f"{country}-R{r}-City{rng.randrange(2)}"
    return rng.getrandbits(64) - (1 << 63), country, continent, region, city, device, browser, os


def peak_rss_mib(pid: int) -> float:
    """Peak resident memory of a running process (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")
