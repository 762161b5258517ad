"""The producer asks the broker whether it can be idempotent, and the broker's answer is the truth."""

from __future__ import annotations

import pytest

from producer.broker_features import supports_idempotence
from tests.integration.conftest import Broker


async def test_apache_kafka_hands_out_producer_ids_and_the_embedded_broker_does_not(broker: Broker) -> None:
    if broker.kind == "external":
        pytest.skip("an external broker's kind is unknown, so there is no expected answer")
    assert await supports_idempotence(broker.bootstrap_servers) is (not broker.embedded)
