"""The state against a count made directly from the clicks sent: every dimension, uniques, overflow, replays.

Randomised clicks (seeded), out of order within the grace period, in batches of random sizes, through a
``PartitionEngine`` over the in-memory store; the store is read back by a fresh engine, so what is checked
is what a restarted worker would serve.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from stream_app.aggregation import DIMENSIONS, Click, LinkCounts, dims, unpacked
from stream_app.engine import PartitionEngine, meta_key
from stream_app.sketches import RELATIVE_STANDARD_ERROR, union
from stream_app.testing import ChangelogStore, DictRowStore
from stream_app.windows import DAY_MS, HOUR_MS, MINUTE_MS, Granularity

T0 = int(datetime(2026, 11, 28, 23, 50, tzinfo=UTC).timestamp() * 1000)  # the day turns during the clicks
GRANS = (
    Granularity("minute", MINUTE_MS, retention_ms=DAY_MS),
    Granularity("hour", HOUR_MS, retention_ms=10 * DAY_MS),
    Granularity("day", DAY_MS, retention_ms=100 * DAY_MS),
)
GRACE = 30_000
SPAN = 20 * MINUTE_MS
WALL = T0 + 21 * MINUTE_MS  # the worker clock: every click is in its past

BUCKETS = 3
POOLS: dict[str, list[str | None]] = {
    "country": ["DE", "FR", "US", None],
    "continent": ["EU", "NA", None],
    "region": [f"r{i}" for i in range(12)] + [None],
    "city": [f"c{i}" for i in range(30)] + [None],
    "device": ["mobile", "desktop", "tablet", None],
    "browser": ["Chrome", "Safari", "Firefox", None],
    "os": ["iOS", "Android", "Windows", None],
    "referer": [f"site{i}.example" for i in range(8)] + [None],
    "rule": ["DE", "FR", None],
    "url": ["https://a/", "https://b/", "https://c/"],
}


def sent_at(batch: Sequence[Click]) -> int:
    """The producer's clock of a batch of redirect clicks: sent as they happened, at their latest time."""
    return max(click.timestamp_ms for click in batch)


def random_clicks(count: int, seed: int, links: int = 6, visitors: int = 3_000) -> list[Click]:
    rng = random.Random(seed)
    out = []
    for offset in range(count):
        at = T0 + SPAN * offset // count + rng.randint(-GRACE // 2, GRACE // 2)  # out of order
        values = {name: rng.choice(pool) for name, pool in POOLS.items()}
        visitor = None if rng.random() < 0.05 else rng.randrange(visitors) - visitors // 2
        link = f"link-{rng.randrange(links)}"
        out.append(Click(offset, at, link, f"acct-{link}", dims(**values), rng.random() < 0.1, None, visitor))
    return out


def batches(clicks: Sequence[Click], rng: random.Random) -> list[Sequence[Click]]:
    out, at = [], 0
    while at < len(clicks):
        size = rng.randint(1, 400)
        out.append(clicks[at : at + size])
        at += size
    return out


def engine(store: DictRowStore, max_cells: int = 1_000) -> PartitionEngine:
    return PartitionEngine(
        0, store, GRANS, grace_ms=GRACE, idle_ms=HOUR_MS, buckets=BUCKETS, max_cells=max_cells
    )


def run(clicks: Sequence[Click], seed: int = 0, max_cells: int = 1_000) -> DictRowStore:
    store = DictRowStore()
    part = engine(store, max_cells)
    rng = random.Random(seed)
    for batch in batches(clicks, rng):
        out = part.process(batch, WALL, clock_ms=sent_at(batch))
        assert out.late == [] and out.future == []
        part.mark_emitted(out)
    return store


def state(store: DictRowStore, granularity: str) -> dict[tuple[int, str], LinkCounts]:
    """(window start, link) -> counts, read by a fresh engine (as after a restart)."""
    part = engine(store)
    return {
        (start, link_id): link
        for start, row in part.windows(granularity, 0, T0 + DAY_MS)
        for link_id, link in row.links.items()
    }


def start_of(gran: str, at: int) -> int:
    size = {g.name: g.size_ms for g in GRANS}[gran]
    return at - at % size


def expected(clicks: Sequence[Click], gran: str, dimension: str) -> Counter[tuple[Any, ...]]:
    index = DIMENSIONS.index(dimension)
    counted: Counter[tuple[Any, ...]] = Counter()
    for c in clicks:
        counted[start_of(gran, c.timestamp_ms), c.link_id, c.dims[index], c.is_bot] += 1
    return counted


def counted(rows: dict[tuple[int, str], LinkCounts], dimension: str) -> Counter[tuple[Any, ...]]:
    out: Counter[tuple[Any, ...]] = Counter()
    for (start, link_id), link in rows.items():
        for value, counts in link.by(dimension).items():
            if counts.total - counts.bot:
                out[start, link_id, value, False] += counts.total - counts.bot
            if counts.bot:
                out[start, link_id, value, True] += counts.bot
    return out


