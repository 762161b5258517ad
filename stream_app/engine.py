"""One source partition's windowed state: fold batches in, close windows, expire them, answer reads.

Framework-free: rows live in a ``RowStore`` (the Faust table in the worker, a dict in tests), and what must
leave the partition (final aggregates, late clicks) is returned for the caller to send. The clocks are passed
in: the worker's wall clock, and the producer's clock of each batch (the Kafka timestamp of its records),
which alone moves the watermark (``stream_app.windows``).

A closed window's aggregates are sent first and recorded as emitted after (``mark_emitted``): a crash in
between sends them again after the restart (same keys and values; the aggregates topic is compacted), and
never loses them. A window's rows are deleted at expiry only once its aggregates are recorded as emitted.

A late click (its window closed) is counted in its window while the window is kept (within its retention):
the closed window's rows are read back from the store, amended, and let go of again once its aggregates
have been sent again (the meta row lists the amended windows until then). Only a click for a window past
its retention is returned as late (``Output.late``). On-time clicks never take that path.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from schemas.aggregates import WindowAggregate
from stream_app.aggregation import BOT_SHIFT, CLICK_MASK, MAX_CELLS, UNKNOWN_COUNTRY, Click, Row, bucket_of
from stream_app.folding import Batch, fold
from stream_app.rows import RowLog, RowStore
from stream_app.windows import DEFAULT_MAX_SKEW_MS, Granularity, Watermark


@dataclass(frozen=True, slots=True)
class FutureClick:
    """A click whose event time was too far ahead of the wall clock: not counted, set aside."""

    click: Click
    ahead_ms: int
    """How far its event time was ahead of the worker's wall clock."""
    max_skew_ms: int

    @property
    def reason(self) -> str:
        """Why it was set aside, for the dead-letter header."""
        return (
            f"event time {self.click.timestamp_ms} ms is {self.ahead_ms} ms ahead of the worker clock "
            f"(at most {self.max_skew_ms} ms allowed)"
        )


@dataclass(slots=True)
class Output:
    """What a step produced for the world outside the partition."""

    aggregates: list[WindowAggregate] = field(default_factory=list)
    """Final aggregates of windows that closed: send them, then ``PartitionEngine.mark_emitted``."""
    closing: list[tuple[str, int]] = field(default_factory=list)
    """(granularity, window start) of the windows whose aggregates these are."""
    resent: list[tuple[str, int, frozenset[str]]] = field(default_factory=list)
    """(granularity, window start, links) of closed windows whose amended links' aggregates are sent again."""
    expiring: list[tuple[str, int]] = field(default_factory=list)
    """(granularity, window start) of the windows past retention, forgotten by ``mark_emitted``."""
    late: list[tuple[Click, tuple[str, ...]]] = field(default_factory=list)
    """Clicks for windows past their retention (not counted there), with those windows' granularities."""
    future: list[FutureClick] = field(default_factory=list)
    amending: int = 0
    """(click, granularity) pairs counted in windows that had closed: those windows' aggregates are in
    ``aggregates`` again, amended."""
    amended_windows: int = 0
    replayed: int = 0
    closed_windows: int = 0
    expired_windows: int = 0


def meta_key(partition: int) -> str:
    """Return the key of a partition's meta row."""
    return f"meta|{partition}"


def windows_key(partition: int, granularity: str) -> str:
    """Return the key of a partition's list of window starts of one granularity (written on change)."""
    return f"windows|{partition}|{granularity}"


