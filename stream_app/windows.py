"""Event-time tumbling windows and per-partition watermarks: pure arithmetic, no framework.

Times are epoch milliseconds (UTC). A window ``[start, start + size)`` closes when the watermark reaches its
end; the watermark of a partition is the highest event time seen minus the grace period, and it advances with
the wall clock while the partition is idle, so a quiet stream still closes its windows.

Event time comes from outside (any producer, any writer to the topic), so it is bounded: an event more than
``max_skew_ms`` ahead of the wall clock is not admitted and never moves a watermark (one click dated 9999
would otherwise close every window of its partition for good).
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
    """The event-time watermark of one partition.

    Args:
        grace_ms: how late an event may arrive and still count in its window.
        idle_ms: after this long without events, the watermark follows the wall clock (minus grace).
        max_skew_ms: an event time further than this ahead of the wall clock is not admitted.
        max_event_ms: the highest event time seen (restored from state after a restart).
        value_ms: the current watermark; it never goes back.
        last_seen_wall_ms: wall-clock time the last event arrived, or the partition was first ticked.
    """

    grace_ms: int
    idle_ms: int
    max_skew_ms: int = DEFAULT_MAX_SKEW_MS
    max_event_ms: int | None = None
    value_ms: int = 0
    last_seen_wall_ms: int | None = None

    def admits(self, event_ms: int, wall_ms: int) -> bool:
        """False for an event time more than ``max_skew_ms`` ahead of ``wall_ms``: it must not be counted."""
        return event_ms - wall_ms <= self.max_skew_ms

    def observe(self, event_ms: int, wall_ms: int) -> None:
        """Take an event's time into account (call after deciding whether the event is late).

        An event the watermark does not admit is ignored: neither the watermark nor idleness moves.
        """
        if not self.admits(event_ms, wall_ms):
            return
        if self.max_event_ms is None or event_ms > self.max_event_ms:
            self.max_event_ms = event_ms
            self.value_ms = max(self.value_ms, event_ms - self.grace_ms)
        self.last_seen_wall_ms = wall_ms

    def tick(self, wall_ms: int) -> int:
        """Advance with the wall clock when the partition has been idle; return the watermark."""
        if self.last_seen_wall_ms is None:
            self.last_seen_wall_ms = wall_ms  # idleness counts from when we started watching
        elif wall_ms - self.last_seen_wall_ms >= self.idle_ms:
            self.value_ms = max(self.value_ms, wall_ms - self.grace_ms)
        return self.value_ms

    def heal(self, wall_ms: int) -> bool:
        """Bring back a watermark poisoned before event times were bounded (restored from old state).

        Returns True when the watermark was beyond what ``wall_ms`` admits and was set back to the wall clock
        minus grace; windows closed meanwhile stay closed.
        """
        if self.admits(self.value_ms, wall_ms) and (
            self.max_event_ms is None or self.admits(self.max_event_ms, wall_ms)
        ):
            return False
        self.max_event_ms = wall_ms
        self.value_ms = wall_ms - self.grace_ms
        return True
