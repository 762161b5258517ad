"""Folding a batch: the fast fold (finest window first, coarser derived, checked per row) against the plain
definition (each click into each window, checked per click), on random batches and random applied offsets."""

from __future__ import annotations

import random
from typing import Any

import pytest

from stream_app.aggregation import BOT_SHIFT, CLICK_MASK, Click, bucket_of, dims
from stream_app.folding import Batch, _fold_each, fold
from stream_app.windows import DAY_MS, HOUR_MS, MINUTE_MS, Granularity

GRANS = (
    Granularity("minute", MINUTE_MS, retention_ms=DAY_MS),
    Granularity("hour", HOUR_MS, retention_ms=DAY_MS),
    Granularity("day", DAY_MS, retention_ms=10 * DAY_MS),
)
BUCKETS = 4
T0 = 1_796_000_400_000  # an hour boundary


def clicks(rng: random.Random, first_offset: int, count: int, spread_ms: int) -> list[Click]:
    return [
        Click(
            offset,
            T0 + rng.randrange(spread_ms),
            f"l{rng.randrange(6)}",
            "acct",
            dims(country=rng.choice(["DE", "FR", None]), device=rng.choice(["mobile", "desktop"])),
            rng.random() < 0.2,
            rng.choice([None, "s"]),
            rng.choice([None, rng.randrange(50)]),
        )
        for offset in range(first_offset, first_offset + count)
    ]


def counted(batch: Batch) -> dict[Any, Any]:
    """The batch as plain values: per row, its links' totals, cells and visitors; lateness; replays."""
    rows = {
        key: (
            delta.last_offset,
            {
                link_id: (
                    link.total,
                    link.bot,
                    {cell: (n & CLICK_MASK, n >> BOT_SHIFT) for cell, n in link.cells.items() if n},
                    link.slug,
                    set(link.humans),
                    set(link.bots),
                )
                for link_id, link in delta.links.items()
            },
        )
        for key, delta in batch.deltas.items()
        if delta.links
    }
    return {
        "rows": rows,
        "late": sorted((c.offset, names) for c, names in batch.late),
        "replayed": batch.replayed,
    }


def by_definition(batch_clicks: list[Click], watermark_ms: int, applied: Any) -> Batch:
    batch = Batch()
    _fold_each(batch, batch_clicks, GRANS, watermark_ms, BUCKETS, applied)
    for delta in batch.deltas.values():
        delta.last_offset = batch_clicks[-1].offset
    return batch


@pytest.mark.parametrize("seed", range(40))
def test_the_fast_fold_counts_what_the_definition_counts(seed: int) -> None:
    rng = random.Random(seed)
    batch_clicks = clicks(rng, rng.randrange(1000), rng.randrange(1, 300), 3 * HOUR_MS)
    # Some batches close early minutes and hours (stragglers and late clicks), some close nothing.
    watermark = T0 + rng.choice([0, 10 * MINUTE_MS, 2 * HOUR_MS])
    # Rows that applied nothing, or offsets below, inside or above the batch: replays of every kind.
    first = batch_clicks[0].offset
    marks: dict[tuple[str, int, int], int] = {}
    spread = rng.choice([0, 5, len(batch_clicks) + 5])

    def applied(gran: str, start: int, bucket: int) -> int:
        key = (gran, start, bucket)
        if key not in marks:
            marks[key] = rng.choice([-1, first - 1, first - 1 + rng.randrange(spread + 1)])
        return marks[key]

    fast = fold(batch_clicks, GRANS, watermark, BUCKETS, applied)
    assert counted(fast) == counted(by_definition(batch_clicks, watermark, applied))


def test_a_batch_replayed_in_one_row_only_skips_its_clicks_there() -> None:
    batch_clicks = clicks(random.Random(1), 100, 50, 10 * MINUTE_MS)
    replayed = batch_clicks[10]
    row = ("hour", T0, bucket_of(replayed.link_id, BUCKETS))
    fast = fold(batch_clicks, GRANS, T0, BUCKETS, lambda *key: 120 if key == row else -1)
    skipped = [c for c in batch_clicks if c.offset <= 120 and bucket_of(c.link_id, BUCKETS) == row[2]]
    assert fast.replayed == len(skipped) > 0
    hour_total = sum(link.total for link in fast.deltas[row].links.values())
    minute_total = sum(
        link.total
        for key, delta in fast.deltas.items()
        if key[0] == "minute" and key[2] == row[2]
        for link in delta.links.values()
    )
    assert hour_total == minute_total - len(skipped)


def test_a_fresh_batch_shares_its_minute_counts_with_the_coarser_windows() -> None:
    """The fast path is taken when nothing can replay: a link's hour delta is its minute delta, not a copy."""
    batch_clicks = clicks(random.Random(2), 0, 100, MINUTE_MS)
    fast = fold(batch_clicks, GRANS, T0, BUCKETS, lambda *key: -1)
    assert fast.replayed == 0
    for (gran, start, bucket), delta in fast.deltas.items():
        if gran == "minute":
            hour = fast.deltas[("hour", start - start % HOUR_MS, bucket)]
            for link_id, link in delta.links.items():
                assert hour.links[link_id] is link


def test_a_click_replayed_in_a_window_that_has_closed_since_is_a_replay_not_late() -> None:
    """After a crash the watermark may have closed a window the click was counted in the first time."""
    batch_clicks = clicks(random.Random(3), 100, 20, MINUTE_MS)  # all in the first minute
    minute_rows = {("minute", T0, bucket) for bucket in range(BUCKETS)}
    fast = fold(
        batch_clicks, GRANS, T0 + 10 * MINUTE_MS, BUCKETS, lambda *key: 119 if key in minute_rows else -1
    )
    assert fast.late == []
    assert fast.replayed == len(batch_clicks)
