"""A real Kafka-protocol broker for integration tests, and clickpipe processes running against it.

A pytest plugin (``pytest_plugins`` in ``tests/conftest.py``), so ``tests/integration`` and ``tests/security``
share one broker per session.

Which broker (``--broker`` or ``CLICKPIPE_TEST_BROKER``):

- ``embedded``: the embedded broker (Tansu), zero set-up (the default where no Docker engine answers);
- ``kafka``: one real Apache Kafka node (``clickpipe.kafka``, needs Java; Maven fetches the jars once);
- ``cluster``: three real Apache Kafka nodes (replication factor 3, min.insync.replicas 2);
- ``testcontainers``: Apache Kafka 4.4 in a Docker container (``tests.containers``).

``KAFKA_BOOTSTRAP_SERVERS``, when set, wins over all of them. With no broker chosen, a Docker engine that
answers gets the testcontainers broker, and no engine the embedded one. Tests marked ``cluster`` (they kill
brokers) run only with ``--broker cluster`` and say so when skipped. Each test gets its own topics and
consumer group (uuid names), so tests share one broker without seeing each other's data.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest

from clickpipe.admin import ensure_topics
from clickpipe.broker import EmbeddedBroker, free_port
from clickpipe.kafka import KafkaCluster
from clickpipe.kafka_acls import ADMIN, USERS
from clickpipe.process import terminate
from schemas.broker_auth import BrokerAuth, exported
from schemas.topics import TopicSpec
from tests.conftest import broker_kind
from tests.containers import KafkaContainer, docker_answers


class OwnBroker(Protocol):
    """A broker a test starts and stops itself (an outage), of the same kind as the session's."""

    @property
    def bootstrap_servers(self) -> str: ...

    def start(self) -> object: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class Broker:
    """The broker the integration tests run against."""

    bootstrap_servers: str
    kind: str  # "external", "testcontainers", "embedded", "kafka" or "cluster"
    cluster: KafkaCluster | None = None  # the real Kafka nodes, when the tests started them

    @property
    def auth(self) -> BrokerAuth:
        """How the tests log in: ``admin`` on the Kafka nodes the tests start (SASL/SCRAM, ACLs), and on any
        other broker what ``CLICKPIPE_KAFKA_*`` says (PLAINTEXT unless set)."""
        return self.cluster.auth(ADMIN) if self.cluster is not None else BrokerAuth()

    @property
    def client_options(self) -> dict[str, Any]:
        """Keyword arguments that let a test's own aiokafka client in."""
        return self.auth.aiokafka_options()

    @property
    def embedded(self) -> bool:
        """True for the embedded broker, which lacks idempotence and has wrong end offsets."""
        return self.kind == "embedded"

    @property
    def replication_factor(self) -> int:
        """Replicas per partition for the tests' topics."""
        return 3 if self.kind == "cluster" else 1

    def own(self, tmp_path: Path) -> OwnBroker:
        """A new broker of the same kind (not started), for a test that stops and restarts it."""
        if self.kind == "embedded":
            return EmbeddedBroker(port=free_port(), log_file=tmp_path / "own-broker.log")
        if self.kind in ("kafka", "cluster"):
            passwords = {user: self.cluster.auth(user).secret() for user in USERS} if self.cluster else None
            return KafkaCluster(1, data_dir=tmp_path / "own-kafka", port=free_port(), passwords=passwords)
        if self.kind == "testcontainers":
            return KafkaContainer()
        pytest.skip(f"a test of its own broker needs the embedded broker or Kafka, not {self.kind}")


