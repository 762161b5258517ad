"""Topic administration against the session's broker: replication factor -1 is the brokers' default."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from clickpipe.admin import default_replication_factor, ensure_topics
from schemas.topics import TopicSpec
from tests.integration.conftest import Broker

pytestmark = pytest.mark.kafka_only(reason="reads broker configuration (DescribeConfigs)")


async def test_replication_factor_minus_one_is_the_brokers_default(broker: Broker) -> None:
    default = await default_replication_factor(broker.bootstrap_servers)
    assert default == broker.replication_factor  # 1 on one node (or a container), 3 on the cluster
    name = f"admin-{uuid.uuid4().hex[:8]}"
    created = await ensure_topics(broker.bootstrap_servers, [TopicSpec(name, 2)], replication_factor=-1)
    assert created == [name]
    assert await _replicas(broker, name) == [default, default]


async def _replicas(broker: Broker, topic: str) -> list[int]:
    """Replicas of each partition of ``topic``, once the brokers' metadata lists both partitions."""
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap_servers, **broker.client_options)
    await admin.start()
    try:
        deadline = time.monotonic() + 30
        while True:
            [described] = await admin.describe_topics([topic])
            partitions = described["partitions"]
            if len(partitions) == 2 or time.monotonic() > deadline:
                return [len(partition["replicas"]) for partition in partitions]
            await asyncio.sleep(0.2)
    finally:
        await admin.close()
