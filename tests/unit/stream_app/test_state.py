"""The worker's partitions over a Faust table (an app that is built, not started)."""

from __future__ import annotations

import asyncio
from typing import Any

import faust

from stream_app.aggregation import Click, dims
from stream_app.state import Partitions
from stream_app.windows import MINUTE_MS, Granularity

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
    assert len(partitions(late_clock).process(0, [click], wall_ms=0).future) == 1
    assert partitions(late_clock).process(0, [click]).future == []