@pytest.fixture(scope="session")
def broker(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A broker for the whole session."""
    kind = broker_kind(request.config)
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield Broker(external, "external")
    elif kind in ("kafka", "cluster"):
        nodes = 3 if kind == "cluster" else 1
        # The tests log in as the cluster's admin: every clickpipe process and client they start, here or as a
        # child, reads CLICKPIPE_KAFKA_*. What the other users may do: tests/security/test_kafka_acls.py.
        with KafkaCluster(nodes, data_dir=tmp_path_factory.mktemp(kind)) as cluster, exported(cluster.auth()):
            yield Broker(cluster.bootstrap_servers, kind, cluster)
    elif kind == "testcontainers" or (kind is None and docker_answers()):
        with KafkaContainer() as kafka:
            yield Broker(kafka.bootstrap_servers, "testcontainers")
    else:
        log = tmp_path_factory.mktemp("broker") / "tansu.log"
        with EmbeddedBroker(log_file=log) as embedded:
            yield Broker(embedded.bootstrap_servers, "embedded")


@dataclass(frozen=True)
class Topics:
    """Per-test topic names."""

    clicks: str
    dlq: str
    partitions: int


@pytest.fixture
async def topics(broker: Broker) -> Topics:
    """Fresh click and dead-letter topics for one test."""
    suffix = uuid.uuid4().hex[:8]
    names = Topics(clicks=f"clicks-{suffix}", dlq=f"clicks-{suffix}.dlq", partitions=4)
    await ensure_topics(
        broker.bootstrap_servers,
        [TopicSpec(names.clicks, names.partitions), TopicSpec(names.dlq, names.partitions)],
        replication_factor=broker.replication_factor,
    )
    return names


@dataclass
class Service:
    """A clickpipe process started by a test."""

    name: str
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def output(self) -> str:
        """What the process printed so far."""
        return self.log.read_text(errors="replace")


@dataclass
class Services:
    """Starts clickpipe commands as real processes and stops them at the end of the test."""

    tmp_path: Path
    started: list[Service] = field(default_factory=list)

    def start(
        self,
        name: str,
        args: list[str],
        env: dict[str, str],
        ready_path: str,
        port: int,
        log_level: str = "WARNING",
    ) -> Service:
        """Run ``clickpipe <args>`` and wait until ``http://127.0.0.1:<port><ready_path>`` answers."""
        log = self.tmp_path / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "clickpipe", "--log-level", log_level, *args],
                env={**os.environ, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        service = Service(name, process, f"http://127.0.0.1:{port}", log)
        self.started.append(service)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"{name} exited with {process.returncode}:\n{service.output()[-5000:]}")
            try:
                if httpx.get(service.url + ready_path, timeout=1).status_code < 500:
                    return service
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        pytest.fail(f"{name} did not answer on {service.url}{ready_path}:\n{service.output()[-5000:]}")

    def stop_all(self) -> None:
        """Stop every started process (SIGTERM, then SIGKILL)."""
        for service in reversed(self.started):
            terminate(service.process, timeout=20)
        self.started.clear()


@pytest.fixture
def services(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Services]:
    """Start clickpipe processes; they are stopped after the test, and their logs shown when it fails."""
    started = Services(tmp_path)
    yield started
    logs = [(s.name, s.output()) for s in started.started]
    started.stop_all()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        for name, text in logs:
            sys.stderr.write(f"\n----- {name} log -----\n{text[-8000:]}\n")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep each phase's report on the test item, so fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


CLUSTER_SECRET = "test-cluster-secret-0123456789abcdef"  # noqa: S105  # a test credential: peers sign with it
OPERATOR_KEY = "test-operator-key-0123456789"  # workers started by start_worker accept it
OPERATOR = {"Authorization": f"Bearer {OPERATOR_KEY}"}
"""Headers that let a test read every account's counts from a worker's stats API."""

StartWorker = Callable[..., Service]
StartProducer = Callable[..., Service]


@pytest.fixture
def start_worker(broker: Broker, topics: Topics, services: Services, tmp_path: Path) -> StartWorker:
    """Start a stream worker on this test's topics; returns a function taking optional settings."""
    app_id = f"worker-{uuid.uuid4().hex[:8]}"

    def start(name: str = "worker", **settings: str) -> Service:
        port = free_port()
        env = {
            "CLICKPIPE_WORKER_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "CLICKPIPE_WORKER_APP_ID": app_id,
            "CLICKPIPE_WORKER_CLICKS_TOPIC": topics.clicks,
            "CLICKPIPE_WORKER_DLQ_TOPIC": topics.dlq,
            "CLICKPIPE_WORKER_PARTITIONS": str(topics.partitions),
            "CLICKPIPE_WORKER_DATA_DIR": str(tmp_path / name),
            "CLICKPIPE_WORKER_SESSION_TIMEOUT": "6",
            "CLICKPIPE_WORKER_HEARTBEAT_INTERVAL": "1",
            "CLICKPIPE_WORKER_REBALANCE_TIMEOUT": "6",
            "CLICKPIPE_WORKER_RECOVERY_CONSISTENCY_CHECK": str(not broker.embedded).lower(),
            "CLICKPIPE_WORKER_REPLICATION_FACTOR": str(broker.replication_factor),
            "CLICKPIPE_WORKER_LOG_LEVEL": os.environ.get("CLICKPIPE_TEST_WORKER_LOG_LEVEL", "warning"),
            "CLICKPIPE_WORKER_OPERATOR_KEY": OPERATOR_KEY,
            "CLICKPIPE_WORKER_CLUSTER_SECRET": CLUSTER_SECRET,
            **{f"CLICKPIPE_WORKER_{key.upper()}": value for key, value in settings.items()},
        }
        return services.start(name, ["worker", "--web-port", str(port)], env, "/healthz", port)

    return start


