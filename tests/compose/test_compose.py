"""The deployment as users run it: ``compose/docker-compose.yml``, profile ``single`` and profile ``cluster``.

Each test brings its stack up with the Compose v2 CLI (``up --build --wait``), creates an account and a key
with the producer's command line and a link through the link API, sends redirects with geo headers through
every producer replica, and compares the analytics API's counts with its own count of the redirects that were
answered. Each tears its stack down and checks that no container, network or volume is left.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError

from schemas.broker_auth import BrokerAuth
from tests.compose.conftest import (
    BROWSER,
    Stack,
    StackFactory,
    Tenant,
    clicks_by_country,
    clicks_on_topic,
    create_link,
    dump,
    new_tenant,
    wait_for_counts,
)

pytestmark = pytest.mark.compose

COUNTRIES = {"DE": "https://example.de/", "FR": "https://example.fr/", "JP": "https://example.jp/"}


def redirect(producer: str, slug: str, country: str, number: int) -> httpx.Response:
    """One visitor's redirect, from a country (the CDN's header), numbered in its Referer."""
    headers = {"CF-IPCountry": country, "User-Agent": BROWSER, "Referer": f"https://ref.example/{number}"}
    return httpx.get(f"{producer}/{slug}", headers=headers, timeout=10)


def test_single_counts_every_redirect_once(stack: StackFactory, figures: list[str]) -> None:
    single = stack("single")
    figures.append(f"compose single: up --build --wait in {single.up():.0f} s")
    producer, worker = single.url("producer", 8000), single.url("worker", 6066)
    tenant = new_tenant(single)
    create_link(producer, tenant, "shoes", COUNTRIES)
    sent: Counter[str] = Counter()
    for number in range(60):
        country = ("DE", "FR", "JP", "US")[number % 4]
        answer = redirect(producer, "shoes", country, number)
        assert answer.status_code == 302
        assert answer.headers["location"] == COUNTRIES.get(country, "https://example.com/")
        sent[country] += 1
    assert wait_for_counts(worker, tenant, dict(sent)) == dict(sent)
    asyncio.run(_only_the_pipeline_gets_in(single.url("kafka", 29092).removeprefix("http://"), single))


async def _only_the_pipeline_gets_in(bootstrap: str, single: Stack) -> None:
    """The broker's published listener: no client without a login, and the producer's login writes clicks
    only (the grants themselves: tests/security/test_kafka_acls.py)."""
    anonymous = AIOKafkaProducer(bootstrap_servers=bootstrap)
    with pytest.raises(KafkaConnectionError):
        await asyncio.wait_for(anonymous.start(), 20)
    await anonymous.stop()
    login = BrokerAuth.scram("producer", single.secrets["KAFKA_PRODUCER_PASSWORD"]).aiokafka_options()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **login)
    await asyncio.wait_for(producer.start(), 20)
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            await asyncio.wait_for(producer.send_and_wait("link-click-aggregates", b"forged", key=b"x"), 20)
    finally:
        await producer.stop()


@dataclass
class Load:
    """Visitors following one link through several producers at a steady pace; every request numbered."""

    producers: list[str]
    slug: str
    visitors: int = 8
    pace: float = 0.02
    answered: dict[int, tuple[str, float, float]] = field(default_factory=dict)  # number -> country, at, took
    failed: dict[int, str] = field(default_factory=dict)  # not answered: no click is owed for them
    unsure: Counter[str] = field(default_factory=Counter)  # of those, the ones given up on, by country
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._visit(n)) for n in range(self.visitors)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    def by_country(self) -> dict[str, int]:
        return dict(Counter(country for country, _, _ in self.answered.values()))

    def p99_ms(self, since: float, until: float) -> float:
        took = sorted(t for _, at, t in self.answered.values() if since <= at <= until)
        return took[min(len(took) - 1, int(len(took) * 0.99))] * 1000 if took else float("nan")

    async def _visit(self, first: int) -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            number = first
            while not self._stop.is_set():
                producer = self.producers[number % len(self.producers)]
                country = ("DE", "FR", "JP")[number % 3]
                headers = {
                    "CF-IPCountry": country,
                    "User-Agent": BROWSER,
                    "Referer": f"https://r.example/{number}",
                }
                began = time.perf_counter()
                try:
                    response = await client.get(f"{producer}/{self.slug}", headers=headers)
                except httpx.TransportError as exc:
                    self.failed[number] = repr(exc)
                    self.unsure[country] += 1  # the producer may have answered (and recorded) it late
                else:
                    if response.status_code == 302:
                        self.answered[number] = (country, time.monotonic(), time.perf_counter() - began)
                    else:
                        self.failed[number] = f"HTTP {response.status_code}"
                number += self.visitors
                await asyncio.sleep(self.pace)


def leaders(stack: Stack, topic: str = "link-clicks") -> Counter[int]:
    """How many of the topic's partitions each broker (node id) leads (asked as admin: nobody else may)."""
    login = (
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\nsasl.jaas.config="
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'username="admin" password="{stack.secrets["KAFKA_ADMIN_PASSWORD"]}";\n'
    )
    described = stack.exec(
        "kafka-1",
        "bash",
        "-c",
        f"umask 077; printf '{login}' > /tmp/admin.properties && /opt/kafka/bin/kafka-topics.sh "
        "--bootstrap-server localhost:9092 --command-config /tmp/admin.properties "
        f"--describe --topic {topic}",
    )
    return Counter(int(leader) for leader in re.findall(r"Leader:\s*(\d+)", described))