class PartitionEngine:
    """Windowed aggregation of one source partition.

    Args:
        partition: the source partition; every row written here belongs to it.
        store: where rows live (must already hold what was recovered for this partition).
        granularities: the window sizes to count in.
        grace_ms: lateness allowed before a window closes.
        idle_ms: idle time after which the watermark follows the wall clock.
        max_skew_ms: a click whose event time is further ahead of the wall clock is not counted; it is
            returned in ``Output.future``. A producer clock further ahead moves no watermark.
        buckets: rows per window and partition (links are spread over them).
        max_cells: most cells per link and window (see ``stream_app.folding.merge``).

    Per batch, the work grows with the clicks and the windows they touch, not with the windows retained:
    window starts are kept sorted, closing starts at the earliest window not yet emitted, expiry at the
    oldest, and the lists of window starts are written only when a window comes or goes.
    """

    def __init__(
        self,
        partition: int,
        store: RowStore,
        granularities: Sequence[Granularity],
        *,
        grace_ms: int,
        idle_ms: int,
        buckets: int,
        max_skew_ms: int = DEFAULT_MAX_SKEW_MS,
        max_cells: int = MAX_CELLS,
    ) -> None:
        self.partition = partition
        self._max_cells = max_cells
        self._store = store
        self._grans = {gran.name: gran for gran in granularities}
        self._buckets = buckets
        meta = store.get(meta_key(partition)) or {}
        # State written before the producer's clock drove watermarks holds "max" (the highest event time)
        # instead of "clock": its watermark may be ahead of the wall clock, moved by a tenant's clicks.
        self.watermark = Watermark(
            grace_ms=grace_ms,
            idle_ms=idle_ms,
            max_skew_ms=max_skew_ms,
            max_clock_ms=meta.get("clock"),
            value_ms=meta.get("wm", 0),
            event_time_driven="wm" in meta and "clock" not in meta,
        )
        self._emitted: dict[str, int] = {name: meta.get("emitted", {}).get(name, 0) for name in self._grans}
        # Closed windows that late clicks amended and whose aggregates are still to be sent again (kept in
        # the meta row: a crash before they are sent sends them after the restart).
        self._amended: dict[str, dict[int, set[str]]] = {
            name: {start: set(links) for start, links in meta.get("amended", {}).get(name, ())}
            for name in self._grans
        }
        # Window starts, sorted; rows before the split into windows|... keys kept them in the meta row.
        self._windows: dict[str, list[int]] = {
            name: sorted(store.get(windows_key(partition, name)) or meta.get("windows", {}).get(name, []))
            for name in self._grans
        }
        if "windows" in meta:  # move the lists out of the meta row once
            for name in self._grans:
                self._save_windows(name)
        self._ordered = tuple(sorted(granularities, key=lambda gran: gran.size_ms))
        # Rows of open windows, as last written: this engine is their only writer while it lives.
        self._rows = RowLog(partition, store, max_cells=max_cells)

    def process(self, clicks: Sequence[Click], wall_ms: int, *, clock_ms: int | None) -> Output:
        """Count a batch of this partition's clicks (in offset order), then close and expire windows.

        Each click counts in the windows of its event time, unless they closed (then it is late). The
        watermark then moves to ``clock_ms``, the producer's clock of the batch (the highest Kafka
        timestamp of its records; None when they carry none), minus grace: the event times a batch
        carries never move it, so a tenant's backfill dated ahead closes no one's windows. Clicks from too
        far in the future are not counted and come back in ``Output.future``.
        """
        self._heal(wall_ms)
        mark = self.watermark
        latest = max((click.timestamp_ms for click in clicks), default=None)
        future: list[FutureClick] = []
        if latest is not None and not mark.admits(latest, wall_ms):
            future = [
                FutureClick(click, click.timestamp_ms - wall_ms, mark.max_skew_ms)
                for click in clicks
                if not mark.admits(click.timestamp_ms, wall_ms)
            ]
            clicks = [click for click in clicks if mark.admits(click.timestamp_ms, wall_ms)]
        rows = self._rows
        # Every batch is checked against each row's own applied offset. Skipping the check for a batch
        # above the meta row's highest offset ("hi") relied on meta and rows being restored together; a
        # worker restarted on its own RocksDB after SIGKILL can hold a row written locally whose changelog
        # record was lost while the changelog replay sets meta back, and the unchecked replay then counted
        # clicks twice (seen on Kafka).
        replay = bool(clicks)
        batch: Batch = fold(
            clicks,
            self._ordered,
            self.watermark.value_ms,
            self._buckets,
            rows.applied if replay else None,
        )
        added: set[str] = set()
        for gran, start, _bucket in batch.deltas:
            starts = self._windows[gran]
            if not starts or starts[-1] < start:
                starts.append(start)
                added.add(gran)
            else:
                at = bisect_left(starts, start)
                if starts[at] != start:
                    starts.insert(at, start)
                    added.add(gran)
        # Windows are listed before their rows are written: a replay skips rows that applied its clicks
        # already, so a window whose rows outlived its listing (a crash, or a recovery stopping short of
        # the changelog's end) would never be listed again.
        for name in added:
            self._save_windows(name)
        for name, start, link_id in batch.amended:
            self._amended[name].setdefault(start, set()).add(link_id)
        # Stored forms shared by the batch's windows (``rows.encode_delta``). A bucket's windows that hold
        # the same clicks come one after the other (the fold adds a fine delta to each coarser window at
        # once), so the store, which remembers the value it last encoded, encodes their segment once.
        encoded: dict[Any, Any] = {}
        for (gran, start, bucket), delta in batch.deltas.items():
            rows.apply(gran, start, bucket, delta, encoded)
        if clock_ms is not None:  # the producer's clock, not the clicks' event time, moves the watermark
            self.watermark.observe(clock_ms, wall_ms)
        output = self._closing(wall_ms)
        output.late = batch.late
        output.future = future
        output.amending = batch.amending
        output.replayed = batch.replayed
        self._save_meta()
        return output

    def tick(self, wall_ms: int) -> Output:
        """Let the wall clock advance an idle partition's watermark; close and expire windows."""
        before = self.watermark.value_ms
        healed = self._heal(wall_ms)
        output = self._closing(wall_ms)
        if healed or self.watermark.value_ms != before:
            self._save_meta()
        return output

    def mark_emitted(self, output: Output) -> None:
        """Record that ``output``'s aggregates were sent: their windows are emitted; expired ones go.

        Call it only once the aggregates are acknowledged; until then, every step returns them again.
        """
        if not (output.closing or output.expiring or output.resent):
            return
        gone: set[str] = set()
        for name, start in output.closing:
            self._emitted[name] = max(self._emitted[name], self._grans[name].end(start))
            self._amended[name].pop(start, None)
            self._rows.seal(name, start, range(self._buckets))  # rewritten whole, and out of memory
        for name, start, links in output.resent:
            left = self._amended[name].get(start, set()) - links  # amended again meanwhile: still to send
            if left:
                self._amended[name][start] = left
            else:
                self._amended[name].pop(start, None)
            self._rows.seal(name, start, {bucket_of(link_id, self._buckets) for link_id in links})
        for name, start in output.expiring:
            self._amended[name].pop(start, None)
            self._rows.drop(name, start, range(self._buckets))
            starts = self._windows[name]
            at = bisect_left(starts, start)
            if at < len(starts) and starts[at] == start:
                del starts[at]
                gone.add(name)
        for name in gone:
            self._save_windows(name)
        self._save_meta()

    def _heal(self, wall_ms: int) -> bool:
        """Set back a watermark that old state left ahead (``Watermark.heal``)."""
        if not self.watermark.heal(wall_ms):
            return False
        value = self.watermark.value_ms
        # Windows ending after the healed watermark are open again: their aggregates are still to come.
        self._emitted = {name: min(end, value) for name, end in self._emitted.items()}
        return True

    def windows(self, granularity: str, from_ms: int, to_ms: int) -> Iterator[tuple[int, Row]]:
        """Yield (window start, row) for this partition's windows starting in ``[from_ms, to_ms)``."""
        gran = self._grans[granularity]
        starts = self._windows[granularity]
        for start in starts[bisect_left(starts, from_ms) : bisect_left(starts, to_ms)]:
            if not gran.is_expired(start, self.watermark.value_ms):
                for bucket in range(self._buckets):
                    found = self._rows.peek(granularity, start, bucket)
                    if found is not None:
                        yield start, found

    def window_count(self) -> int:
        """Return how many windows this partition holds (open, or closed within retention)."""
        return sum(len(starts) for starts in self._windows.values())

    def is_closed(self, granularity: str, start_ms: int) -> bool:
        """True when the window has closed (its counts are final)."""
        return self._grans[granularity].is_closed(start_ms, self.watermark.value_ms)

    def _closing(self, wall_ms: int) -> Output:
        """Return the aggregates of closed windows not yet emitted, and the windows past retention."""
        output = Output()
        watermark = self.watermark.tick(wall_ms)
        for name, gran in self._grans.items():
            starts = self._windows[name]
            # Amended closed windows first: their amended links' aggregates again, the late clicks counted.
            for start, links in sorted(self._amended[name].items()):
                if start + gran.size_ms <= self._emitted[name] and not gran.is_expired(start, watermark):
                    output.aggregates.extend(self._aggregates(gran, start, links))
                    output.resent.append((name, start, frozenset(links)))
                    output.amended_windows += 1
            # Not yet emitted: windows ending after the emitted mark, i.e. starting after mark - size.
            for start in starts[bisect_left(starts, self._emitted[name] - gran.size_ms + 1) :]:
                if not gran.is_closed(start, watermark):
                    break
                output.aggregates.extend(self._aggregates(gran, start))
                output.closing.append((name, start))
                output.closed_windows += 1
            for start in starts:
                if not gran.is_expired(start, watermark):
                    break
                output.expiring.append((name, start))
                output.expired_windows += 1
        return output

    def _aggregates(
        self, gran: Granularity, start: int, only: set[str] | None = None
    ) -> Iterable[WindowAggregate]:
        """The window's aggregates: of every link, or of the links ``only`` names."""
        count = self._buckets
        buckets = range(count) if only is None else sorted({bucket_of(link, count) for link in only})
        for bucket in buckets:
            found = self._rows.peek(gran.name, start, bucket)
            if found is None:
                continue
            for link_id, link in sorted(found.links.items()):
                if only is not None and link_id not in only:
                    continue
                yield WindowAggregate(
                    granularity=gran.name,
                    window_start_ms=start,
                    window_end_ms=gran.end(start),
                    link_id=link_id,
                    account_id=link.account_id,
                    slug=link.slug,
                    clicks=link.total,
                    bot=link.bot,
                    countries={
                        (None if country == UNKNOWN_COUNTRY else country): (c.total, c.bot)
                        for country, c in sorted(link.by("country").items())
                    },
                    cells={cell: (n & CLICK_MASK, n >> BOT_SHIFT) for cell, n in link.cells.items()},
                    humans=b"" if link.humans.is_empty() else link.humans.to_bytes(),
                    bots=b"" if link.bots.is_empty() else link.bots.to_bytes(),
                    revision=max(0, found.last_offset),  # grows with every amendment of the row
                )

    def _save_meta(self) -> None:
        self._store.set(
            meta_key(self.partition),
            {
                "clock": self.watermark.max_clock_ms,
                "wm": self.watermark.value_ms,
                "emitted": dict(self._emitted),
                "amended": {
                    name: [[start, sorted(links)] for start, links in sorted(starts.items())]
                    for name, starts in self._amended.items()
                    if starts
                },
            },
        )

    def _save_windows(self, granularity: str) -> None:
        self._store.set(windows_key(self.partition, granularity), list(self._windows[granularity]))
