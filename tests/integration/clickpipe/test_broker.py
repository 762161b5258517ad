"""The embedded broker manager, against the real binary."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from clickpipe.admin import ensure_topics
from clickpipe.broker import EmbeddedBroker, port_answers
from clickpipe.errors import PortInUseError
from schemas.topics import TopicSpec


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_broker_serves_kafka_and_stops_cleanly() -> None:
    with EmbeddedBroker() as broker:
        auth = broker.auth(
            "admin"
        )  # PLAINTEXT, whatever CLICKPIPE_KAFKA_* the session has (a secured Kafka's)
        assert await ensure_topics(broker.bootstrap_servers, [TopicSpec("t", 2)], auth=auth) == ["t"]
        assert await ensure_topics(broker.bootstrap_servers, [TopicSpec("t", 2)], auth=auth) == []
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
        await producer.start()
        try:
            await producer.send_and_wait("t", b"hello", key=b"k")
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            "t", bootstrap_servers=broker.bootstrap_servers, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            message = await consumer.getone()
        finally:
            await consumer.stop()
        assert (message.key, message.value) == (b"k", b"hello")
    assert not broker.running
    assert not port_answers(broker.host, broker.port)
    broker.stop()  # idempotent


def test_broker_is_stopped_when_the_block_fails() -> None:
    with pytest.raises(RuntimeError), EmbeddedBroker() as broker:
        raise RuntimeError("test failure")
    assert not broker.running
    assert not port_answers(broker.host, broker.port)


def test_port_in_use_is_a_clear_error() -> None:
    with EmbeddedBroker() as first, pytest.raises(PortInUseError) as caught:
        EmbeddedBroker(port=first.port).start()
    assert (caught.value.what, caught.value.port) == ("broker", first.port)


def test_broker_dies_with_a_killed_parent(tmp_path) -> None:
    script = (
        "import sys, time\n"
        "from clickpipe.broker import EmbeddedBroker\n"
        "b = EmbeddedBroker().start()\n"
        "print(b.port, b.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    assert parent.stdout is not None
    port, pid = (int(part) for part in parent.stdout.readline().split())
    assert _pid_alive(pid)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    parent.stdout.close()
    deadline = time.monotonic() + 10
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _pid_alive(pid)
    assert not port_answers("127.0.0.1", port)
