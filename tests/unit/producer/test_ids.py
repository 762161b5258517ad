"""Event ids: UUIDv7, unique, strictly increasing within a process even when the clock steps back."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from itertools import pairwise

from producer.ids import EventIds

MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def test_ids_are_uuid7_with_the_clock_in_front() -> None:
    event_id = EventIds(lambda: MS * 1_000_000 + 999_999).next()
    parsed = uuid.UUID(event_id)
    assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
    assert str(parsed) == event_id
    assert parsed.int >> 80 == MS


def test_ids_strictly_ordered_and_unique_when_the_clock_stalls_or_steps_back() -> None:
    ticks: Iterator[int] = iter([MS, MS, MS + 5, MS - 1_000, MS - 1_000, MS + 5, MS + 6] * 1_000)
    ids = EventIds(lambda: next(ticks) * 1_000_000)
    made = [ids.next() for _ in range(7_000)]
    assert made == sorted(made)
    assert len(set(made)) == len(made)
    assert all(uuid.UUID(a).int < uuid.UUID(b).int for a, b in pairwise(made))


def test_two_processes_ids_differ_at_the_same_instant() -> None:
    first, second = EventIds(lambda: MS * 1_000_000), EventIds(lambda: MS * 1_000_000)
    assert not {first.next() for _ in range(1_000)} & {second.next() for _ in range(1_000)}