def link_answers(producer: str, slug: str) -> int:
    return redirect(producer, slug, "DE", 0).status_code


def wait_for_answer(producer: str, slug: str, status: int, timeout: float = 5.0) -> float:
    """Seconds until the producer answers ``status`` for ``slug`` (polled every 20 ms), or fail."""
    began = time.monotonic()
    while link_answers(producer, slug) != status:
        assert time.monotonic() - began < timeout, f"{producer}/{slug} never answered {status}"
        time.sleep(0.02)
    return time.monotonic() - began


@pytest.mark.timeout(900)  # three brokers up (~100 s), 30 s of load, counts caught up after the failover
async def test_cluster_shares_links_counts_once_and_survives_a_broker_loss(
    stack: StackFactory, figures: list[str]
) -> None:
    cluster = stack("cluster")
    figures.append(f"compose cluster: up --build --wait in {cluster.up():.0f} s")
    producers = [cluster.url("producer", 8000), cluster.url("producer-2", 8000)]
    workers = [cluster.url("worker", 6066), cluster.url("worker-2", 6066)]
    assert sorted(leaders(cluster, "__consumer_offsets")) == [1, 2, 3]  # three brokers share the load
    tenant: Tenant = new_tenant(cluster)

    # A link created through one replica redirects on the other; a change through the other reaches the first.
    boots = create_link(producers[0], tenant, "boots", COUNTRIES)
    assert wait_for_answer(producers[1], "boots", 302) < 1.0
    disable = httpx.patch(
        f"{producers[1]}/api/links/{boots['link_id']}", json={"disabled": True}, headers=tenant.headers
    )
    assert disable.status_code == 200, disable.text
    took = wait_for_answer(producers[0], "boots", 410)
    figures.append(
        f"compose cluster: a link disabled through producer-2 answered 410 on producer in {took:.3f} s"
    )
    assert took < 1.0

    # Redirects through both replicas, then the broker leading most click partitions is killed under load.
    shoes = create_link(producers[1], tenant, "shoes", COUNTRIES)
    wait_for_answer(producers[0], "shoes", 302)
    load = Load(producers, "shoes")
    load.start()
    await asyncio.sleep(10)
    victim = leaders(cluster).most_common(1)[0][0]
    killed_at = time.monotonic()
    await asyncio.to_thread(cluster.compose, "kill", f"kafka-{victim}")
    await asyncio.sleep(20)
    await load.stop()
    want = load.by_country()
    assert sum(want.values()) > 500
    want["DE"] += 1  # the redirect that found "shoes" live on the other replica is a click too
    # On the click topic, every answered redirect once (0 lost; the idempotent producer wrote none twice),
    # at most the ones the client gave up on besides (a request timed out on our side may still have been
    # answered and recorded). A broker loss may delay clicks: a send to the dead leader waits out its
    # request timeout (30 s: a container killed leaves its connections unanswered) before it is retried or
    # spooled, so the topic is read again until they are all there, and the delay is a figure.
    stopped = time.monotonic()
    while True:
        on_topic = await asyncio.to_thread(clicks_on_topic, cluster, str(shoes["link_id"]))
        written = {country: len(set(ids)) for country, ids in on_topic.items()}
        if all(written.get(c, 0) >= want[c] for c in want) or time.monotonic() - stopped > 180:
            break
        await asyncio.sleep(5)
    delayed = time.monotonic() - stopped
    twice = {country: len(ids) - len(set(ids)) for country, ids in on_topic.items()}
    assert sum(twice.values()) == 0, f"clicks written twice to the topic: {dump(twice)}"
    assert all(want[c] <= written.get(c, 0) <= want[c] + load.unsure[c] for c in want), (
        f"on the topic {dump(written)}, answered {dump(want)}, given up on {dump(load.unsure)}"
    )
    # Each written click counted once by the workers through the broker's loss (rows skip what they applied).
    for worker in workers:  # either worker answers for both (each asks the other for its partitions)
        seen = await asyncio.to_thread(wait_for_counts, worker, tenant, written, 180, "shoes")
        if seen != written:
            await asyncio.sleep(5)
            seen = clicks_by_country(worker, tenant, "shoes")
        assert seen == written, (
            f"{worker}: counted {dump(seen)}, on the topic {dump(written)}\n"
            f"{cluster.logs(400, 'worker', 'worker-2')}"
        )
    restarted = {name: cluster.restarts(name) for name in ("producer", "producer-2", "worker", "worker-2")}
    assert sum(restarted.values()) == 0, f"restarted: {restarted}\n{cluster.logs(400, 'worker', 'worker-2')}"
    figures.append(
        f"compose cluster failover (kafka-{victim} killed): {sum(want.values())} redirects answered, "
        f"{len(load.failed)} not, 0 lost, 0 duplicated; redirect p99 {load.p99_ms(0, killed_at):.1f} ms "
        f"before, {load.p99_ms(killed_at, killed_at + 20):.1f} ms in the 20 s after the kill; every click on "
        f"the topic {delayed:.0f} s after the load stopped"
    )
