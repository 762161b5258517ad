"""Rows as a log: segments per batch, compaction, and reading back after a crash in between."""

from __future__ import annotations

from stream_app.aggregation import Click, dims, packed
from stream_app.folding import Delta
from stream_app.rows import RowLog
from stream_app.testing import DictRowStore

DE = dims(country="DE")


def delta(offset: int, link: str = "a", visitor: int = 1) -> Delta:
    out = Delta()
    out.add(Click(offset, 0, link, "acct", DE, False, None, visitor))
    return out


def test_a_batch_appends_a_segment_and_the_row_is_rewritten_every_n() -> None:
    store = DictRowStore()
    rows = RowLog(0, store, max_cells=10, segments_per_row=3)
    rows.apply("minute", 0, 1, delta(0))
    rows.apply("minute", 0, 1, delta(1))
    assert sorted(store.data) == ["minute|0|0|1|0", "minute|0|0|1|1"]
    rows.apply("minute", 0, 1, delta(2))  # the third: compacted into the base
    assert sorted(store.data) == ["minute|0|0|1"]
    rows.apply("minute", 0, 1, delta(3, visitor=2))
    again = RowLog(0, store, max_cells=10).peek("minute", 0, 1)
    assert again is not None
    assert again.last_offset == 3
    assert again.links["a"].cells == {DE: packed(4, 0)}
    assert round(again.links["a"].humans.estimate()) == 2


def test_segments_already_in_the_base_are_skipped() -> None:
    # A crash after a base was rewritten, before its segments were deleted.
    store = DictRowStore()
    rows = RowLog(0, store, max_cells=10, segments_per_row=100)
    rows.apply("hour", 0, 0, delta(0))
    rows.apply("hour", 0, 0, delta(1))
    stale = dict(store.data)
    rows.seal("hour", 0, [0])
    store.data.update(stale)  # the deletions never happened
    read = RowLog(0, store, max_cells=10).peek("hour", 0, 0)
    assert read is not None and read.links["a"].total == 2


def test_dropping_a_window_deletes_base_and_segments() -> None:
    store = DictRowStore()
    rows = RowLog(0, store, max_cells=10, segments_per_row=2)
    for offset in range(3):
        rows.apply("day", 0, 0, delta(offset))
    assert store.data
    rows.drop("day", 0, [0])
    assert store.data == {}


class CountingStore(DictRowStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get(self, key: str) -> object | None:
        self.reads += 1
        return super().get(key)


def test_a_sealed_rows_applied_offset_is_answered_without_reading_the_row_back() -> None:
    store = CountingStore()
    rows = RowLog(0, store, max_cells=10)
    rows.apply("minute", 0, 0, delta(7))
    rows.seal("minute", 0, [0])
    reads = store.reads
    assert rows.applied("minute", 0, 0) == 7  # a late click's replay check
    assert store.reads == reads
    assert rows.applied("minute", 60_000, 0) == -1  # a row never written
    # Written again (a window opened again): read back whole, its clicks kept.
    rows.apply("minute", 0, 0, delta(8))
    assert rows.applied("minute", 0, 0) == 8
    again = RowLog(0, store, max_cells=10).peek("minute", 0, 0)
    assert again is not None and again.links["a"].total == 2


def test_a_dropped_row_forgets_its_applied_offset() -> None:
    rows = RowLog(0, DictRowStore(), max_cells=10)
    rows.apply("minute", 0, 0, delta(7))
    rows.seal("minute", 0, [0])
    rows.drop("minute", 0, [0])
    assert rows.applied("minute", 0, 0) == -1
