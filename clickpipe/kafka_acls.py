"""Who may do what on a secured Kafka: the pipeline's users and the ACLs each one gets, as data.

Three users authenticate with SASL/SCRAM: ``producer`` may only write clicks; ``worker`` may read clicks, join
its consumer group, write the topics it produces (dead letters, late clicks, aggregates) and own the topics
and transactional ids named after its app id (table changelogs, Faust's leader topic, exactly_once
transactions); ``admin`` is the brokers' own user and the super user (it creates the topics and grants
these). Every other client, anonymous ones included, is refused: the brokers' authorizer denies what no ACL
allows. :func:`grant` adds the grants through Kafka's CreateAcls request (aiokafka's protocol classes), so
any clickpipe process can set a cluster up, in a container without Java too.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError, NoError, for_code
from aiokafka.protocol.admin import CreateAclsRequest

from schemas.broker_auth import BrokerAuth
from schemas.topics import AGGREGATES, CLICKS, CLICKS_DLQ, CLICKS_LATE

ADMIN, PRODUCER, WORKER = "admin", "producer", "worker"
USERS = (ADMIN, PRODUCER, WORKER)
WORKER_APP_ID = "clickpipe-worker"  # the worker's default app id (its group, tables and transactions)

Resource = Literal["topic", "group", "transactional-id", "cluster"]


@dataclass(frozen=True, slots=True)
class Grant:
    """Operations ``user`` may do on resources of one kind, named exactly or by prefix."""

    user: str
    resource: Resource
    names: tuple[str, ...]
    operations: tuple[str, ...]
    prefixed: bool = False


def pipeline_grants(app_id: str = WORKER_APP_ID) -> tuple[Grant, ...]:
    """The least each of the pipeline's users needs (``app_id``: the worker's)."""
    outputs = (CLICKS_DLQ, CLICKS_LATE, AGGREGATES)
    return (
        Grant(PRODUCER, "topic", (CLICKS,), ("Write", "Describe")),
        # Create on the topics it declares: Faust asks to create every topic it uses (Kafka answers that
        # it exists), and refused that, it would not start.
        Grant(WORKER, "topic", (CLICKS,), ("Read", "Describe", "Create")),
        Grant(WORKER, "topic", outputs, ("Write", "Describe", "Create")),
        Grant(WORKER, "topic", (app_id,), ("All",), prefixed=True),
        Grant(WORKER, "group", (app_id,), ("Read", "Describe"), prefixed=True),
        Grant(WORKER, "transactional-id", (app_id,), ("Write", "Describe"), prefixed=True),
        # default.replication.factor is read from the brokers' configuration (REPLICATION_FACTOR=-1).
        Grant(WORKER, "cluster", (), ("DescribeConfigs",)),
    )


# Kafka's codes: org.apache.kafka.common.resource.ResourceType and PatternType, acl.AclOperation and
# AclPermissionType.
_RESOURCE_TYPES = {"topic": 2, "group": 3, "cluster": 4, "transactional-id": 5}
_LITERAL, _PREFIXED = 3, 4
_OPERATIONS = {"All": 2, "Read": 3, "Write": 4, "Create": 5, "Describe": 8, "DescribeConfigs": 10}
_ALLOW = 3
_CLUSTER = "kafka-cluster"


def acl_bindings(grants: tuple[Grant, ...]) -> list[tuple[int, str, int, str, str, int, int]]:
    """Each grant as CreateAcls' bindings: (resource type, name, pattern type, principal, host, operation,
    permission), one per name and operation, any host."""
    bindings = []
    for grant in grants:
        names = (_CLUSTER,) if grant.resource == "cluster" else grant.names
        pattern = _PREFIXED if grant.prefixed else _LITERAL
        for name in names:
            for operation in grant.operations:
                bindings.append(
                    (
                        _RESOURCE_TYPES[grant.resource],
                        name,
                        pattern,
                        f"User:{grant.user}",
                        "*",
                        _OPERATIONS[operation],
                        _ALLOW,
                    )
                )
    return bindings


async def grant(
    bootstrap_servers: str, auth: BrokerAuth, grants: tuple[Grant, ...], *, wait_seconds: float = 60.0
) -> int:
    """Add ``grants`` as ``auth`` (a super user); return the bindings added. Adding one again is a no-op.

    Raises:
        KafkaError: the cluster could not be reached in ``wait_seconds`` or refused a binding.
    """
    client = AIOKafkaClient(
        bootstrap_servers=bootstrap_servers, client_id="clickpipe-acls", **auth.aiokafka_options()
    )
    bindings = acl_bindings(grants)
    try:
        async with asyncio.timeout(wait_seconds):
            await client.bootstrap()
            for binding in bindings:
                response = await client.send(client.get_random_node(), CreateAclsRequest(*binding))
                for error_code, message in response.creation_responses:
                    if for_code(error_code) is not NoError:
                        raise for_code(error_code)(f"adding the ACL {binding}: {message}")
    except TimeoutError as exc:
        raise KafkaError(f"could not add ACLs on {bootstrap_servers} within {wait_seconds:.0f}s") from exc
    finally:
        await client.close()
    return len(bindings)
