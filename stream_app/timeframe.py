"""Query time ranges in the caller's time zone: interval presets, bucket edges, which windows to read.

Pure arithmetic over epoch milliseconds (UTC) and ``zoneinfo`` zones. Buckets are the caller's: minutes,
hours, or local calendar days (23 or 25 hours long on a daylight-saving change day). The worker keeps
windows aligned to UTC; ``choose_source`` picks the window size to build the buckets from:

- the coarsest kept window whose size divides every bucket edge, when its retention covers the range
  (a day in Europe/Berlin is 23, 24 or 25 hour windows, so its edges are exact);
- otherwise the finest window whose retention covers the range, each of its windows counted in the bucket
  where it starts: the edges are then rounded to whole UTC windows, and the answer says so (a day in
  Asia/Kolkata, UTC+5:30, built from hour windows once the minute windows are gone);
- otherwise the window kept longest, and the answer says from when it holds data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from stream_app.windows import Granularity

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000

BUCKET_MS = {"minute": MINUTE_MS, "hour": HOUR_MS, "day": DAY_MS, "month": 31 * DAY_MS}
"""The bucket granularities a query may ask for, with their nominal (longest) length."""

MONTHLY = ("1y", "ytd", "all")
"""The interval presets bucketed by month unless a granularity is asked for, as Dub buckets them."""

INTERVALS = ("1h", "24h", "7d", "30d", "90d", "1y", "mtd", "qtd", "ytd", "all")

_ABSOLUTE = {"1h": timedelta(hours=1), "24h": timedelta(hours=24)}
_CALENDAR_DAYS = {"7d": 7, "30d": 30, "90d": 90, "1y": 365}


def to_local(ms: int, zone: ZoneInfo) -> datetime:
    """The wall-clock time in ``zone`` of epoch milliseconds ``ms``."""
    return datetime.fromtimestamp(ms / 1000, zone)


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime."""
    return int(moment.timestamp() * 1000)


def _midnight(day: date, zone: ZoneInfo) -> int:
    # A midnight that does not exist (a change at 00:00) resolves to the first instant of the day.
    return to_ms(datetime.combine(day, time(0), tzinfo=zone))


def floor(ms: int, granularity: str, zone: ZoneInfo) -> int:
    """The start of the bucket holding ``ms`` (a minute, hour, day or month of ``zone``'s wall clock)."""
    local = to_local(ms, zone)
    if granularity == "month":
        return _midnight(local.date().replace(day=1), zone)
    if granularity == "day":
        return _midnight(local.date(), zone)
    if granularity == "hour":
        return to_ms(local.replace(minute=0, second=0, microsecond=0))
    return to_ms(local.replace(second=0, microsecond=0))


def next_edge(edge: int, granularity: str, zone: ZoneInfo) -> int:
    """The start of the bucket after the one starting at ``edge``."""
    if granularity == "month":
        first = to_local(edge, zone).date().replace(day=1)
        return _midnight(first.replace(year=first.year + first.month // 12, month=first.month % 12 + 1), zone)
    if granularity == "day":
        return _midnight(to_local(edge, zone).date() + timedelta(days=1), zone)
    return edge + BUCKET_MS[granularity]  # minutes and hours are fixed lengths of absolute time


def ceil(ms: int, granularity: str, zone: ZoneInfo) -> int:
    """``ms`` when it is a bucket edge, else the start of the next bucket."""
    start = floor(ms, granularity, zone)
    return start if start == ms else next_edge(start, granularity, zone)


def edges(start_ms: int, end_ms: int, granularity: str, zone: ZoneInfo, most: int) -> list[int] | None:
    """Bucket edges from ``start_ms`` to ``end_ms`` (both edges), or None past ``most`` buckets."""
    found = [start_ms]
    while found[-1] < end_ms:
        if len(found) > most:
            return None
        found.append(next_edge(found[-1], granularity, zone))
    return found


def preset_start(interval: str, end_ms: int, zone: ZoneInfo, now_ms: int, oldest_ms: int) -> int:
    """The raw start of an interval preset ending at ``end_ms`` (before rounding to a bucket).

    ``1h``/``24h`` are absolute durations; ``7d`` ... ``1y`` are calendar days of ``zone``; ``mtd``,
    ``qtd``, ``ytd`` start at the local start of the month, quarter or year of ``now_ms``; ``all`` at
    ``oldest_ms``, the oldest data the worker keeps.
    """
    if interval in _ABSOLUTE:
        return end_ms - int(_ABSOLUTE[interval].total_seconds() * 1000)
    if interval in _CALENDAR_DAYS:
        local_end = to_local(end_ms, zone).replace(tzinfo=None)
        return to_ms((local_end - timedelta(days=_CALENDAR_DAYS[interval])).replace(tzinfo=zone))
    today = to_local(now_ms, zone).date()
    if interval == "mtd":
        return _midnight(today.replace(day=1), zone)
    if interval == "qtd":
        return _midnight(today.replace(month=(today.month - 1) // 3 * 3 + 1, day=1), zone)
    if interval == "ytd":
        return _midnight(today.replace(month=1, day=1), zone)
    if interval == "all":
        return oldest_ms
    raise ValueError(f"not an interval: {interval!r}")


def auto_granularity(start_ms: int, end_ms: int) -> str:
    """The bucket size for a range, as Dub chooses it: minutes up to 2 hours, hours up to 3 days, days."""
    span = end_ms - start_ms
    if span <= 2 * HOUR_MS:
        return "minute"
    if span <= 3 * DAY_MS:
        return "hour"
    return "day"


@dataclass(frozen=True, slots=True)
class Source:
    """The windows a query reads: those of ``granularity`` starting in the query's range.

    ``rounded`` is True when some bucket edge is not a multiple of the window size, so each window is counted
    in the bucket where it starts. ``data_from_ms`` is set when the windows kept start after the range does.
    """

    granularity: str
    size_ms: int
    rounded: bool
    data_from_ms: int | None


def choose_source(
    bucket_edges: Sequence[int], windows: Sequence[Granularity], now_ms: int, max_windows: int
) -> Source | None:
    """The windows to build the buckets from (see the module docstring); None when all are too many."""
    start, end = bucket_edges[0], bucket_edges[-1]
    fitting = [gran for gran in windows if (end - start) // gran.size_ms <= max_windows]
    if not fitting:
        return None

    def kept_from(gran: Granularity) -> int:
        return now_ms - gran.retention_ms

    def exact(gran: Granularity) -> bool:
        return all(edge % gran.size_ms == 0 for edge in bucket_edges)

    covering = [gran for gran in fitting if kept_from(gran) <= start]
    exact_covering = [gran for gran in covering if exact(gran)]
    if exact_covering:
        chosen = max(exact_covering, key=lambda gran: gran.size_ms)
    elif covering:
        chosen = min(covering, key=lambda gran: gran.size_ms)
    else:
        chosen = max(fitting, key=lambda gran: (gran.retention_ms, exact(gran), -gran.size_ms))
    data_from = kept_from(chosen)
    return Source(
        chosen.name,
        chosen.size_ms,
        rounded=not exact(chosen),
        data_from_ms=data_from if data_from > start else None,
    )


def iso(ms: int, zone: ZoneInfo | None = None) -> str:
    """ISO 8601 of ``ms``: ``Z`` in UTC, else with ``zone``'s offset at that time."""
    if zone is None or zone.key == "UTC":
        return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")
    return to_local(ms, zone).isoformat()
