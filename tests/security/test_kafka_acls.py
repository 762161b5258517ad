"""The broker lets in only the pipeline: on the Apache Kafka that ``clickpipe broker --kind kafka`` and ``up
--broker kafka`` start, a client without credentials cannot produce, consume or join a group, and each of the
pipeline's users can do its own part only (the producer cannot read clicks or forge aggregates; the worker
cannot write clicks or join another group). That the pipeline runs on these grants is shown end to end by
``tests/integration/clickpipe/test_up.py`` (``up --broker kafka``)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    TopicAuthorizationFailedError,
)

from clickpipe.admin import ensure_topics
from clickpipe.kafka import KafkaCluster
from clickpipe.kafka_acls import ADMIN, PRODUCER, WORKER, WORKER_APP_ID
from schemas.broker_auth import BrokerAuth
from schemas.topics import AGGREGATES, CLICKS, TopicSpec, pipeline_topics

pytestmark = pytest.mark.kafka_only(reason="starts a secured Apache Kafka node of its own")

WAIT = 20  # seconds for a refused operation to come back refused, not hang


@pytest.fixture(scope="module")
def kafka() -> Iterator[KafkaCluster]:
    with KafkaCluster(1) as cluster:  # secured, as the commands start it
        asyncio.run(ensure_topics(cluster.bootstrap_servers, pipeline_topics(), auth=cluster.auth(ADMIN)))
        yield cluster


def _options(kafka: KafkaCluster, user: str | None) -> dict[str, Any]:
    return (kafka.auth(user) if user else BrokerAuth(security_protocol="PLAINTEXT")).aiokafka_options()


@pytest.fixture
async def clicks_sent(kafka: KafkaCluster) -> AsyncIterator[bytes]:
    """One click record written by the producer user (which is allowed)."""
    value = uuid.uuid4().bytes
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, **_options(kafka, PRODUCER))
    await producer.start()
    try:
        await asyncio.wait_for(producer.send_and_wait(CLICKS, value, key=b"link"), WAIT)
    finally:
        await producer.stop()
    yield value


async def _read(
    kafka: KafkaCluster, user: str | None, group: str | None, want: bytes | None = None
) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        CLICKS,
        bootstrap_servers=kafka.bootstrap_servers,
        group_id=group,
        auto_offset_reset="earliest",
        **_options(kafka, user),
    )
    values: list[bytes] = []
    try:
        await asyncio.wait_for(consumer.start(), WAIT)
        async with asyncio.timeout(WAIT):
            while want is None or want not in values:
                batches = await consumer.getmany(timeout_ms=500)
                values += [m.value for messages in batches.values() for m in messages if m.value is not None]
                if want is None and values:
                    break
    finally:
        await consumer.stop()
    return values


async def _write(kafka: KafkaCluster, user: str | None, topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, **_options(kafka, user))
    try:
        await asyncio.wait_for(producer.start(), WAIT)
        await asyncio.wait_for(producer.send_and_wait(topic, b"forged", key=b"link"), WAIT)
    finally:
        await producer.stop()


async def test_a_client_without_credentials_cannot_produce_consume_or_join_a_group(
    kafka: KafkaCluster, clicks_sent: bytes
) -> None:
    # The only listener speaks SASL: a client that does not log in is disconnected before any request.
    with pytest.raises(KafkaConnectionError):
        await _write(kafka, None, CLICKS)
    with pytest.raises(KafkaConnectionError):
        await _read(kafka, None, group=None)
    with pytest.raises(KafkaConnectionError):
        await _read(kafka, None, group=WORKER_APP_ID)
    wrong = BrokerAuth.scram(PRODUCER, "not-the-password").aiokafka_options()
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, **wrong)
    with pytest.raises(KafkaError):
        await asyncio.wait_for(producer.start(), WAIT)
    await producer.stop()


async def test_the_producer_writes_clicks_and_can_neither_read_them_nor_forge_aggregates(
    kafka: KafkaCluster, clicks_sent: bytes
) -> None:
    with pytest.raises(TopicAuthorizationFailedError):
        await _write(kafka, PRODUCER, AGGREGATES)
    with pytest.raises((TopicAuthorizationFailedError, GroupAuthorizationFailedError)):
        await _read(kafka, PRODUCER, group=WORKER_APP_ID)
    with pytest.raises(TopicAuthorizationFailedError):
        await _read(kafka, PRODUCER, group=None)


async def test_the_worker_reads_clicks_in_its_group_and_cannot_write_them_or_use_another_group(
    kafka: KafkaCluster, clicks_sent: bytes
) -> None:
    assert clicks_sent in await _read(kafka, WORKER, group=WORKER_APP_ID, want=clicks_sent)
    with pytest.raises(TopicAuthorizationFailedError):
        await _write(kafka, WORKER, CLICKS)
    with pytest.raises(GroupAuthorizationFailedError):
        await _read(kafka, WORKER, group="someone-elses-group")
    await _write(kafka, WORKER, AGGREGATES)  # its own output: allowed


async def test_with_tls_clients_log_in_over_tls_only_and_check_the_brokers_certificate(
    tmp_path: Path,
) -> None:
    with KafkaCluster(1, data_dir=tmp_path / "tls", tls=True) as cluster:
        bootstrap = cluster.bootstrap_servers
        admin = cluster.auth(ADMIN)
        assert admin.security_protocol == "SASL_SSL" and admin.ssl_cafile is not None
        await ensure_topics(bootstrap, [TopicSpec(CLICKS, 1)], auth=admin)
        login = cluster.auth(PRODUCER)
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **login.aiokafka_options())
        await asyncio.wait_for(producer.start(), WAIT)
        try:
            await asyncio.wait_for(producer.send_and_wait(CLICKS, b"over tls", key=b"link"), WAIT)
        finally:
            await producer.stop()
        # The same login without TLS is not spoken to; with TLS but without the CA, the certificate fails.
        plain = BrokerAuth.scram(PRODUCER, login.secret()).aiokafka_options()
        untrusted = BrokerAuth(
            security_protocol="SASL_SSL", username=PRODUCER, password=login.password
        ).aiokafka_options()
        for options in (plain, untrusted):
            client = AIOKafkaProducer(bootstrap_servers=bootstrap, **options)
            with pytest.raises((KafkaConnectionError, TimeoutError)):
                await asyncio.wait_for(client.start(), WAIT)
            await client.stop()
