"""Folding a batch of clicks into per-row deltas, idempotently, and deltas into rows: pure functions.

The per-click work is done once, into the finest window: coarser windows' deltas are derived from the fine
deltas (their cells and visitor sets merged), so a click costs the same whatever the number of windows, and
the merge cost is per distinct cell. Clicks late for the finest window (they amend closed windows, or are
set aside past retention), and batches that may replay clicks already applied (after a crash), take the
per-window path: on-time traffic never does.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from stream_app.aggregation import (
    BOT_CLICK,
    MAX_CELLS,
    Cell,
    Click,
    LinkCounts,
    Row,
    bucket_of,
    overflow_cell,
)
from stream_app.windows import Granularity


@dataclass(slots=True)
class LinkDelta:
    """One link's counts of one batch in one window; visitors as plain sets (merged into sketches later).

    Cells count in packed ints (``aggregation.packed``), as rows do: one dict update per click.
    """

    account_id: str
    total: int = 0
    bot: int = 0
    cells: dict[Cell, int] = field(default_factory=dict)
    slug: str | None = None
    humans: set[int] = field(default_factory=set)
    bots: set[int] = field(default_factory=set)

    def add(self, click: Click) -> None:
        """Count ``click``."""
        self.total += 1
        cells = self.cells
        cell = click.dims
        if click.is_bot:
            self.bot += 1
            cells[cell] = cells.get(cell, 0) + BOT_CLICK
            if click.visitor is not None:
                self.bots.add(click.visitor)
        else:
            cells[cell] = cells.get(cell, 0) + 1
            if click.visitor is not None:
                self.humans.add(click.visitor)
        if click.slug is not None:
            self.slug = click.slug

    def absorb(self, other: LinkDelta) -> None:
        """Add ``other``'s counts (a later part of the same batch)."""
        self.total += other.total
        self.bot += other.bot
        cells = self.cells
        get = cells.get
        for cell, counts in other.cells.items():
            cells[cell] = get(cell, 0) + counts
        self.humans |= other.humans
        self.bots |= other.bots
        if other.slug is not None:
            self.slug = other.slug


@dataclass(slots=True)
class Delta:
    """Pre-aggregated counts of one batch for one row, and the last offset they cover."""

    last_offset: int = -1
    links: dict[str, LinkDelta] = field(default_factory=dict)

    def add(self, click: Click) -> None:
        """Count ``click``."""
        link = self.links.get(click.link_id)
        if link is None:
            link = self.links[click.link_id] = LinkDelta(click.account_id)
        link.add(click)
        self.last_offset = max(self.last_offset, click.offset)


@dataclass(slots=True)
class Batch:
    """The outcome of folding a batch of one partition's clicks."""

    deltas: dict[tuple[str, int, int], Delta] = field(default_factory=dict)
    """Per (granularity, window start, bucket): the counts to add to that row."""
    late: list[tuple[Click, tuple[str, ...]]] = field(default_factory=list)
    """Clicks whose window is gone (past its retention), with the granularities they were late for."""
    amended: set[tuple[str, int, str]] = field(default_factory=set)
    """(granularity, window start, link id) of the closed windows' links the batch's late clicks are
    counted in."""
    amending: int = 0
    """(click, granularity) pairs counted in a window that had closed (its aggregate is sent again)."""
    replayed: int = 0
    """(click, granularity) pairs skipped because their row had applied them already."""

    def delta(self, gran: str, start: int, bucket: int) -> Delta:
        """Return the delta of one row, created empty when new."""
        key = (gran, start, bucket)
        found = self.deltas.get(key)
        if found is None:
            found = self.deltas[key] = Delta()
        return found


AppliedOffset = Callable[[str, int, int], int]
"""Returns the last source offset applied to the row (granularity, window start, bucket), -1 for none."""


def nested(granularities: Sequence[Granularity]) -> bool:
    """True when each window size (smallest first) divides the next: every window lies in one coarser."""
    sizes = [gran.size_ms for gran in granularities]
    return all(b % a == 0 for a, b in itertools.pairwise(sizes))


def fold(
    clicks: Sequence[Click],
    granularities: Sequence[Granularity],
    watermark_ms: int,
    buckets: int,
    applied: AppliedOffset | None,
) -> Batch:
    """Pre-aggregate one partition's clicks (in offset order, ``granularities`` smallest first).

    A click at or below its row's ``applied`` offset was counted before (a replay) and is skipped; pass
    ``applied=None`` when no click of the batch can have been applied (every offset is above any row's).
    With ``applied``, the batch is folded the fast way first and checked once per row it touches; only a
    batch that may replay (after a crash) is folded again click by click and window by window. A
    click whose window had closed at ``watermark_ms`` but is kept (within its retention) is counted in it
    all the same, and the window is listed in ``Batch.amended`` (its aggregate is sent again); one whose
    window is past retention is not counted in it, and is reported as late. The watermark is fixed for the
    batch: clicks of one batch do not close windows for each other.
    """
    batch = Batch()
    if not clicks:
        return batch
    if not nested(granularities):
        _fold_each(batch, clicks, granularities, watermark_ms, buckets, applied)
    else:
        _fold_fine(batch, clicks, granularities, watermark_ms, buckets)
        if applied is not None and _may_replay(batch, clicks[0].offset, granularities, buckets, applied):
            batch = Batch()
            _fold_each(batch, clicks, granularities, watermark_ms, buckets, applied)
    last = clicks[-1].offset
    for delta in batch.deltas.values():
        delta.last_offset = last
    return batch


