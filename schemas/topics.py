"""The pipeline's topic names, partitioning and message keys."""

from __future__ import annotations

from dataclasses import dataclass

CLICKS = "link-clicks"
"""Click events, Avro single-object encoded, keyed by link id."""

CLICKS_DLQ = "link-clicks.dlq"
"""Messages from ``CLICKS`` that could not be decoded, with the reason and source position in headers."""

CLICKS_LATE = "link-clicks.late"
"""Clicks that arrived after their window closed."""

AGGREGATES = "link-click-aggregates"
"""Final per-window aggregates (compacted: the latest value per key is kept)."""

DEFAULT_PARTITIONS = 4
"""Partitions of the click topic; bounds how many workers share the load."""


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """A topic the pipeline needs, with how to create it."""

    name: str
    partitions: int
    compacted: bool = False


def pipeline_topics(partitions: int = DEFAULT_PARTITIONS) -> tuple[TopicSpec, ...]:
    """Return the topics to create before any worker starts.

    The click topic and the worker's tables are co-partitioned, so every topic keyed by link id has the same
    partition count.
    """
    return (
        TopicSpec(CLICKS, partitions),
        TopicSpec(CLICKS_DLQ, partitions),
        TopicSpec(CLICKS_LATE, partitions),
        TopicSpec(AGGREGATES, partitions, compacted=True),
    )
