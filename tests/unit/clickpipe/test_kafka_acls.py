"""The pipeline's Kafka users and what the ACLs let each do."""

from __future__ import annotations

from clickpipe.kafka_acls import PRODUCER, WORKER, acl_bindings, pipeline_grants
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


def test_grants_become_create_acls_bindings_allowing_one_operation_each() -> None:
    bindings = acl_bindings(pipeline_grants())
    topic, literal, allow, write = 2, 3, 3, 4
    assert (topic, CLICKS, literal, "User:producer", "*", write, allow) in bindings
    assert not any(b[1] == CLICKS and b[3] == "User:worker" and b[5] == write for b in bindings)
    assert ("kafka-cluster", "User:worker") in {(b[1], b[3]) for b in bindings if b[0] == 4}
    assert {b[6] for b in bindings} == {allow}  # nothing is denied: what is not allowed is refused
    assert len(bindings) == sum(max(1, len(g.names)) * len(g.operations) for g in pipeline_grants())
