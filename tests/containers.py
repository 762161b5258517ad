"""Apache Kafka in a Docker container for the integration tests (testcontainers).

The container runs the image compose deploys (``apache/kafka:4.4.0``, KRaft, broker and controller in one
process), configured the way compose configures it, through testcontainers' generic ``DockerContainer``: that
class is the same in every testcontainers 4.x, where the Kafka module moved (``testcontainers.kafka`` is
deprecated since 4.15 for ``testcontainers.community.kafka``) and drives Confluent's start-up scripts, which
the Apache image does not have.

Its listener is published on the host's loopback only, at a port chosen before start, so the broker can
advertise the address clients reach it on.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from clickpipe.broker import free_port

KAFKA_IMAGE = os.environ.get("CLICKPIPE_TEST_KAFKA_IMAGE", "apache/kafka:4.4.0")
READY_TIMEOUT = 120.0


def docker_answers() -> bool:
    """True when a Docker engine answers a ping (on DOCKER_HOST's or the default Unix socket)."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        return True  # a remote engine was named on purpose: let testcontainers use it
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(3)
            sock.connect(host.removeprefix("unix://"))
            sock.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
            reply = sock.recv(64)
    except OSError:
        return False
    return reply.startswith(b"HTTP/1.") and b" 200 " in reply


def _answers(bootstrap_servers: str) -> bool:
    """``_metadata_answers`` on a thread of its own, so callers may have an event loop running."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, _metadata_answers(bootstrap_servers)).result()


async def _metadata_answers(bootstrap_servers: str) -> bool:
    """True when the broker answers a metadata request (Docker's proxy accepts connections before it does)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=3_000)
    try:
        await admin.start()
        await admin.list_topics()
    except (KafkaError, OSError):
        return False
    finally:
        await admin.close()
    return True


def kafka_environment(port: int) -> dict[str, str]:
    """The image's settings for one combined node advertising ``127.0.0.1:port``: compose's ``kafka``, set
    as ``clickpipe.kafka.node_properties`` sets a real node."""
    return {
        "CLUSTER_ID": "clickpipe-tests-000000",
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        # Clients on the host reach PLAINTEXT at the published port; the broker reaches itself (transaction
        # markers, for one) on BROKER, inside the container, where the host's port means nothing.
        "KAFKA_LISTENERS": "PLAINTEXT://:9092,BROKER://:9094,CONTROLLER://:9093",
        "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://127.0.0.1:{port},BROKER://localhost:9094",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "PLAINTEXT:PLAINTEXT,BROKER:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
        "KAFKA_INTER_BROKER_LISTENER_NAME": "BROKER",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS": "3",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": "1",
        "KAFKA_DEFAULT_REPLICATION_FACTOR": "1",
        "KAFKA_MIN_INSYNC_REPLICAS": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",  # as on clickpipe.kafka nodes
        "KAFKA_NUM_NETWORK_THREADS": "2",
        "KAFKA_NUM_IO_THREADS": "2",
        "KAFKA_LOG_CLEANER_DEDUPE_BUFFER_SIZE": "2097152",
        "KAFKA_HEAP_OPTS": "-Xms128m -Xmx512m",
    }


class KafkaContainer:
    """One Apache Kafka node in a container; ``start`` after ``stop`` gives a new, empty one on the same port
    (as the embedded broker's restart does)."""

    def __init__(self, port: int | None = None, image: str = KAFKA_IMAGE) -> None:
        self.port = port or free_port()
        self.image = image
        self._container: object | None = None

    @property
    def bootstrap_servers(self) -> str:
        """Where clients reach the broker."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> KafkaContainer:
        """Start the container and wait until the broker answers a metadata request."""
        from testcontainers.core.container import DockerContainer

        container = DockerContainer(self.image)
        # docker-py's form for a host address and port (with_bind_ports takes a port only: all interfaces)
        container.ports["9092/tcp"] = ("127.0.0.1", self.port)
        for name, value in kafka_environment(self.port).items():
            container.with_env(name, value)
        container.start()
        self._container = container
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while not _answers(self.bootstrap_servers):
            if time.monotonic() > deadline:
                raise TimeoutError(f"Kafka in {self.image} did not answer on {self.bootstrap_servers}")
            time.sleep(0.5)

    def stop(self) -> None:
        """Remove the container (idempotent)."""
        container, self._container = self._container, None
        if container is not None:
            container.stop()  # type: ignore[attr-defined]  # testcontainers' stop removes it

    def __enter__(self) -> KafkaContainer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