CLICKS = random_clicks(6_000, seed=11)


@pytest.fixture(scope="module")
def stored() -> DictRowStore:
    return run(CLICKS, seed=3)


@pytest.mark.parametrize("granularity", [gran.name for gran in GRANS])
@pytest.mark.parametrize("dimension", DIMENSIONS)
def test_every_dimension_counts_exactly(stored: DictRowStore, granularity: str, dimension: str) -> None:
    assert counted(state(stored, granularity), dimension) == expected(CLICKS, granularity, dimension)


@pytest.mark.parametrize("granularity", [gran.name for gran in GRANS])
def test_totals_and_cells_agree(stored: DictRowStore, granularity: str) -> None:
    rows = state(stored, granularity)
    totals = Counter({key: link.total for key, link in rows.items()})
    assert totals == Counter((start_of(granularity, c.timestamp_ms), c.link_id) for c in CLICKS)
    for link in rows.values():
        assert sum(unpacked(n).total for n in link.cells.values()) == link.total
        assert sum(unpacked(n).bot for n in link.cells.values()) == link.bot


def test_the_day_windows_turn_at_midnight_utc(stored: DictRowStore) -> None:
    days = {start for start, _ in state(stored, "day")}
    midnight = T0 + 10 * MINUTE_MS
    assert days == {midnight - DAY_MS, midnight}


@pytest.mark.parametrize("granularity", [gran.name for gran in GRANS])
def test_uniques_are_within_three_standard_errors(stored: DictRowStore, granularity: str) -> None:
    rows = state(stored, granularity)
    for bot in (False, True):
        for (start, link_id), link in rows.items():
            exact = {
                c.visitor
                for c in CLICKS
                if c.visitor is not None
                and c.is_bot == bot
                and c.link_id == link_id
                and start_of(granularity, c.timestamp_ms) == start
            }
            estimate = (link.bots if bot else link.humans).estimate()
            assert abs(estimate - len(exact)) <= 3 * RELATIVE_STANDARD_ERROR * len(exact) + 1
    # Merged over links and windows, as the query API does.
    everyone = union(link.humans for link in rows.values()).estimate()
    exact_all = len({c.visitor for c in CLICKS if c.visitor is not None and not c.is_bot})
    assert abs(everyone - exact_all) <= 3 * RELATIVE_STANDARD_ERROR * exact_all


def test_past_max_cells_totals_and_low_cardinality_dimensions_stay_exact() -> None:
    store = run(CLICKS, seed=5, max_cells=20)
    for granularity in ("minute", "day"):
        rows = state(store, granularity)
        assert any(len(link.cells) > 20 for link in rows.values())  # the overflow cells
        # Bounded by the cap plus the combinations of the low-cardinality values (the overflow cells).
        low = 4 * 3 * 4 * 4 * 4 * 3
        assert all(len(link.cells) <= 20 + low for link in rows.values())
        for dimension in ("country", "continent", "device", "browser", "os", "rule"):
            assert counted(rows, dimension) == expected(CLICKS, granularity, dimension), dimension
        for dimension in ("region", "city", "referer", "url"):  # summed they are the totals
            by_link = Counter[tuple[Any, ...]]()
            for (start, link_id, _, bot), n in counted(rows, dimension).items():
                by_link[start, link_id, bot] += n
            want = Counter((start_of(granularity, c.timestamp_ms), c.link_id, c.is_bot) for c in CLICKS)
            assert by_link == want


class CrashingStore(DictRowStore):
    """Fails every write after ``budget`` of them (the worker dying mid-batch)."""

    def __init__(self, budget: int) -> None:
        super().__init__()
        self.budget = budget

    def set(self, key: str, value: Any) -> None:
        if self.writes >= self.budget:
            raise ConnectionError("crashed")
        super().set(key, value)

    def delete(self, key: str) -> None:
        if self.writes >= self.budget:
            raise ConnectionError("crashed")
        super().delete(key)


