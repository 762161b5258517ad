"""The worker's partitions over a Faust table (an app that is built, not started)."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import faust
import orjson

from stream_app.aggregation import Click, dims
from stream_app.engine import PartitionEngine
from stream_app.state import COMPRESSED, Partitions, TableRowStore, decode_value, encode_value
from stream_app.windows import DAY_MS, HOUR_MS, MINUTE_MS, Granularity

GRANS = (Granularity("minute", MINUTE_MS, retention_ms=10 * MINUTE_MS),)


def partitions(clock_ms: int) -> Partitions:
    app = faust.App(
        "test-state",
        broker="kafka://127.0.0.1:9",
        store="memory://",
        autodiscover=False,
        loop=asyncio.get_running_loop(),  # or Faust opens a loop of its own and never closes it
    )
    table: dict[str, Any] = {}  # stands in for the Faust table (whose writes start a changelog producer)
    return Partitions(
        app,
        table,  # type: ignore[arg-type]
        "clicks",
        GRANS,
        grace_ms=0,
        idle_ms=MINUTE_MS,
        buckets=1,
        max_skew_ms=1_000,
        clock=lambda: clock_ms,
    )


async def test_a_wall_clock_of_zero_is_a_time_not_a_missing_value() -> None:
    late_clock = 10**13
    click = Click(0, 5_000, "a", "acct", dims(country="DE"), False)
    # At wall time 0 the click is 5 s ahead, beyond the 1 s allowed; at the clock's time it is not.
    assert len(partitions(late_clock).process(0, [click], wall_ms=0, clock_ms=None).future) == 1
    assert partitions(late_clock).process(0, [click], clock_ms=None).future == []


KAFKA_MAX_MESSAGE = 1024 * 1024  # Kafka's default max.message.bytes and the producer's max_request_size


def _big_segment(cells: int) -> dict[str, Any]:
    """A segment as ``stream_app.rows`` stores it, with ``cells`` distinct dimension cells over 300 links."""
    rng = random.Random(5)
    values = {
        "country": ["DE", "FR", "US", "JP", "BR", "IN", "GB", "unknown"],
        "city": [f"City {n}" for n in range(300)],
        "region": [f"R{n}" for n in range(60)],
        "device": ["desktop", "mobile", "tablet"],
        "browser": ["Chrome", "Safari", "Firefox", "Edge", "Samsung Internet"],
        "os": ["Windows", "iOS", "Android", "Mac OS X", "Linux"],
        "referer": [f"site{n}.example" for n in range(40)] + ["(direct)"],
    }
    links: dict[str, list[Any]] = {}
    for n in range(cells):
        link = links.setdefault(f"link-{n % 300}", ["acct", 0, 0, [], f"slug{n % 300}", [], []])
        cell = [rng.choice(values[name]) for name in values] + ["EU", "default", "https://example.com/x"]
        link[3].append([cell, rng.randint(1, 9), rng.randint(0, 1)])
        link[5].append(rng.randrange(-(2**63), 2**63))
    return {"o": 123_456, "l": links}


def test_a_value_over_kafkas_message_limit_is_stored_compressed_and_reads_back() -> None:
    segment = _big_segment(9_000)
    assert len(orjson.dumps(segment)) > KAFKA_MAX_MESSAGE  # as a plain JSON changelog message: refused
    stored = encode_value(segment)
    assert stored[:1] == COMPRESSED
    assert len(stored) < KAFKA_MAX_MESSAGE / 2
    assert decode_value(stored) == orjson.loads(orjson.dumps(segment))


def test_small_values_stay_plain_json_and_state_written_before_reads_back() -> None:
    meta = {"max": 1, "wm": 0, "emitted": {"minute": 60_000}}
    assert encode_value(meta) == orjson.dumps(meta)
    assert decode_value(orjson.dumps(meta)) == meta
    assert decode_value(orjson.dumps(_big_segment(2_000))) == orjson.loads(orjson.dumps(_big_segment(2_000)))


def test_the_windows_of_a_batch_within_one_minute_store_one_encoded_segment() -> None:
    """Its minute, hour and day rows get the same clicks: encoded once, stored three times, read back."""
    grans = (
        Granularity("minute", MINUTE_MS, retention_ms=DAY_MS),
        Granularity("hour", HOUR_MS, retention_ms=DAY_MS),
        Granularity("day", DAY_MS, retention_ms=2 * DAY_MS),
    )
    t0 = 1_796_000_400_000  # an hour boundary
    table: dict[str, bytes] = {}

    def engine() -> PartitionEngine:
        store = TableRowStore(table)  # type: ignore[arg-type]
        return PartitionEngine(0, store, grans, grace_ms=0, idle_ms=DAY_MS, buckets=2)

    rng = random.Random(4)
    within = [
        Click(i, t0 + rng.randrange(MINUTE_MS), f"l{i % 5}", "a", dims(country="DE"), False, None, i)
        for i in range(40)
    ]
    engine().process(within, t0, clock_ms=t0)
    segments = {key: data for key, data in table.items() if key.endswith("|0") and not key.startswith("meta")}
    by_bucket: dict[str, list[bytes]] = {}
    for key, data in segments.items():
        by_bucket.setdefault(key.split("|")[-2], []).append(data)
    assert sorted(len(stored) for stored in by_bucket.values()) == [3, 3]
    for stored in by_bucket.values():
        assert stored[0] is stored[1] is stored[2]

    # Across two minutes the hour and day rows add up both minutes: their own segments, still read right.
    across = [
        Click(100 + i, t0 + MINUTE_MS * (i % 2) + i, f"l{i % 5}", "a", dims(country="FR"), False, None, None)
        for i in range(40)
    ]
    engine().process(across, t0, clock_ms=t0)
    restarted = engine()
    for gran, total in (("minute", 40 + 40 // 2), ("hour", 80), ("day", 80)):
        counted = sum(
            link.total
            for _, row in restarted.windows(gran, t0 - DAY_MS, t0 + MINUTE_MS)
            for link in row.links.values()
        )
        assert counted == total
