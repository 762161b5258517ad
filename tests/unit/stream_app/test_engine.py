"""The windowed state of one partition, with a dict standing in for the Faust table."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from stream_app.aggregation import Click, Counts, LinkCounts, dims, packed
from stream_app.engine import Output, PartitionEngine
from stream_app.testing import DictRowStore
from stream_app.windows import HOUR_MS, MINUTE_MS, Granularity

T0 = int(datetime(2026, 11, 28, 10, 0, tzinfo=UTC).timestamp() * 1000)
GRANS = (
    Granularity("minute", MINUTE_MS, retention_ms=10 * MINUTE_MS),
    Granularity("hour", HOUR_MS, retention_ms=24 * HOUR_MS),
)
GRACE = 5_000
MINUTE = GRANS[0]


def engine(store: DictRowStore, idle_ms: int = 60 * MINUTE_MS) -> PartitionEngine:
    return PartitionEngine(0, store, GRANS, grace_ms=GRACE, idle_ms=idle_ms, buckets=4)


def click(
    offset: int,
    at_ms: int,
    link: str = "a",
    country: str | None = "DE",
    bot: bool = False,
    slug: str | None = None,
) -> Click:
    return Click(offset, at_ms, link, "acct", dims(country=country), bot, slug)


def sent(part: PartitionEngine, clicks: Sequence[Click], *, wall_ms: int) -> Output:
    """``part.process`` of clicks a redirect recorded: the producer sent them as they happened, so their
    records' timestamp (the producer's clock) is their latest event time."""
    return part.process(clicks, wall_ms, clock_ms=max(click.timestamp_ms for click in clicks))


def minute_totals(part: PartitionEngine, start: int) -> dict[str, int]:
    return {
        link_id: link.total
        for _, row in part.windows("minute", start, start + 1)
        for link_id, link in row.links.items()
    }


def test_counts_by_window_link_country_and_bot() -> None:
    part = engine(DictRowStore())
    sent(
        part,
        [
            click(0, T0 + 1_000, "a", "DE"),
            click(1, T0 + 2_000, "a", "FR", bot=True),
            click(2, T0 + 3_000, "b", None),
            click(3, T0 + MINUTE_MS + 1, "a", "DE"),
        ],
        wall_ms=T0,
    )
    first_minute = {
        link_id: link for _, row in part.windows("minute", T0, T0 + 1) for link_id, link in row.links.items()
    }
    # Cells are keyed by every dimension now; by country they sum as before.
    assert first_minute["a"] == LinkCounts(
        "acct", 2, 1, {dims(country="DE"): packed(1, 0), dims(country="FR"): packed(1, 1)}, None
    )
    assert first_minute["b"] == LinkCounts("acct", 1, 0, {dims(): packed(1, 0)}, None)
    assert first_minute["a"].by("country") == {"DE": Counts(1, 0), "FR": Counts(1, 1)}
    assert minute_totals(part, T0 + MINUTE_MS) == {"a": 1}
    hour = {
        link_id: link.total
        for _, row in part.windows("hour", T0, T0 + 1)
        for link_id, link in row.links.items()
    }
    assert hour == {"a": 3, "b": 1}


def test_a_late_click_within_grace_still_counts() -> None:
    part = engine(DictRowStore())
    sent(part, [click(0, T0 + MINUTE_MS + 2_000)], wall_ms=T0)  # watermark: T0 + 1 min - 3 s
    out = sent(part, [click(1, T0 + 59_000)], wall_ms=T0)
    assert out.late == []
    assert minute_totals(part, T0) == {"a": 1}


def test_a_click_after_its_window_closed_amends_it_and_its_aggregate_is_sent_again() -> None:
    part = engine(DictRowStore())
    closing = sent(part, [click(0, T0 + 1), click(1, T0 + MINUTE_MS + GRACE + 1)], wall_ms=T0)
    part.mark_emitted(closing)  # minute T0 closed, and its aggregate was sent
    out = sent(part, [click(2, T0 + 30_000)], wall_ms=T0)
    assert out.late == [] and (out.amending, out.amended_windows) == (1, 1)
    assert [(a.granularity, a.window_start_ms, a.clicks) for a in out.aggregates] == [("minute", T0, 2)]
    [first] = [a for a in closing.aggregates if a.granularity == "minute"]
    again = out.aggregates[0]
    assert again.key == first.key and again.revision > first.revision  # a sink keeps the higher
    assert minute_totals(part, T0) == {"a": 2}
    part.mark_emitted(out)
    assert sent(part, [click(3, T0 + MINUTE_MS + 2)], wall_ms=T0).aggregates == []  # sent once, not again
    hour = {
        link_id: link.total
        for _, row in part.windows("hour", T0, T0 + 1)
        for link_id, link in row.links.items()
    }
    assert hour == {"a": 4}  # the hour window was still open


def test_a_click_for_a_window_past_its_retention_goes_to_late_and_is_not_counted_there() -> None:
    part = engine(DictRowStore())
    now = T0 + 20 * MINUTE_MS
    part.mark_emitted(sent(part, [click(0, now)], wall_ms=now))  # minute T0: past its 10 minutes' retention
    out = sent(part, [click(1, T0 + 30_000)], wall_ms=now)
    assert [(late.offset, windows) for late, windows in out.late] == [(1, ("minute",))]
    assert out.amending == 0 and minute_totals(part, T0) == {}
    hour = {
        link_id: link.total
        for _, row in part.windows("hour", T0, T0 + 1)
        for link_id, link in row.links.items()
    }
    assert hour == {"a": 2}  # the hour window is open: counted there


def test_an_amendment_not_yet_sent_is_sent_after_a_restart() -> None:
    store = DictRowStore()
    part = engine(store)
    part.mark_emitted(sent(part, [click(0, T0 + 1), click(1, T0 + MINUTE_MS + GRACE + 1)], wall_ms=T0))
    out = part.process([click(2, T0 + 30_000)], T0, clock_ms=T0 + MINUTE_MS + GRACE + 1)
    assert out.amended_windows == 1  # ... and the worker dies before sending it
    again = engine(store).tick(T0)
    assert [(a.window_start_ms, a.clicks) for a in again.aggregates] == [(T0, 2)]


def test_a_closed_window_is_emitted_once_with_its_final_counts() -> None:
    part = engine(DictRowStore())
    sent(part, [click(0, T0 + 1_000, "a", "DE"), click(1, T0 + 2_000, "a", None, bot=True)], wall_ms=T0)
    out = sent(part, [click(2, T0 + MINUTE_MS + GRACE)], wall_ms=T0)
    assert out.closed_windows == 1
    [aggregate] = out.aggregates
    assert (aggregate.granularity, aggregate.window_start_ms, aggregate.window_end_ms) == (
        "minute",
        T0,
        T0 + MINUTE_MS,
    )
    assert (aggregate.link_id, aggregate.clicks, aggregate.bot, aggregate.human) == ("a", 2, 1, 1)
    assert aggregate.countries == {"DE": (1, 0), None: (1, 1)}
    part.mark_emitted(out)
    again = sent(part, [click(3, T0 + MINUTE_MS + GRACE + 10)], wall_ms=T0)
    assert again.aggregates == []


def test_a_closed_window_is_emitted_again_until_it_is_recorded_as_emitted() -> None:
    store = DictRowStore()
    part = engine(store)
    sent(part, [click(0, T0 + 1_000)], wall_ms=T0)
    first = sent(part, [click(1, T0 + MINUTE_MS + GRACE)], wall_ms=T0)
    assert [(a.link_id, a.clicks) for a in first.aggregates] == [("a", 1)]
    # Not recorded (the send failed, or the worker died before it was acknowledged): a restarted worker
    # over what the store holds now sends the same aggregate again.
    restarted = engine(store)
    again = restarted.tick(T0)
    assert again.aggregates == first.aggregates
    restarted.mark_emitted(again)
    assert engine(store).tick(T0).aggregates == []


def test_an_expired_window_is_deleted_only_once_its_aggregates_are_recorded() -> None:
    store = DictRowStore()
    sent(engine(store), [click(0, T0)], wall_ms=T0)
    late_restart = engine(store, idle_ms=1)
    late_restart.tick(T0 + 11 * MINUTE_MS)  # starts watching the (idle) partition
    out = late_restart.tick(T0 + 11 * MINUTE_MS + GRACE)  # minute T0 closes and expires at once
    assert ([a.window_start_ms for a in out.aggregates if a.granularity == "minute"], out.expiring) == (
        [T0],
        [("minute", T0)],
    )
    assert any(key.startswith(f"minute|{T0}|") for key in store.data)  # still there to be emitted again
    late_restart.mark_emitted(out)
    assert not any(key.startswith(f"minute|{T0}|") for key in store.data)


def test_a_replayed_batch_is_not_counted_twice() -> None:
    store = DictRowStore()
    batch = [click(offset, T0 + offset * 100, f"l{offset % 3}") for offset in range(30)]
    sent(engine(store), batch[:20], wall_ms=T0)
    # A crash before the commit: the restarted worker sees offsets 10..29 again.
    restarted = engine(store)
    out = sent(restarted, batch[10:], wall_ms=T0)
    assert out.replayed == 10 * len(GRANS)
    assert sum(minute_totals(restarted, T0).values()) == 30


@pytest.mark.parametrize("cut", [1, 7, 13, 29])
def test_counts_do_not_depend_on_how_the_stream_is_cut_into_batches(cut: int) -> None:
    clicks = [click(offset, T0 + (offset * 7919) % 50_000, f"l{offset % 5}") for offset in range(30)]
    whole, split = engine(DictRowStore()), engine(DictRowStore())
    sent(whole, clicks, wall_ms=T0)
    sent(split, clicks[:cut], wall_ms=T0)
    sent(split, clicks[cut:], wall_ms=T0)
    assert minute_totals(split, T0) == minute_totals(whole, T0)


def test_an_idle_partition_closes_its_windows_on_the_wall_clock() -> None:
    part = engine(DictRowStore(), idle_ms=10_000)
    sent(part, [click(0, T0 + 1_000)], wall_ms=T0 + 1_000)
    assert part.tick(T0 + 5_000).aggregates == []  # not idle yet
    out = part.tick(T0 + MINUTE_MS + GRACE + 10_000)
    assert [(a.granularity, a.window_start_ms) for a in out.aggregates] == [("minute", T0)]


def test_windows_expire_after_retention_also_after_a_restart() -> None:
    store = DictRowStore()
    sent(engine(store), [click(0, T0)], wall_ms=T0)
    restarted = engine(store, idle_ms=1)
    restarted.tick(T0 + 11 * MINUTE_MS)  # starts watching the (idle) partition
    out = restarted.tick(T0 + 11 * MINUTE_MS + GRACE)
    assert out.expired_windows == 1
    restarted.mark_emitted(out)
    assert minute_totals(restarted, T0) == {}
    assert not any(key.startswith(f"minute|{T0}|") for key in store.data)
    assert any(key.startswith(f"hour|{T0 - T0 % HOUR_MS}|") for key in store.data)  # hour kept for 24h


def test_the_watermark_survives_a_restart() -> None:
    store = DictRowStore()
    sent(engine(store), [click(0, T0 + MINUTE_MS + GRACE)], wall_ms=T0)
    out = sent(engine(store), [click(1, T0 + 1_000)], wall_ms=T0)
    assert out.amending == 1  # minute T0 was closed: the click amended it


def test_rows_are_written_once_per_batch_not_per_click() -> None:
    store = DictRowStore()
    sent(
        engine(store), [click(offset, T0 + offset, f"l{offset % 50}") for offset in range(1_000)], wall_ms=T0
    )
    # at most one row segment per (window, bucket) for each granularity; the meta row once; each
    # granularity's window list, written as a window first appears
    assert store.writes <= 2 * 4 + 1 + len(GRANS)


def test_the_latest_slug_is_kept_and_emitted() -> None:
    part = engine(DictRowStore())
    sent(part, [click(0, T0, slug="old"), click(1, T0 + 1, slug="new"), click(2, T0 + 2)], wall_ms=T0)
    assert [row.links["a"].slug for _, row in part.windows("minute", T0, T0 + 1)] == ["new"]
    out = sent(part, [click(3, T0 + MINUTE_MS + GRACE)], wall_ms=T0)
    assert [aggregate.slug for aggregate in out.aggregates] == ["new"]


YEAR_9999 = int(datetime(9999, 12, 31, tzinfo=UTC).timestamp() * 1000)


def test_a_click_from_the_far_future_is_set_aside_and_ordinary_clicks_still_count() -> None:
    store = DictRowStore()
    part = PartitionEngine(
        0, store, GRANS, grace_ms=GRACE, idle_ms=60 * MINUTE_MS, buckets=4, max_skew_ms=300_000
    )
    out = part.process(
        [click(0, T0 + 1_000), click(1, YEAR_9999, "evil"), click(2, T0 + 2_000)], T0, clock_ms=T0 + 2_000
    )
    assert [(f.click.offset, f.ahead_ms) for f in out.future] == [(1, YEAR_9999 - T0)]
    assert "ahead of the worker clock" in out.future[0].reason
    assert out.aggregates == [] and out.late == []
    assert part.watermark.max_clock_ms == T0 + 2_000
    later = sent(part, [click(3, T0 + 3_000)], wall_ms=T0 + 3_000)
    assert later.late == [] and later.future == []
    assert minute_totals(part, T0) == {"a": 3}
    # A restart reads the same, unpoisoned watermark.
    assert engine(store).watermark.max_clock_ms == T0 + 3_000


def test_a_producer_clock_from_beyond_the_skew_never_moves_the_watermark() -> None:
    # Whoever writes to the topic chooses its records' timestamps (CreateTime): they are bounded too.
    part = PartitionEngine(
        0, DictRowStore(), GRANS, grace_ms=GRACE, idle_ms=60 * MINUTE_MS, buckets=4, max_skew_ms=300_000
    )
    part.process([click(0, T0 + 1_000)], T0 + 1_000, clock_ms=T0 + 1_000)
    out = part.process([click(1, T0 + 2_000)], T0 + 2_000, clock_ms=YEAR_9999)
    assert (out.late, out.future, out.aggregates) == ([], [], [])
    assert (part.watermark.max_clock_ms, part.watermark.value_ms) == (T0 + 1_000, T0 + 1_000 - GRACE)
    assert minute_totals(part, T0) == {"a": 2}


def test_the_skew_is_measured_against_the_wall_clock_given() -> None:
    part = PartitionEngine(
        0, DictRowStore(), GRANS, grace_ms=GRACE, idle_ms=MINUTE_MS, buckets=4, max_skew_ms=10_000
    )
    assert [f.click.offset for f in sent(part, [click(0, T0 + 10_001)], wall_ms=T0).future] == [0]
    assert sent(part, [click(1, T0 + 10_001)], wall_ms=T0 + 1).future == []
    assert minute_totals(part, T0) == {"a": 1}


def test_a_watermark_poisoned_in_old_state_is_healed_and_counting_resumes() -> None:
    store = DictRowStore()
    store.set(
        "meta|0",
        {
            "max": YEAR_9999,
            "wm": YEAR_9999 - GRACE,
            "emitted": {"minute": YEAR_9999, "hour": YEAR_9999},
            "windows": {},
        },
    )
    part = engine(store)
    out = sent(part, [click(0, T0 + 1_000)], wall_ms=T0 + 1_000)
    assert out.late == []
    assert minute_totals(part, T0) == {"a": 1}
    closed = sent(part, [click(1, T0 + MINUTE_MS + GRACE + 1)], wall_ms=T0 + MINUTE_MS + GRACE + 1)
    assert [(a.window_start_ms, a.clicks) for a in closed.aggregates if a.granularity == "minute"] == [
        (T0, 1)
    ]


def test_a_tenants_event_time_never_moves_the_watermark() -> None:
    # Attack 1 of issue 23: a batch ingest dated 295 s ahead (within both skew bounds), sent by the producer
    # at T0. Before, it moved the watermark 290 s ahead, and every tenant's real clicks of the next
    # minutes were late for their minute windows.
    wall = T0 + 30_000
    part = PartitionEngine(
        0, DictRowStore(), GRANS, grace_ms=GRACE, idle_ms=60 * MINUTE_MS, buckets=4, max_skew_ms=300_000
    )
    ahead = [click(n, wall + 295_000, "evil") for n in range(10)]
    out = part.process(ahead, wall, clock_ms=wall)  # the producer's clock when it sent the batch
    assert (out.late, out.future) == ([], [])
    assert part.watermark.value_ms == wall - GRACE
    # Other tenants' redirect clicks over the next five minutes, one batch a second: all on time.
    offset, late = len(ahead), []
    for second in range(1, 300):
        now = wall + second * 1_000
        out = sent(part, [click(offset, now, "victim")], wall_ms=now)
        late += out.late
        part.mark_emitted(out)
        offset += 1
    assert late == []
    for minute in range(6):
        start = T0 + minute * MINUTE_MS
        expected = sum(1 for s in range(1, 300) if MINUTE.start(wall + s * 1_000) == start)
        assert minute_totals(part, start).get("victim", 0) == expected, minute
    # The backfill counts in its own window, which closes when the producer's clock gets there.
    evil_window = MINUTE.start(wall + 295_000)
    assert minute_totals(part, evil_window)["evil"] == 10
    closing = sent(part, [click(offset, evil_window + MINUTE_MS + GRACE, "victim")], wall_ms=wall + 300_000)
    assert ("evil", 10) in [
        (a.link_id, a.clicks)
        for a in closing.aggregates
        if (a.granularity, a.window_start_ms) == ("minute", evil_window)
    ]


def test_a_backfill_dated_in_the_past_amends_its_closed_windows_and_moves_nothing() -> None:
    part = engine(DictRowStore())
    sent(part, [click(0, T0 + 2 * MINUTE_MS)], wall_ms=T0 + 2 * MINUTE_MS)
    mark = part.watermark.value_ms
    out = part.process([click(1, T0 + 1_000, "old")], T0 + 2 * MINUTE_MS, clock_ms=T0 + 2 * MINUTE_MS)
    assert out.late == [] and out.amending == 1
    assert minute_totals(part, T0) == {"old": 1}
    assert part.watermark.value_ms == mark
    hour = {
        link_id: link.total
        for _, row in part.windows("hour", T0, T0 + 1)
        for link_id, link in row.links.items()
    }
    assert hour == {"a": 1, "old": 1}  # the hour window is still open


def test_records_without_a_producer_clock_move_no_watermark() -> None:
    # Records without a timestamp (message format v0): the wall clock closes the partition's windows.
    part = engine(DictRowStore(), idle_ms=10_000)
    out = part.process([click(0, T0 + 3 * MINUTE_MS)], T0, clock_ms=None)
    assert out.late == [] and part.watermark.value_ms == 0
    part.tick(T0)
    assert part.tick(T0 + 10_000).aggregates == []
    assert part.watermark.value_ms == T0 + 10_000 - GRACE


def test_a_watermark_a_tenants_clicks_moved_in_old_state_is_set_back_to_the_wall_clock() -> None:
    # State written while event time moved watermarks ("max" is the highest event time, no "clock"): an
    # attack had put the watermark 290 s ahead. The worker restarted on the new rule sets it back.
    store = DictRowStore()
    ahead = T0 + 295_000
    store.set(
        "meta|0", {"max": ahead, "wm": ahead - GRACE, "emitted": {"minute": T0 + 4 * MINUTE_MS, "hour": 0}}
    )
    part = engine(store)
    out = sent(part, [click(0, T0 + 1_000, "victim")], wall_ms=T0 + 1_000)
    assert out.late == []
    assert part.watermark.value_ms == T0 + 1_000 - GRACE
    assert minute_totals(part, T0) == {"victim": 1}
    assert store.data["meta|0"]["clock"] == T0 + 1_000  # written in the new form: not set back again
    restarted = engine(store)
    assert not restarted.watermark.event_time_driven
    assert restarted.watermark.value_ms == T0 + 1_000 - GRACE


def test_old_state_behind_the_wall_clock_loads_unchanged() -> None:
    store = DictRowStore()
    store.set("meta|0", {"max": T0, "wm": T0 - GRACE, "emitted": {"minute": T0, "hour": 0}})
    part = engine(store)
    assert (part.watermark.value_ms, part.watermark.max_clock_ms) == (T0 - GRACE, None)
    assert part.tick(T0 + 1_000).aggregates == []
    assert part.watermark.value_ms == T0 - GRACE
