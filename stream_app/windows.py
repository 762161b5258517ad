"""Event-time tumbling windows and per-partition watermarks: pure arithmetic, no framework.

Times are epoch milliseconds (UTC). A click counts in the window ``[start, start + size)`` of its event time;
the window closes when the watermark reaches its end. The watermark of a partition is the highest *producer
clock* seen minus the grace period (the Kafka timestamp of the partition's records: the time the producer
sent them, whatever event time they carry), and it advances with the wall clock while the partition is
idle, so a quiet stream still closes its windows.

Event time never moves a watermark: a tenant supplies it (batch ingest), so a tenant could otherwise close
every tenant's windows early (a batch dated 295 s ahead made all real clicks of the next minutes late).
Both times come from outside, so both are bounded: a click dated more than ``max_skew_ms`` ahead of the wall
clock is not admitted, and a producer clock that far ahead moves nothing (a click or record dated 9999 would
otherwise close every window of its partition for good).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Granularity:
    """A window size with its name and how long its windows are kept after they close."""

    name: str
    size_ms: int
    retention_ms: int

    def start(self, timestamp_ms: int) -> int:
        """Return the start of the window holding ``timestamp_ms``."""
        return timestamp_ms - timestamp_ms % self.size_ms

    def end(self, start_ms: int) -> int:
        """Return the (exclusive) end of the window starting at ``start_ms``."""
        return start_ms + self.size_ms

    def is_closed(self, start_ms: int, watermark_ms: int) -> bool:
        """True when the window starting at ``start_ms`` has closed at ``watermark_ms``."""
        return start_ms + self.size_ms <= watermark_ms

    def is_expired(self, start_ms: int, watermark_ms: int) -> bool:
        """True when the window is past its retention and can be forgotten."""
        return start_ms + self.size_ms + self.retention_ms <= watermark_ms


DEFAULT_MAX_SKEW_MS = 300_000
"""How far ahead of the wall clock an event time may be and still count (clocks drift; 5 minutes)."""

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000


@dataclass(slots=True)
class Watermark:
    """The watermark of one partition, driven by the producer's clock, never by event time.

    Args:
        grace_ms: how late an event may arrive and still count in its window.
        idle_ms: after this long without records, the watermark follows the wall clock (minus grace).
        max_skew_ms: an event time or producer clock further than this ahead of the wall clock is not
            admitted.
        max_clock_ms: the highest producer clock seen (restored from state after a restart).
        value_ms: the current watermark; it never goes back.
        last_seen_wall_ms: wall-clock time the last records arrived, or the partition was first ticked.
        event_time_driven: restored from state written when event time moved watermarks: ``heal`` sets it
            back to the wall clock if it is ahead (a tenant's clicks may have put it there).
    """

    grace_ms: int
    idle_ms: int
    max_skew_ms: int = DEFAULT_MAX_SKEW_MS
    max_clock_ms: int | None = None
    value_ms: int = 0
    last_seen_wall_ms: int | None = None
    event_time_driven: bool = False

    def admits(self, time_ms: int, wall_ms: int) -> bool:
        """False for a time more than ``max_skew_ms`` ahead of ``wall_ms``: a click so dated is refused."""
        return time_ms - wall_ms <= self.max_skew_ms

    def observe(self, clock_ms: int, wall_ms: int) -> None:
        """Take the producer's clock of records that arrived into account (after deciding what is late).

        ``clock_ms`` is when the producer sent them (their Kafka timestamp), never the event time they
        carry. A clock the watermark does not admit is ignored: neither the watermark nor idleness moves.
        """
        if not self.admits(clock_ms, wall_ms):
            return
        if self.max_clock_ms is None or clock_ms > self.max_clock_ms:
            self.max_clock_ms = clock_ms
            self.value_ms = max(self.value_ms, clock_ms - self.grace_ms)
        self.last_seen_wall_ms = wall_ms

    def tick(self, wall_ms: int) -> int:
        """Advance with the wall clock when the partition has been idle; return the watermark."""
        if self.last_seen_wall_ms is None:
            self.last_seen_wall_ms = wall_ms  # idleness counts from when we started watching
        elif wall_ms - self.last_seen_wall_ms >= self.idle_ms:
            self.value_ms = max(self.value_ms, wall_ms - self.grace_ms)
        return self.value_ms

    def heal(self, wall_ms: int) -> bool:
        """Bring back a watermark poisoned in old state: by a far-future click before times were bounded,
        or by any click ahead of the wall clock while event time moved watermarks.

        Returns True when the watermark was set back to the wall clock minus grace; windows closed
        meanwhile stay closed.
        """
        legacy, self.event_time_driven = self.event_time_driven, False
        if legacy and self.value_ms > wall_ms - self.grace_ms:
            self.max_clock_ms = None
            self.value_ms = wall_ms - self.grace_ms
            return True
        if self.admits(self.value_ms, wall_ms) and (
            self.max_clock_ms is None or self.admits(self.max_clock_ms, wall_ms)
        ):
            return False
        self.max_clock_ms = wall_ms
        self.value_ms = wall_ms - self.grace_ms
        return True
