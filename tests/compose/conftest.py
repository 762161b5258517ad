"""Compose stacks for the deployment tests: ``compose/docker-compose.yml`` brought up with the Compose v2 CLI
under a project name of the test's own, and torn down with its volumes and network afterwards.

The tests need a Docker engine that answers and the ``docker compose`` plugin; without them they are skipped
with the reason (``CLICKPIPE_REQUIRE_COMPOSE=1``, which CI sets, makes that a failure). Traffic from the host
goes only to 127.0.0.1, to ports Docker picks (every host port in the file is left empty here).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from clickpipe.broker import free_port
from tests.containers import docker_answers

COMPOSE_FILE = Path(__file__).resolve().parents[2] / "compose" / "docker-compose.yml"
UP_TIMEOUT = 600


def _compose_missing() -> str | None:
    """Why compose stacks cannot run here, or None when they can."""
    if shutil.which("docker") is None:
        return "needs the docker CLI"
    if not docker_answers():
        return "needs a Docker engine (DOCKER_HOST, or /var/run/docker.sock)"
    version = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, check=False)
    if version.returncode != 0:
        return "needs the Compose v2 CLI plugin (docker compose)"
    return None


@pytest.fixture(scope="session")
def compose_available() -> None:
    """Skip (or, under CLICKPIPE_REQUIRE_COMPOSE, fail) where compose stacks cannot run."""
    missing = _compose_missing()
    if missing is None:
        return
    if os.environ.get("CLICKPIPE_REQUIRE_COMPOSE"):
        pytest.fail(f"compose tests are required here but cannot run: {missing}")
    pytest.skip(missing)


@dataclass
class Stack:
    """One compose project: ``compose/docker-compose.yml`` with one profile, under a name of its own."""

    project: str
    profile: str
    env_file: Path
    secrets: dict[str, str]

    def compose(
        self, *args: str, timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run ``docker compose <args>`` on this project."""
        command = ["docker", "compose", "-f", str(COMPOSE_FILE), "-p", self.project]
        command += ["--env-file", str(self.env_file), "--profile", self.profile, *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"docker compose {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done

    def up(self) -> float:
        """Build what changed and start every service, waiting until all are healthy; returns seconds."""
        began = time.monotonic()
        done = self.compose("up", "-d", "--build", "--wait", timeout=UP_TIMEOUT, check=False)
        if done.returncode != 0:
            raise AssertionError(f"up failed:\n{done.stderr[-3000:]}\n{self.logs()}")
        return time.monotonic() - began

    def down(self) -> None:
        """Remove the project's containers, network and volumes."""
        self.compose("down", "--volumes", "--remove-orphans", "--timeout", "10", timeout=180, check=False)

    def url(self, service: str, port: int) -> str:
        """The host address (127.0.0.1) a service's container port is published on."""
        published = self.compose("port", service, str(port)).stdout.strip()
        host, _, host_port = published.rpartition(":")
        assert host == "127.0.0.1", f"{service}:{port} is published on {host}, not on loopback only"
        return f"http://127.0.0.1:{host_port}"

    def exec(self, service: str, *command: str) -> str:
        """Run a command in the service's container; returns what it printed on stdout."""
        return self.compose("exec", "-T", service, *command).stdout

    def container(self, service: str) -> str:
        """The container id of a service (its one replica)."""
        return self.compose("ps", "-q", service).stdout.strip()

    def restarts(self, service: str) -> int:
        """How often the engine restarted the service's container (its restart policy)."""
        out = subprocess.run(
            ["docker", "inspect", "-f", "{{.RestartCount}}", self.container(service)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return int(out.strip())

    def logs(self, tail: int = 60, *services: str) -> str:
        """The last lines of the services' logs (all when none is named), for a failure's report."""
        return self.compose("logs", "--no-color", "--tail", str(tail), *services, check=False).stdout

    def leftovers(self) -> list[str]:
        """Containers, networks and volumes of this project still present (after ``down`` there are none)."""
        label = f"label=com.docker.compose.project={self.project}"
        found = []
        for kind in ("container", "network", "volume"):
            listing = ["docker", kind, "ls", "-q", "--filter", label]
            if kind == "container":
                listing.insert(3, "-a")
            out = subprocess.run(listing, capture_output=True, text=True, check=False).stdout.split()
            found += [f"{kind} {name}" for name in out]
        return found


StackFactory = Callable[[str], Stack]


@pytest.fixture
def stack(compose_available: None, tmp_path: Path) -> Iterator[StackFactory]:
    """Bring up ``compose/docker-compose.yml`` with a profile; down with its volumes afterwards, checked."""
    made: list[Stack] = []

    def make(profile: str) -> Stack:
        values = {
            "CLICKPIPE_DB_PASSWORD": secrets.token_hex(16),
            "CLICKPIPE_CLUSTER_SECRET": secrets.token_hex(24),
            "CLICKPIPE_OPERATOR_KEY": secrets.token_hex(24),
            "KAFKA_ADMIN_PASSWORD": secrets.token_hex(16),
            "KAFKA_PRODUCER_PASSWORD": secrets.token_hex(16),
            "KAFKA_WORKER_PASSWORD": secrets.token_hex(16),
        }
        ports = {
            "PRODUCER_HOST_PORT": "",
            "PRODUCER_2_HOST_PORT": "",
            "WORKER_HOST_PORT": "",
            "WORKER_2_HOST_PORT": "",
            "KAFKA_HOST_PORT": str(free_port()),
        }
        env_file = tmp_path / f"{profile}.env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in {**values, **ports}.items()))
        new = Stack(f"cptest-{profile}-{uuid.uuid4().hex[:6]}", profile, env_file, values)
        made.append(new)
        return new

    yield make
    for each in made:
        each.down()
        assert each.leftovers() == [], f"compose down left {each.leftovers()}"


BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"


@dataclass(frozen=True)
class Tenant:
    """An account of a stack, its API key, and the headers that carry it."""

    account_id: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def new_tenant(stack: Stack, name: str = "acme") -> Tenant:
    """Create an account and an API key with the producer's command line, as the compose README shows."""
    account = re.search(r"account (\S+)", stack.exec("producer", "clickpipe", "accounts", "create", name))
    assert account is not None
    key = stack.exec("producer", "clickpipe", "keys", "create", account.group(1)).strip()
    assert key.startswith("cpk_"), key
    return Tenant(account.group(1), key)


def create_link(producer: str, tenant: Tenant, slug: str, countries: dict[str, str]) -> dict[str, object]:
    """Create a link through a producer's link API."""
    body = {"slug": slug, "default_destination": "https://example.com/", "country_destinations": countries}
    response = httpx.post(f"{producer}/api/links", json=body, headers=tenant.headers, timeout=10)
    assert response.status_code == 201, response.text
    link: dict[str, object] = response.json()
    return link


def clicks_by_country(worker: str, tenant: Tenant, link: str | None = None) -> dict[str, int]:
    """The tenant's clicks (of one link, by its slug, when given) of the last 24 hours by country, from a
    worker's analytics API."""
    params = {"groupBy": "countries", "bots": "all", "interval": "24h", **({"link": link} if link else {})}
    try:
        response = httpx.get(f"{worker}/api/analytics", params=params, headers=tenant.headers, timeout=30)
    except httpx.TransportError:  # a worker restarting (its restart policy): not whole yet
        return {}
    if response.status_code == 503:  # partitions moving between workers: not whole yet
        return {}
    assert response.status_code == 200, response.text
    return {row["country"]: row["clicks"] for row in response.json()["data"]}


def wait_for_counts(
    worker: str, tenant: Tenant, want: dict[str, int], timeout: float = 90, link: str | None = None
) -> dict[str, int]:
    """Poll the analytics API until it answers ``want`` (returned), or the last answer after ``timeout``."""
    deadline = time.monotonic() + timeout
    seen = clicks_by_country(worker, tenant, link)
    while seen != want and time.monotonic() < deadline:
        time.sleep(0.5)
        seen = clicks_by_country(worker, tenant, link)
    return seen


def dump(value: object) -> str:
    return json.dumps(value, sort_keys=True)


# Read inside a worker's container (the brokers of "cluster" publish no port): every click of one link on the
# click topic, from the start to the end offsets it finds, as {country: [event ids]}.
_READ_TOPIC = """
import asyncio, collections, json, sys
from aiokafka import AIOKafkaConsumer
from schemas.broker_auth import BrokerAuth
from schemas.codec import LinkClickCodec

async def main(link_id):
    consumer = AIOKafkaConsumer(  # no group: every partition, from the start, as the worker's user
        "link-clicks", bootstrap_servers="kafka:9092", auto_offset_reset="earliest", enable_auto_commit=False,
        **BrokerAuth().aiokafka_options(),
    )
    await consumer.start()
    try:
        while not consumer.assignment():
            await asyncio.sleep(0.1)
        parts = sorted(consumer.assignment())
        ends = await consumer.end_offsets(parts)
        codec, found = LinkClickCodec(), collections.defaultdict(list)
        while [p for p in parts if await consumer.position(p) < ends[p]]:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for record in records:
                    click = codec.decode(record.value)
                    if click.link_id == link_id:
                        found[click.country].append(click.event_id)
        print(json.dumps(found))
    finally:
        await consumer.stop()

asyncio.run(main(sys.argv[1]))
"""


def clicks_on_topic(stack: Stack, link_id: str) -> dict[str, list[str]]:
    """Every click of ``link_id`` on the stack's click topic, as {country: event ids} (duplicates kept)."""
    found: dict[str, list[str]] = json.loads(stack.exec("worker", "python", "-c", _READ_TOPIC, link_id))
    return found
