"""Rows as a log: segments per batch, compaction, and reading back after a crash in between."""

from __future__ import annotations

from stream_app.aggregation import Click, Counts, dims
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
    assert again.links["a"].cells == {DE: Counts(4, 0)}
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
