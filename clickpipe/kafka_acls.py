"""Who may do what on a secured Kafka: the pipeline's users and the ACLs each one gets, as data.

Three users authenticate with SASL/SCRAM: ``producer`` may only write clicks; ``worker`` may read clicks, join
its consumer group, write the topics it produces (dead letters, late clicks, aggregates) and own the topics
and transactional ids named after its app id (table changelogs, Faust's leader topic, exactly_once
transactions); ``admin`` is the brokers' own user and the super user (it creates the topics and grants
these). Every other client, anonymous ones included, is refused: the brokers' authorizer denies what no ACL
allows. :func:`acl_commands` turns the grants into the arguments of Kafka's own ``AclCommand``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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


def acl_commands(grants: tuple[Grant, ...], bootstrap_servers: str, command_config: str) -> list[list[str]]:
    """``AclCommand`` arguments adding each grant (one command per grant: each is one resource kind)."""
    commands = []
    for grant in grants:
        args = [
            "--bootstrap-server",
            bootstrap_servers,
            "--command-config",
            command_config,
            "--add",
            "--allow-principal",
            f"User:{grant.user}",
        ]
        for operation in grant.operations:
            args += ["--operation", operation]
        if grant.resource == "cluster":
            args.append("--cluster")
        else:
            for name in grant.names:
                args += [f"--{grant.resource}", name]
            args += ["--resource-pattern-type", "prefixed" if grant.prefixed else "literal"]
        commands.append(args)
    return commands
