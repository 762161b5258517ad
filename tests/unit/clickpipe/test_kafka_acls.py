"""The pipeline's Kafka users and what the ACLs let each do."""

from __future__ import annotations

from clickpipe.kafka_acls import PRODUCER, WORKER, acl_commands, pipeline_grants
from schemas.topics import AGGREGATES, CLICKS


def test_the_producer_may_only_write_clicks() -> None:
    grants = [grant for grant in pipeline_grants() if grant.user == PRODUCER]
    assert [(g.resource, g.names, g.operations, g.prefixed) for g in grants] == [
        ("topic", (CLICKS,), ("Write", "Describe"), False)
    ]


def test_the_worker_reads_clicks_writes_its_outputs_and_owns_only_names_of_its_app_id() -> None:
    grants = [grant for grant in pipeline_grants("acme-worker") if grant.user == WORKER]
    on_clicks = [g for g in grants if CLICKS in g.names]
    assert [g.operations for g in on_clicks] == [("Read", "Describe", "Create")]  # never Write
    writes = {name for g in grants if "Write" in g.operations and g.resource == "topic" for name in g.names}
    assert AGGREGATES in writes and CLICKS not in writes
    owned = [g for g in grants if g.prefixed]
    assert {(g.resource, g.names) for g in owned} == {
        ("topic", ("acme-worker",)),
        ("group", ("acme-worker",)),
        ("transactional-id", ("acme-worker",)),
    }


def test_each_grant_is_one_acl_command_as_admin() -> None:
    commands = acl_commands(pipeline_grants(), "127.0.0.1:9092", "/k/admin.properties")
    assert len(commands) == len(pipeline_grants())
    first = commands[0]
    assert first[:7] == [
        "--bootstrap-server",
        "127.0.0.1:9092",
        "--command-config",
        "/k/admin.properties",
        "--add",
        "--allow-principal",
        "User:producer",
    ]
    assert first[-4:] == ["--topic", CLICKS, "--resource-pattern-type", "literal"]
    assert [arg for arg in commands[-1] if arg == "--cluster"] == ["--cluster"]