API_KEY = "cpk_test-demo-account-key"  # a test credential for the demo account
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"


@pytest.fixture
def start_producer(broker: Broker, topics: Topics, services: Services, tmp_path: Path) -> StartProducer:
    """Start the redirect service on this test's click topic, with the demo account (key ``API_KEY``)."""

    def start(name: str = "producer", log_level: str = "WARNING", **settings: str) -> Service:
        port = free_port()
        env = {
            "CLICKPIPE_PRODUCER_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "CLICKPIPE_PRODUCER_CLICKS_TOPIC": topics.clicks,
            "CLICKPIPE_PRODUCER_DATA_DIR": str(tmp_path / name),
            "CLICKPIPE_PRODUCER_DEMO_LINK": "true",
            "CLICKPIPE_PRODUCER_DEMO_API_KEY": API_KEY,
            **{f"CLICKPIPE_PRODUCER_{key.upper()}": value for key, value in settings.items()},
        }
        return services.start(name, ["producer", "--port", str(port)], env, "/readyz", port, log_level)

    return start


CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture
def browser() -> Iterator[Any]:
    """Headless Chromium through chromedriver (both from Debian); skipped where they are missing, unless
    CLICKPIPE_REQUIRE_BROWSER is set (CI sets it)."""
    if not (CHROMIUM and CHROMEDRIVER):
        if os.environ.get("CLICKPIPE_REQUIRE_BROWSER"):
            pytest.fail("chromium and chromedriver are required: apt-get install chromium chromium-driver")
        pytest.skip("needs chromium and chromedriver (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--window-size=1400,1000",
    ):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def sign_in(driver: Any, key: str) -> None:
    """Type ``key`` into the dashboard's API key form and submit it."""
    from selenium.webdriver.common.by import By

    field = driver.find_element(By.ID, "api-key")
    field.send_keys(key)
    driver.find_element(By.CSS_SELECTOR, "#login button[type=submit]").click()


def dashboard_top_n() -> int:
    """The dashboard table's size (``TOP_N`` in dashboard.js): what the tests ask the API for to compare."""
    from stream_app.dashboard import dashboard_file

    source = dashboard_file("/static/dashboard.js")[0].decode()
    match = re.search(r"^const TOP_N = (\d+);$", source, re.MULTILINE)
    assert match is not None, "dashboard.js no longer declares TOP_N"
    return int(match.group(1))


def wait(browser: Any, script: str, timeout: float = 30) -> Any:
    """Poll ``script`` in the page until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = browser.execute_script(script)
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"never true: {script}")


async def wait_async(browser: Any, script: str, timeout: float = 30) -> Any:
    """``wait`` for tests whose worker runs on the same event loop: polls without blocking it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = browser.execute_script(script)
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"never true: {script}")


def refreshed_after(browser: Any, action: Callable[[], object]) -> None:
    """Run ``action`` and wait for the dashboard's next completed refresh."""
    before = browser.execute_script("return document.body.dataset.refreshed || '0'")
    action()
    wait(browser, f"return (document.body.dataset.refreshed || '0') !== '{before}'")


def choose(browser: Any, element_id: str, value: str) -> None:
    """Pick ``value`` in the dashboard's ``<select id=element_id>``."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element(By.ID, element_id)).select_by_value(value)


async def get_stats(
    client: httpx.AsyncClient, path: str, params: dict[str, str], timeout: float = 60
) -> httpx.Response:
    """GET a worker's stats route, waiting out its "not whole yet" 503s (partitions moving between workers
    or being recovered: the worker then names them); any other answer is returned as it is."""
    deadline = time.monotonic() + timeout
    while True:
        response = await client.get(path, params=params)
        moving = response.status_code == 503 and "partitions" in response.json()
        if not moving or time.monotonic() > deadline:
            return response
        await asyncio.sleep(0.2)
