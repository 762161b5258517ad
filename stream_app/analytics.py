"""``GET /api/analytics`` parameters (docs/analytics.md) validated into a ``Plan``: pure, framework-free.

Every wrong parameter raises ``BadQueryError`` naming it, with a reason safe to show; unknown and repeated
parameters are refused too, so a typo never silently answers another question. The work a query may cause
is bounded: at most ``MAX_BUCKETS`` buckets, ``MAX_WINDOWS`` windows read per link, ``MAX_VALUES`` values
per filter, ``MAX_FILTER_LENGTH`` characters in all filters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from stream_app import timeframe
from stream_app.aggregation import DIMENSIONS
from stream_app.errors import BadQueryError
from stream_app.filter_values import normalise
from stream_app.timeframe import BUCKET_MS, INTERVALS, Source
from stream_app.windows import Granularity

GROUP_BY = {
    "count": None,
    "timeseries": None,
    "countries": "country",
    "continents": "continent",
    "regions": "region",
    "cities": "city",
    "devices": "device",
    "browsers": "browser",
    "os": "os",
    "referers": "referer",
    "rules": "rule",
    "top_links": None,
    "top_urls": "url",
}
"""Every ``groupBy`` value, with the dimension it groups by (None for the others)."""

FILTERS = ("link", *DIMENSIONS)
"""The filter parameters: comma lists, ``-X`` excludes X."""

BOTS = ("exclude", "only", "all")
EVENTS = ("clicks",)
"""What ``event`` may name: the events recorded (Dub's default, ``clicks``)."""
DUB_PARAMETERS = ("event", "domain", "key")
"""Dub's names, accepted so its clients work: ``event=clicks``; ``key`` (a slug, with its short ``domain``
optional) for ``link``."""
_DOMAIN = re.compile(r"[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})*(:[0-9]{1,5})?")
GRANULARITIES = tuple(BUCKET_MS)

PARAMETERS = (
    "groupBy",
    "interval",
    "start",
    "end",
    "timezone",
    "granularity",
    *FILTERS,
    "bots",
    "limit",
    *DUB_PARAMETERS,
)
"""Every parameter ``parse`` accepts (the OpenAPI document is tested against it)."""

INTERNAL = ("scope",)
"""Accepted beside ``PARAMETERS``: ``scope=local`` asks one worker for its own part (see views)."""

DEFAULTS = {"groupBy": "count", "interval": "24h", "timezone": "UTC", "bots": "exclude", "limit": "100"}

MAX_BUCKETS = 5_000
"""Most buckets a range may hold (a year of days, three days of minutes)."""
MAX_WINDOWS = 50_000
"""Most windows a query may read per link and partition."""
MAX_VALUES = 100
"""Most values one filter may list."""
MAX_VALUE_LENGTH = 512
"""Longest value a filter may hold (cities, referers, URLs)."""
MAX_FILTER_LENGTH = 4_096
"""Most characters all filters together may hold, so the plan forwarded to other workers stays well inside
an HTTP request line (8 KiB in aiohttp)."""
MAX_LIMIT = 1_000

EARLIEST_MS = 0
LATEST_MS = int(datetime(9000, 1, 1, tzinfo=UTC).timestamp() * 1000)

_ZONE_NAME = re.compile(r"[A-Za-z0-9_+-]{1,32}(/[A-Za-z0-9_+-]{1,32}){0,3}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Filter:
    """One filter parameter: a value must be in ``include`` (when not empty) and not in ``exclude``."""

    include: frozenset[str]
    exclude: frozenset[str]

    def admits(self, value: str) -> bool:
        """True when ``value`` passes."""
        return (not self.include or value in self.include) and value not in self.exclude

    def admits_link(self, link_id: str, slug: str | None) -> bool:
        """True when a link passes, named by its id or its slug (``link=shoes,-<id>``)."""
        named = {link_id} if slug is None else {link_id, slug}
        return (not self.include or not named.isdisjoint(self.include)) and named.isdisjoint(self.exclude)


@dataclass(frozen=True, slots=True)
class Plan:
    """A validated analytics query."""

    group_by: str
    granularity: str
    zone: ZoneInfo
    edges: tuple[int, ...]
    """Bucket edges, UTC ms: bucket ``i`` is ``[edges[i], edges[i + 1])``."""
    source: Source
    bots: str
    limit: int
    links: Filter | None
    dimensions: tuple[tuple[int, Filter], ...]
    """(index in ``DIMENSIONS``, filter) for each dimension filter given."""
    interval: str | None

    @property
    def start_ms(self) -> int:
        """The range's start (a bucket edge)."""
        return self.edges[0]

    @property
    def end_ms(self) -> int:
        """The range's exclusive end (a bucket edge)."""
        return self.edges[-1]

    @property
    def dimension(self) -> int | None:
        """Index in ``DIMENSIONS`` of the grouping dimension, if any."""
        name = GROUP_BY[self.group_by]
        return None if name is None else DIMENSIONS.index(name)

    @property
    def answers_uniques(self) -> bool:
        """True when the sketches answer ``uniques``: not grouped or filtered by a dimension."""
        return not self.dimensions and self.group_by in ("count", "timeseries", "top_links")

    def forwarded(self) -> dict[str, str]:
        """The parameters that make another worker plan exactly this query (times pinned, no preset)."""
        params = {
            "groupBy": self.group_by,
            "start": timeframe.iso(self.start_ms),
            "end": timeframe.iso(self.end_ms),
            "timezone": self.zone.key,
            "granularity": self.granularity,
            "bots": self.bots,
            "limit": str(self.limit),
        }
        if self.links is not None:
            params["link"] = _unparse(self.links)
        for index, dim_filter in self.dimensions:
            params[DIMENSIONS[index]] = _unparse(dim_filter)
        return params


def _unparse(dim_filter: Filter) -> str:
    return ",".join([*sorted(dim_filter.include), *(f"-{value}" for value in sorted(dim_filter.exclude))])


def parse(items: Iterable[tuple[str, str]], windows: Sequence[Granularity], now_ms: int) -> Plan:
    """Validate query parameters (name, value pairs) into a plan over the worker's ``windows``.

    Raises:
        BadQueryError: a parameter is unknown, repeated, or wrong; ``range`` when they do not fit together.
    """
    params = _single(items)
    if params.get("scope", "local") != "local":
        raise BadQueryError("scope", "'scope' can only be 'local' (one worker's own part)")
    group_by = _choice(params, "groupBy", tuple(GROUP_BY))
    bots = _choice(params, "bots", BOTS)
    zone = parse_zone(params.get("timezone", DEFAULTS["timezone"]))
    limit = parse_limit(params.get("limit", DEFAULTS["limit"]))
    budget = 0
    for name in FILTERS:
        budget += len(params.get(name, ""))
        if budget > MAX_FILTER_LENGTH:
            raise BadQueryError(name, f"the filters hold more than {MAX_FILTER_LENGTH} characters together")
    if params.get("event", "clicks") not in EVENTS:
        raise BadQueryError("event", f"'event' can only be {', '.join(EVENTS)}, not {params['event'][:32]!r}")
    by_key = _dub_link(params)
    links = parse_filter("link", params["link"]) if "link" in params else by_key
    dimensions = tuple(
        (index, parse_filter(name, params[name])) for index, name in enumerate(DIMENSIONS) if name in params
    )
    oldest = now_ms - max((gran.retention_ms for gran in windows), default=0)
    interval, raw_start, raw_end = _raw_range(params, zone, now_ms, oldest)
    auto = "month" if interval in timeframe.MONTHLY else timeframe.auto_granularity(raw_start, raw_end)
    granularity = params.get("granularity", auto)
    if granularity not in GRANULARITIES:
        raise BadQueryError(
            "granularity",
            f"'granularity' must be one of {', '.join(GRANULARITIES)}, not {granularity[:32]!r}",
        )
    end = timeframe.ceil(raw_end, granularity, zone)
    if interval is not None:  # the last buckets up to now: the preset counted back from the end of this one
        raw_start = timeframe.preset_start(interval, end, zone, now_ms, oldest)
    start = timeframe.floor(raw_start, granularity, zone)
    if (end - start) // BUCKET_MS[granularity] > MAX_BUCKETS + 1:  # cheap bound before building edges
        raise BadQueryError("range", f"the range holds more than {MAX_BUCKETS} {granularity} buckets")
    edges = timeframe.edges(start, end, granularity, zone, MAX_BUCKETS)
    if edges is None:
        raise BadQueryError("range", f"the range holds more than {MAX_BUCKETS} {granularity} buckets")
    source = timeframe.choose_source(edges, windows, now_ms, MAX_WINDOWS)
    if source is None:
        raise BadQueryError("range", f"the range spans more than {MAX_WINDOWS} of every window kept")
    return Plan(group_by, granularity, zone, tuple(edges), source, bots, limit, links, dimensions, interval)


def _dub_link(params: dict[str, str]) -> Filter | None:
    """Dub's ``key`` (a slug; ``domain``, the short link's host, is optional: one deployment serves one) as
    a link filter; None when neither is given."""
    if "domain" in params:
        if "key" not in params:
            raise BadQueryError("domain", "'domain' names a short link together with 'key' (its slug)")
        if not _DOMAIN.fullmatch(params["domain"]):
            raise BadQueryError("domain", f"'domain' must be a host name, not {params['domain'][:64]!r}")
    if "key" not in params:
        return None
    if "link" in params:
        raise BadQueryError("key", "give 'link' or 'key', not both")
    return parse_filter("key", params["key"])


def _single(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, value in items:
        if name not in PARAMETERS and name not in INTERNAL:
            raise BadQueryError(
                name[:64], f"unknown parameter {name[:64]!r}; accepted: {', '.join(PARAMETERS)}"
            )
        if name in params:
            raise BadQueryError(name, f"'{name}' is given more than once; give one comma list")
        params[name] = value
    return params


def _choice(params: dict[str, str], name: str, allowed: Sequence[str]) -> str:
    value = params.get(name, DEFAULTS[name])
    if value not in allowed:
        raise BadQueryError(name, f"'{name}' must be one of {', '.join(allowed)}, not {value[:32]!r}")
    return value


def parse_zone(name: str) -> ZoneInfo:
    """An IANA time zone, e.g. ``Europe/Berlin``."""
    if not _ZONE_NAME.fullmatch(name) or ".." in name:
        raise BadQueryError("timezone", f"'timezone' must be an IANA time zone name, not {name[:64]!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # IsADirectoryError for "Europe"
        raise BadQueryError("timezone", f"unknown time zone {name!r}") from exc


def parse_limit(raw: str) -> int:
    """``limit``: an integer from 1 to ``MAX_LIMIT``."""
    # isdigit() alone accepts "²" and other Unicode digits that int() refuses.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 4) or not 1 <= int(raw) <= MAX_LIMIT:
        raise BadQueryError("limit", f"'limit' must be an integer from 1 to {MAX_LIMIT}, not {raw[:16]!r}")
    return int(raw)


def parse_filter(name: str, raw: str) -> Filter:
    """A comma list of values to keep, ``-X`` for one to leave out (``country=DE,-FR``), each in the form the
    windows store it (``stream_app.filter_values``: ``country=de`` is DE, ``referer=https://www.google.com/``
    is google.com)."""
    if not raw:
        raise BadQueryError(name, f"'{name}' is empty; give values, e.g. {name}=A,-B")
    values = raw.split(",")
    if len(values) > MAX_VALUES:
        raise BadQueryError(name, f"'{name}' lists more than {MAX_VALUES} values")
    include: set[str] = set()
    exclude: set[str] = set()
    for item in values:
        excluded = item.startswith("-")
        value = item[1:] if excluded else item
        if not value or len(value) > MAX_VALUE_LENGTH or _CONTROL.search(value):
            raise BadQueryError(
                name,
                f"'{name}' values must be 1 to {MAX_VALUE_LENGTH} printable characters, not {value[:32]!r}",
            )
        (exclude if excluded else include).add(normalise(name, value))
    return Filter(frozenset(include), frozenset(exclude))


def parse_time(name: str, value: str, zone: ZoneInfo) -> int:
    """Epoch ms of an ISO 8601 time; one without an offset is read in ``zone``."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        ms = timeframe.to_ms(moment)
    except (ValueError, OverflowError) as exc:
        raise BadQueryError(name, f"'{name}' is not an ISO 8601 time in range: {value[:64]!r}") from exc
    if not EARLIEST_MS <= ms <= LATEST_MS:
        raise BadQueryError(name, f"'{name}' must be between 1970 and 9000")
    return ms


def _raw_range(
    params: dict[str, str], zone: ZoneInfo, now_ms: int, oldest_ms: int
) -> tuple[str | None, int, int]:
    if "start" in params or "end" in params:
        if "interval" in params:
            raise BadQueryError("interval", "give either 'interval' or 'start'/'end', not both")
        if "start" not in params:
            raise BadQueryError("start", "'start' is required with 'end'")
        start = parse_time("start", params["start"], zone)
        end = parse_time("end", params["end"], zone) if "end" in params else now_ms
        if end <= start:
            raise BadQueryError("range", "'end' must be after 'start'")
        return None, start, end
    interval = _choice(params, "interval", INTERVALS)
    return interval, timeframe.preset_start(interval, now_ms, zone, now_ms, oldest_ms), now_ms
