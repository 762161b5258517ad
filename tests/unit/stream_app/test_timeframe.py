"""Bucket edges in a caller's time zone, interval presets, and which windows a query reads."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from stream_app import timeframe
from stream_app.timeframe import DAY_MS, HOUR_MS, MINUTE_MS
from stream_app.windows import Granularity

BERLIN = ZoneInfo("Europe/Berlin")
KOLKATA = ZoneInfo("Asia/Kolkata")
NEW_YORK = ZoneInfo("America/New_York")
UTC_ZONE = ZoneInfo("UTC")

WINDOWS = (
    Granularity("minute", MINUTE_MS, DAY_MS),
    Granularity("hour", HOUR_MS, 30 * DAY_MS),
    Granularity("day", DAY_MS, 400 * DAY_MS),
)


def ms(*args: int, tz: ZoneInfo = UTC_ZONE) -> int:
    return int(datetime(*args, tzinfo=tz).timestamp() * 1000)  # type: ignore[misc]


def test_a_day_in_a_zone_starts_at_its_local_midnight() -> None:
    at = ms(2026, 11, 28, 23, 30)  # 00:30 on the 29th in Berlin (UTC+1)
    assert timeframe.floor(at, "day", BERLIN) == ms(2026, 11, 28, 23, 0)
    assert timeframe.floor(at, "day", UTC_ZONE) == ms(2026, 11, 28)
    assert timeframe.floor(at, "day", KOLKATA) == ms(2026, 11, 28, 18, 30)


@pytest.mark.parametrize(
    ("day", "hours"),
    [((2026, 3, 29), 23), ((2026, 10, 25), 25), ((2026, 6, 1), 24)],
    ids=["spring-forward", "fall-back", "summer"],
)
def test_berlin_days_last_23_24_or_25_hours(day: tuple[int, int, int], hours: int) -> None:
    start = ms(*day, tz=BERLIN)
    end = timeframe.next_edge(start, "day", BERLIN)
    assert end - start == hours * HOUR_MS
    assert timeframe.floor(end - 1, "day", BERLIN) == start


def test_edges_across_a_dst_change_stay_on_local_midnights() -> None:
    start = ms(2026, 3, 28, tz=BERLIN)
    end = ms(2026, 3, 31, tz=BERLIN)
    edges = timeframe.edges(start, end, "day", BERLIN, most=10)
    assert edges is not None
    assert [timeframe.to_local(edge, BERLIN).hour for edge in edges] == [0, 0, 0, 0]
    assert [b - a for a, b in pairwise(edges)] == [
        24 * HOUR_MS,
        23 * HOUR_MS,
        24 * HOUR_MS,
    ]
    assert timeframe.edges(start, end, "day", BERLIN, most=2) is None


def test_hours_in_a_half_hour_zone_start_at_half_past_utc() -> None:
    at = ms(2026, 11, 28, 10, 50)
    assert timeframe.floor(at, "hour", KOLKATA) == ms(2026, 11, 28, 10, 30)
    assert timeframe.ceil(at, "hour", KOLKATA) == ms(2026, 11, 28, 11, 30)
    assert timeframe.ceil(ms(2026, 11, 28, 10, 30), "hour", KOLKATA) == ms(2026, 11, 28, 10, 30)


def test_the_repeated_hour_of_a_fall_back_floors_to_itself() -> None:
    second_one_oclock = ms(2026, 11, 1, 6, 15)  # 01:15 EST, the second 01:15 of that night in New York
    assert timeframe.floor(second_one_oclock, "hour", NEW_YORK) == ms(2026, 11, 1, 6, 0)


def test_month_quarter_and_year_to_date_start_in_the_callers_zone() -> None:
    now = ms(2026, 8, 31, 23, 30)  # already September 1st in Berlin
    assert timeframe.preset_start("mtd", now, BERLIN, now, 0) == ms(2026, 9, 1, tz=BERLIN)
    assert timeframe.preset_start("mtd", now, UTC_ZONE, now, 0) == ms(2026, 8, 1)
    assert timeframe.preset_start("qtd", now, BERLIN, now, 0) == ms(2026, 7, 1, tz=BERLIN)
    assert timeframe.preset_start("ytd", now, NEW_YORK, now, 0) == ms(2026, 1, 1, tz=NEW_YORK)
    assert timeframe.preset_start("all", now, BERLIN, now, 1234) == 1234


def test_day_presets_count_calendar_days_and_hour_presets_absolute_time() -> None:
    end = ms(2026, 3, 30, tz=BERLIN)
    assert timeframe.preset_start("7d", end, BERLIN, end, 0) == ms(2026, 3, 23, tz=BERLIN)  # 167 hours
    assert timeframe.preset_start("24h", end, BERLIN, end, 0) == end - 24 * HOUR_MS


@pytest.mark.parametrize(
    ("span", "expected"), [(HOUR_MS, "minute"), (24 * HOUR_MS, "hour"), (7 * DAY_MS, "day")]
)
def test_granularity_follows_the_range(span: int, expected: str) -> None:
    assert timeframe.auto_granularity(0, span) == expected


def _edges(start: int, end: int, gran: str, zone: ZoneInfo) -> list[int]:
    found = timeframe.edges(start, end, gran, zone, most=1000)
    assert found is not None
    return found


def test_utc_days_read_day_windows_and_berlin_days_hour_windows() -> None:
    now = ms(2026, 11, 28, 12)
    utc_days = _edges(ms(2026, 11, 21), ms(2026, 11, 29), "day", UTC_ZONE)
    source = timeframe.choose_source(utc_days, WINDOWS, now, 50_000)
    assert source == timeframe.Source("day", DAY_MS, rounded=False, data_from_ms=None)
    berlin_days = _edges(ms(2026, 11, 21, tz=BERLIN), ms(2026, 11, 29, tz=BERLIN), "day", BERLIN)
    source = timeframe.choose_source(berlin_days, WINDOWS, now, 50_000)
    assert source == timeframe.Source("hour", HOUR_MS, rounded=False, data_from_ms=None)


def test_half_hour_zones_use_minutes_while_kept_then_say_edges_are_rounded() -> None:
    now = ms(2026, 11, 28, 12)
    today = _edges(ms(2026, 11, 28, tz=KOLKATA), ms(2026, 11, 29, tz=KOLKATA), "day", KOLKATA)
    assert timeframe.choose_source(today, WINDOWS, now + 0, 50_000) == timeframe.Source(
        "minute", MINUTE_MS, rounded=False, data_from_ms=None
    )
    week = _edges(ms(2026, 11, 21, tz=KOLKATA), ms(2026, 11, 29, tz=KOLKATA), "day", KOLKATA)
    assert timeframe.choose_source(week, WINDOWS, now, 50_000) == timeframe.Source(
        "hour", HOUR_MS, rounded=True, data_from_ms=None
    )


def test_a_range_older_than_every_retention_says_from_when_data_is_kept() -> None:
    now = ms(2026, 11, 28, 12)
    edges = _edges(ms(2025, 6, 1), ms(2026, 11, 29), "day", UTC_ZONE)
    source = timeframe.choose_source(edges, WINDOWS, now, 50_000)
    assert source == timeframe.Source("day", DAY_MS, rounded=False, data_from_ms=now - 400 * DAY_MS)


def test_no_source_when_every_window_is_too_many() -> None:
    edges = _edges(ms(2026, 1, 1), ms(2026, 11, 1), "day", UTC_ZONE)
    assert timeframe.choose_source(edges, WINDOWS[:2], ms(2026, 11, 2), 1000) is None


def test_iso_names_the_zone_offset() -> None:
    assert timeframe.iso(ms(2026, 3, 29, tz=BERLIN), BERLIN) == "2026-03-29T00:00:00+01:00"
    assert timeframe.iso(ms(2026, 3, 29), UTC_ZONE) == "2026-03-29T00:00:00Z"
    assert timeframe.iso(ms(2026, 3, 29)) == "2026-03-29T00:00:00Z"


def test_a_day_whose_midnight_does_not_exist_starts_at_its_first_instant() -> None:
    havana = ZoneInfo("America/Havana")  # clocks go from 00:00 to 01:00 on 2026-03-08
    start = ms(2026, 3, 8, tz=havana)
    assert timeframe.to_local(start, havana).hour == 1
    assert timeframe.floor(start + HOUR_MS, "day", havana) == start
    assert timeframe.next_edge(start, "day", havana) - start == 23 * HOUR_MS
    assert datetime.fromtimestamp(start / 1000, UTC).hour == 5
