"""Topic names and the topics the pipeline creates."""

import pytest

from schemas import (
    AGGREGATES,
    CLICKS,
    CLICKS_DLQ,
    CLICKS_LATE,
    DEFAULT_PARTITIONS,
    TopicSpec,
    pipeline_topics,
)


def test_topic_names_are_pinned():
    # Renaming a topic orphans the data already on the broker.
    assert (CLICKS, CLICKS_DLQ, CLICKS_LATE, AGGREGATES) == (
        "link-clicks",
        "link-clicks.dlq",
        "link-clicks.late",
        "link-click-aggregates",
    )


@pytest.mark.parametrize("partitions", [1, 6, 12])
def test_pipeline_topics_share_the_given_partition_count(partitions):
    assert pipeline_topics(partitions) == (
        TopicSpec(CLICKS, partitions),
        TopicSpec(CLICKS_DLQ, partitions),
        TopicSpec(CLICKS_LATE, partitions),
        TopicSpec(AGGREGATES, partitions, compacted=True),
    )


def test_pipeline_topics_default_to_default_partitions():
    assert {topic.partitions for topic in pipeline_topics()} == {DEFAULT_PARTITIONS}
    assert DEFAULT_PARTITIONS == 4


def test_only_the_aggregates_topic_is_compacted():
    compacted = [topic.name for topic in pipeline_topics() if topic.compacted]

    assert compacted == [AGGREGATES]


def test_topic_names_are_unique():
    names = [topic.name for topic in pipeline_topics()]

    assert len(names) == len(set(names))