def _may_replay(
    batch: Batch,
    first_offset: int,
    grans: Sequence[Granularity],
    buckets: int,
    applied: AppliedOffset,
) -> bool:
    """True unless every row the batch touches (counted in, or late for) applied only offsets below its first.

    Checked per row, not per click: when it is false, no click of the batch is a replay anywhere, and the
    fine fold's outcome is the per-window path's.
    """
    if any(applied(*row) >= first_offset for row in batch.deltas):
        return True
    by_name = {gran.name: gran for gran in grans}
    return any(
        applied(name, by_name[name].start(click.timestamp_ms), bucket_of(click.link_id, buckets))
        >= first_offset
        for click, names in batch.late
        for name in names
    )


def _fold_fine(
    batch: Batch,
    clicks: Sequence[Click],
    grans: Sequence[Granularity],
    watermark_ms: int,
    buckets: int,
) -> None:
    """Fold into the finest window per click, then derive the coarser windows' deltas."""
    finest = grans[0]
    size = finest.size_ms
    # A window ending after the watermark is open, and so is every coarser window holding it.
    open_from = watermark_ms - size + 1  # the earliest open finest window starts here or later
    fine: dict[tuple[int, str], LinkDelta] = {}
    stragglers: list[Click] = []
    for click in clicks:
        ts = click.timestamp_ms
        start = ts - ts % size
        if start < open_from:
            stragglers.append(click)
            continue
        key = (start, click.link_id)
        link = fine.get(key)
        if link is None:
            link = fine[key] = LinkDelta(click.account_id)
        link.add(click)
    if stragglers:  # first: their deltas are new, so the ones shared below are never added to
        _fold_each(batch, stragglers, grans, watermark_ms, buckets, None)
    owned = {id(link) for delta in batch.deltas.values() for link in delta.links.values()}
    bucket_cache: dict[str, int] = {}
    for (start, link_id), link in fine.items():
        bucket = bucket_cache.get(link_id)
        if bucket is None:
            bucket = bucket_cache[link_id] = bucket_of(link_id, buckets)
        batch.delta(finest.name, start, bucket).links[link_id] = link
        for gran in grans[1:]:
            links = batch.delta(gran.name, gran.start(start), bucket).links
            coarse = links.get(link_id)
            if coarse is None:
                # Most links have one fine delta per coarse window in a batch: share it, read-only.
                links[link_id] = link
                continue
            if id(coarse) not in owned:  # shared so far: copy before adding to it
                coarse = links[link_id] = _copy(coarse)
                owned.add(id(coarse))
            coarse.absorb(link)


def _copy(link: LinkDelta) -> LinkDelta:
    copy = LinkDelta(link.account_id)
    copy.absorb(link)
    return copy


def _fold_each(
    batch: Batch,
    clicks: Iterable[Click],
    grans: Sequence[Granularity],
    watermark_ms: int,
    buckets: int,
    applied: AppliedOffset | None,
) -> None:
    """Fold each click into each of its windows, checking replays and lateness per window."""
    for click in clicks:
        late: list[str] = []
        bucket = bucket_of(click.link_id, buckets)
        for gran in grans:
            start = gran.start(click.timestamp_ms)
            if applied is not None and click.offset <= applied(gran.name, start, bucket):
                batch.replayed += 1
                continue
            if gran.is_closed(start, watermark_ms):
                if gran.is_expired(start, watermark_ms):  # gone: set aside, counted as late
                    late.append(gran.name)
                    continue
                batch.amended.add((gran.name, start, click.link_id))  # closed but kept: it amends it
                batch.amending += 1
            batch.delta(gran.name, start, bucket).add(click)
        if late:
            batch.late.append((click, tuple(late)))


def merge(row: Row, delta: Delta, max_cells: int = MAX_CELLS) -> None:
    """Add ``delta``'s counts to ``row`` and move the row's applied offset forward.

    A link keeps at most ``max_cells`` cells: past it, a new cell counts in its overflow cell (high-
    cardinality values replaced by ``OTHER``), so totals and the other dimensions stay exact.
    """
    links = row.links
    for link_id, added in delta.links.items():
        link = links.get(link_id)
        if link is None:
            link = links[link_id] = LinkCounts(added.account_id)
        if added.slug is not None:
            link.slug = added.slug
        link.total += added.total
        link.bot += added.bot
        cells = link.cells
        get = cells.get
        room = max_cells - len(cells)
        for cell, counts in added.cells.items():
            mine = get(cell)
            if mine is not None:
                cells[cell] = mine + counts
            elif room > 0:
                cells[cell] = counts
                room -= 1
            else:
                other = overflow_cell(cell)
                cells[other] = get(other, 0) + counts
        if added.humans:
            link.humans.add_all(added.humans)
        if added.bots:
            link.bots.add_all(added.bots)
    row.last_offset = max(row.last_offset, delta.last_offset)
