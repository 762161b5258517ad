"""The Apache Kafka manager, against real Kafka processes (needs Java; Maven fetches the jars once)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from clickpipe.admin import ensure_topics
from clickpipe.broker import port_answers
from clickpipe.errors import BrokerStartError
from clickpipe.kafka import KafkaCluster
from schemas.topics import TopicSpec

pytestmark = pytest.mark.kafka_only(reason="starts Apache Kafka processes of its own")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def _roundtrip(kafka: KafkaCluster, topic: str, value: bytes) -> list[bytes]:
    bootstrap, options = kafka.bootstrap_servers, kafka.auth().aiokafka_options()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, **options)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=b"k")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None, **options
    )
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=5_000)
    finally:
        await consumer.stop()
    return [message.value for messages in batches.values() for message in messages]


async def test_a_node_serves_keeps_its_data_across_a_kill_and_stops_with_no_process_left(
    tmp_path: Path,
) -> None:
    with KafkaCluster(1, data_dir=tmp_path / "kafka") as kafka:
        [node] = kafka.nodes
        assert await ensure_topics(kafka.bootstrap_servers, [TopicSpec("t", 2)], auth=kafka.auth()) == ["t"]
        assert await _roundtrip(kafka, "t", b"before") == [b"before"]
        kafka.kill(1)
        assert not kafka.alive(1) and not port_answers(node.host, node.port)
        kafka.restart(1)  # same ports, same log: the record is still there
        assert await _roundtrip(kafka, "t", b"after") == [b"before", b"after"]
        pid = kafka._processes[1].pid
    assert not _alive(pid)
    assert not port_answers(node.host, node.port)
    kafka.stop()  # idempotent


def test_nodes_are_stopped_when_the_block_fails(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), KafkaCluster(1) as kafka:
        pid = kafka._processes[1].pid
        raise RuntimeError("a failing test")
    assert not _alive(pid)
    assert not kafka.data_dir.exists()  # a temporary data dir is removed


def test_a_taken_port_is_a_clear_error_and_leaves_nothing_behind(tmp_path: Path) -> None:
    with KafkaCluster(1) as first:
        second = KafkaCluster(1, port=first.nodes[0].port)
        with pytest.raises(BrokerStartError, match="already in use"):
            second.start()
        assert not second.data_dir.exists()


def test_nodes_die_with_a_killed_parent(tmp_path: Path) -> None:
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from clickpipe.kafka import KafkaCluster\n"
        "k = KafkaCluster(1, data_dir=Path(sys.argv[1])).start()\n"
        "print(k._processes[1].pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "k")], stdout=subprocess.PIPE)
    assert parent.stdout is not None
    pid = int(parent.stdout.readline())
    assert _alive(pid)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    parent.stdout.close()
    deadline = time.monotonic() + 30
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid)


@pytest.mark.cluster
async def test_three_nodes_replicate_and_keep_serving_with_one_down(tmp_path: Path) -> None:
    # The session's cluster is shared by the cluster tests; this one checks the quorum on its own.
    with KafkaCluster(3, data_dir=tmp_path / "three") as cluster:
        await ensure_topics(
            cluster.bootstrap_servers, [TopicSpec("r", 3)], replication_factor=3, auth=cluster.auth()
        )
        cluster.kill(2)
        assert await _roundtrip(cluster, "r", b"x") == [b"x"]  # acks=all, 2 of 3 in sync