@pytest.mark.parametrize("budget", [5, 37, 150, 333])
def test_a_crash_mid_batch_then_a_replay_from_the_last_commit_counts_exactly(budget: int) -> None:
    clicks = random_clicks(3_000, seed=budget, links=4)
    store = CrashingStore(budget)
    rng = random.Random(budget)
    parts = batches(clicks, rng)
    committed = 0  # offsets below are committed: the source resumes there after a crash
    part = engine(store)
    crashed = False
    for batch in parts:
        try:
            out = part.process(batch, WALL, clock_ms=sent_at(batch))
            part.mark_emitted(out)
        except ConnectionError:
            crashed = True
            break
        if rng.random() < 0.5:
            committed = batch[-1].offset + 1
    assert crashed
    store.budget = 10**9
    # The restarted worker resumes from the committed offset: some clicks come again (replays).
    restarted = engine(store)
    for batch in batches(clicks[committed:], random.Random(budget + 1)):
        restarted.mark_emitted(restarted.process(batch, WALL, clock_ms=sent_at(batch)))
    for granularity in ("minute", "hour", "day"):
        rows = state(store, granularity)
        for dimension in ("country", "city", "url"):
            assert counted(rows, dimension) == expected(clicks, granularity, dimension)
        for (start, link_id), link in rows.items():
            exact = {
                c.visitor
                for c in clicks
                if c.visitor is not None
                and not c.is_bot
                and c.link_id == link_id
                and start_of(granularity, c.timestamp_ms) == start
            }
            assert abs(link.humans.estimate() - len(exact)) <= 3 * RELATIVE_STANDARD_ERROR * len(exact) + 1


def test_a_new_owner_recovering_any_prefix_of_the_changelog_then_replaying_counts_exactly() -> None:
    """The partition moves (or its worker crashes) after any write of any batch: the new owner recovers the
    changelog up to there and replays from the last commit, before the batch being written. Every window
    must still be listed and counted (the window lists used to follow the rows, so a replay that found a
    window's rows applied never listed it again)."""
    clicks = random_clicks(80, seed=7, links=4)
    store = ChangelogStore()
    part = engine(store)
    started: list[tuple[int, int]] = []  # (changelog length, first offset) as each batch begins
    for at in range(0, len(clicks), 20):
        started.append((len(store.changelog), at))
        batch = clicks[at : at + 20]
        part.mark_emitted(part.process(batch, WALL, clock_ms=sent_at(batch)))
    assert len(store.changelog) > 80
    for records in range(len(store.changelog) + 1):
        committed = max(offset for length, offset in started if length <= records)
        recovered = store.recover(records)
        owner = engine(recovered)
        for at in range(committed, len(clicks), 20):
            batch = clicks[at : at + 20]
            owner.mark_emitted(owner.process(batch, WALL, clock_ms=sent_at(batch)))
        for granularity in ("minute", "hour", "day"):
            assert counted(state(recovered, granularity), "country") == expected(
                clicks, granularity, "country"
            ), (records, granularity)


def test_replaying_everything_again_changes_nothing(stored: DictRowStore) -> None:
    store = run(CLICKS, seed=3)
    again = engine(store)
    for batch in batches(CLICKS, random.Random(9)):
        out = again.process(batch, WALL, clock_ms=sent_at(batch))
        assert out.replayed == len(batch) * len(GRANS)
        again.mark_emitted(out)
    for dimension in DIMENSIONS:
        assert counted(state(store, "hour"), dimension) == expected(CLICKS, "hour", dimension)


def test_rows_restored_newer_than_the_meta_row_are_not_counted_twice() -> None:
    # A worker restarted on its own RocksDB after SIGKILL: a row written locally outlives the loss of its
    # changelog record, while the changelog replay sets the meta row back to an older value. The replayed
    # batches must still be checked against each row's own applied offset.
    store = DictRowStore()
    part = engine(store)
    work = batches(CLICKS, random.Random(4))
    half = len(work) // 2
    for batch in work[:half]:
        part.mark_emitted(part.process(batch, WALL, clock_ms=sent_at(batch)))
    older_meta = store.get(meta_key(0))
    for batch in work[half:]:
        part.mark_emitted(part.process(batch, WALL, clock_ms=sent_at(batch)))
    store.set(meta_key(0), older_meta)

    again = engine(store)
    for batch in work[half:]:
        again.mark_emitted(again.process(batch, WALL, clock_ms=sent_at(batch)))

    for dimension in ("country", "device"):
        assert counted(state(store, "hour"), dimension) == expected(CLICKS, "hour", dimension)


def test_closed_windows_emit_their_cells_and_sketches() -> None:
    store = DictRowStore()
    part = engine(store)
    clicks = random_clicks(500, seed=2)
    first = part.process(clicks, WALL, clock_ms=sent_at(clicks))
    part.mark_emitted(first)
    out = part.tick(wall_ms=T0 + 2 * DAY_MS)  # idle: every window closes
    aggregates = first.aggregates + out.aggregates
    minute = [a for a in aggregates if a.granularity == "minute"]
    assert sum(a.clicks for a in minute) == len(clicks)
    by_cell: Counter[tuple[str, ...]] = Counter()
    for a in minute:
        assert sum(n for n, _ in a.cells.values()) == a.clicks
        for cell, (n, _) in a.cells.items():
            by_cell[cell] += n
    assert by_cell == Counter(c.dims for c in clicks)
    day = [a for a in aggregates if a.granularity == "day"]
    assert all(a.humans for a in day) and sum(a.clicks for a in day) == len(clicks)
