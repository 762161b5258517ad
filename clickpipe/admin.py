"""Topic administration: create the pipeline's topics, idempotently, before any worker starts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from clickpipe.errors import TopicAdminError
from schemas.broker_auth import BrokerAuth
from schemas.topics import TopicSpec

log = logging.getLogger(__name__)


async def ensure_topics(
    bootstrap_servers: str,
    specs: Iterable[TopicSpec],
    *,
    replication_factor: int = 1,
    connect_timeout: float = 30.0,
    auth: BrokerAuth | None = None,
) -> list[str]:
    """Create the topics in ``specs`` that do not exist yet; return the names created.

    Existing topics are left as they are (a topic's partition count is never changed here). A
    ``replication_factor`` of -1 is the brokers' own ``default.replication.factor``. ``auth``: how to
    authenticate (``CLICKPIPE_KAFKA_*`` by default; on a secured broker, a user allowed to create topics).

    Raises:
        TopicAdminError: the broker could not be reached or refused a topic.
    """
    admin = _admin(bootstrap_servers, auth)
    try:
        await asyncio.wait_for(_start(admin), connect_timeout)
        existing = set(await admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        created: list[str] = []
        for spec in missing:
            configs = {"cleanup.policy": "compact"} if spec.compacted else {}
            # aiokafka's NewTopic refuses -1 without a replica assignment, which an empty one satisfies
            assignments: dict[int, list[int]] | None = {} if replication_factor == -1 else None
            topic = NewTopic(spec.name, spec.partitions, replication_factor, assignments, configs)
            try:
                await admin.create_topics([topic])
            except TopicAlreadyExistsError:
                continue  # created by someone else meanwhile: that is the goal
            created.append(spec.name)
            log.info("created topic %s (%d partitions)", spec.name, spec.partitions)
        return created
    except (KafkaError, TimeoutError, OSError) as exc:
        raise TopicAdminError(
            f"cannot create topics on {bootstrap_servers}: {exc!r}", bootstrap_servers
        ) from exc
    finally:
        await admin.close()


def _admin(bootstrap_servers: str, auth: BrokerAuth | None) -> AIOKafkaAdminClient:
    options = (auth or BrokerAuth()).aiokafka_options()
    return AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10_000, **options)


async def _start(admin: AIOKafkaAdminClient) -> None:
    """Start the admin client, retrying while the broker is not reachable yet."""
    while True:
        try:
            await admin.start()
            return
        except KafkaError:
            await asyncio.sleep(0.5)


async def default_replication_factor(
    bootstrap_servers: str, *, connect_timeout: float = 30.0, auth: BrokerAuth | None = None
) -> int:
    """The brokers' ``default.replication.factor``: what a topic created with replication factor -1 gets.

    Raises:
        TopicAdminError: the broker could not be reached, or did not answer the setting.
    """
    admin = _admin(bootstrap_servers, auth)
    try:
        await asyncio.wait_for(_start(admin), connect_timeout)
        broker_id = (await admin.describe_cluster())["brokers"][0]["node_id"]
        setting = "default.replication.factor"
        resource = ConfigResource(ConfigResourceType.BROKER, str(broker_id), configs={setting: None})
        for response in await admin.describe_configs([resource]):
            for *_, configs in response.resources:
                for name, value, *_ in configs:
                    if name == setting:
                        return int(value)
    except (KafkaError, TimeoutError, OSError) as exc:
        raise TopicAdminError(
            f"cannot read the default replication factor of {bootstrap_servers}: {exc!r}", bootstrap_servers
        ) from exc
    finally:
        await admin.close()
    raise TopicAdminError(
        f"{bootstrap_servers} did not name its default.replication.factor", bootstrap_servers
    )
