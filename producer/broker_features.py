"""What the Kafka cluster behind the producer supports, asked of the broker itself."""

from __future__ import annotations

import asyncio
import logging

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError, NoError, for_code
from aiokafka.protocol.transaction import InitProducerIdRequest

from schemas.broker_auth import BrokerAuth

log = logging.getLogger(__name__)

_RETRY_SECONDS = 0.5


async def supports_idempotence(
    bootstrap_servers: str, wait_seconds: float = 30.0, auth: BrokerAuth | None = None
) -> bool:
    """Return True when the broker hands out producer ids (``InitProducerId``), as Apache Kafka does.

    The embedded broker (Tansu) answers ``InitProducerId`` with an error, and an idempotent producer would
    then retry forever; this asks with no transactional id, so ``enable_idempotence`` can follow the answer.
    A retriable answer (the coordinator is still loading, as on a cluster that has just started) is asked
    again until ``wait_seconds`` have passed.

    Raises:
        KafkaError: the broker could not be reached, or gave only retriable answers, within ``wait_seconds``.
    """
    client = AIOKafkaClient(
        bootstrap_servers=bootstrap_servers,
        client_id="clickpipe-probe",
        **(auth or BrokerAuth()).aiokafka_options(),
    )
    error: type[KafkaError] = KafkaError
    try:
        async with asyncio.timeout(wait_seconds):
            await client.bootstrap()
            while True:
                response = await client.send(
                    client.get_random_node(),
                    InitProducerIdRequest(transactional_id=None, transaction_timeout_ms=60_000),
                )
                error = for_code(response.error_code)
                if error is NoError or not error.retriable:
                    break
                await asyncio.sleep(_RETRY_SECONDS)
    except TimeoutError as exc:
        raise KafkaError(
            f"no producer id from {bootstrap_servers} within {wait_seconds:.0f}s: {error.__name__}"
        ) from exc
    finally:
        await client.close()
    if error is not NoError:
        # Expected on the embedded broker: said at INFO, so it does not crowd `clickpipe up`'s banner.
        log.info("the broker hands out no producer ids (%s): publishing without idempotence", error.__name__)
    return error is NoError
