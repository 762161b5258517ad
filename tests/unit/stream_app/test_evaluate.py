"""Answering analytics plans from hand-built window rows, and merging workers' parts exactly."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from stream_app import evaluate
from stream_app.aggregation import DIMENSIONS, LinkCounts, Row, packed
from stream_app.analytics import parse
from stream_app.sketches import RELATIVE_STANDARD_ERROR, Uniques
from stream_app.timeframe import DAY_MS, HOUR_MS, MINUTE_MS
from stream_app.windows import Granularity

UTC_ZONE = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")
WINDOWS = (
    Granularity("minute", MINUTE_MS, DAY_MS),
    Granularity("hour", HOUR_MS, 30 * DAY_MS),
    Granularity("day", DAY_MS, 400 * DAY_MS),
)


def ms(*args: int, tz: ZoneInfo = UTC_ZONE) -> int:
    return int(datetime(*args, tzinfo=tz).timestamp() * 1000)  # type: ignore[misc]


NOW = ms(2026, 11, 28, 10, 20)


def key(**values: str) -> tuple[str, ...]:
    """A cell key: every dimension ``unknown`` unless given."""
    defaults = {"referer": "direct", "rule": "default"}
    return tuple(values.get(name, defaults.get(name, "unknown")) for name in DIMENSIONS)


def sketch(visitors: range | list[int]) -> Uniques:
    uniques = Uniques()
    for visitor in visitors:
        uniques.add(visitor)
    return uniques


def link(
    account: str,
    cells: dict[tuple[str, ...], tuple[int, int]],
    humans: Uniques | None = None,
    bots: Uniques | None = None,
    slug: str | None = None,
) -> LinkCounts:
    """A link's counts in one window: ``cells`` maps a cell key to (total, bot)."""
    return LinkCounts(
        account,
        total=sum(total for total, _ in cells.values()),
        bot=sum(bot for _, bot in cells.values()),
        cells={cell: packed(total, bot) for cell, (total, bot) in cells.items()},
        humans=humans or Uniques(),
        bots=bots or Uniques(),
        slug=slug,
    )


DE_CHROME = key(
    country="DE", continent="EU", city="Berlin", device="desktop", browser="Chrome", url="https://a/"
)
FR_SAFARI = key(
    country="FR", continent="EU", city="Paris", device="mobile", browser="Safari", url="https://a/"
)
US_BOT = key(country="US", continent="NA", device="other", browser="Googlebot", url="https://b/")


def windows_of_a_day() -> list[tuple[int, Row]]:
    """Hour windows of 2026-11-28 (UTC): link ``a`` at 09:00 and 10:00, link ``b`` at 10:00."""
    nine = Row(
        links={"a": link("acct", {DE_CHROME: (5, 0), US_BOT: (2, 2)}, sketch(range(4)), sketch([99]), "sa")}
    )
    ten = Row(
        links={
            "a": link("acct", {DE_CHROME: (1, 0), FR_SAFARI: (3, 0)}, sketch(range(2, 6)), slug="sa"),
            "b": link("acct", {FR_SAFARI: (4, 1)}, sketch(range(100, 103)), sketch([200]), "sb"),
        }
    )
    return [(ms(2026, 11, 28, 9), nine), (ms(2026, 11, 28, 10), ten)]


def answer(windows: list[tuple[int, Row]], **params: str) -> dict[str, Any]:
    plan = parse(params.items(), WINDOWS, NOW)
    part = json.loads(json.dumps(evaluate.local_part(plan, windows)))  # parts cross workers as JSON
    return evaluate.merge(plan, [part])


def test_count_splits_people_and_bots_with_uniques() -> None:
    assert answer(windows_of_a_day())["data"] == {"clicks": 12, "uniques": 9}
    assert answer(windows_of_a_day(), bots="only")["data"] == {"clicks": 3, "uniques": 2}
    assert answer(windows_of_a_day(), bots="all")["data"] == {"clicks": 15, "uniques": 11}


def test_the_answer_says_what_it_resolved() -> None:
    got = answer(windows_of_a_day())
    assert {
        k: got[k] for k in ("groupBy", "interval", "start", "end", "timezone", "granularity", "bots")
    } == {
        "groupBy": "count",
        "interval": "24h",
        "start": "2026-11-27T11:00:00Z",
        "end": "2026-11-28T11:00:00Z",
        "timezone": "UTC",
        "granularity": "hour",
        "bots": "exclude",
    }
    assert got["uniques_error"] == RELATIVE_STANDARD_ERROR
    assert (got["windows"], got["edges_rounded"], got["data_from"]) == ("hour", False, None)


def test_a_dimension_filter_counts_cells_and_leaves_uniques_unknown() -> None:
    got = answer(windows_of_a_day(), country="DE,FR")
    assert got["data"] == {"clicks": 12, "uniques": None}
    assert got["uniques_error"] is None
    assert answer(windows_of_a_day(), country="-FR")["data"]["clicks"] == 6
    assert answer(windows_of_a_day(), country="-FR", bots="all")["data"]["clicks"] == 8
    assert answer(windows_of_a_day(), browser="Safari", device="-mobile")["data"]["clicks"] == 0


def test_a_link_filter_keeps_uniques() -> None:
    assert answer(windows_of_a_day(), link="b")["data"] == {"clicks": 3, "uniques": 3}
    assert answer(windows_of_a_day(), link="-b")["data"] == {"clicks": 9, "uniques": 6}


@pytest.mark.parametrize(
    ("group_by", "name", "expected"),
    [
        ("countries", "country", {"FR": 6, "DE": 6}),
        ("continents", "continent", {"EU": 12}),
        ("cities", "city", {"Paris": 6, "Berlin": 6}),
        ("devices", "device", {"mobile": 6, "desktop": 6}),
        ("browsers", "browser", {"Safari": 6, "Chrome": 6}),
        ("regions", "region", {"unknown": 12}),
        ("os", "os", {"unknown": 12}),
        ("referers", "referer", {"direct": 12}),
        ("rules", "rule", {"default": 12}),
    ],
)
def test_grouping_by_each_dimension(group_by: str, name: str, expected: dict[str, int]) -> None:
    data = answer(windows_of_a_day(), groupBy=group_by)["data"]
    assert {entry[name]: entry["clicks"] for entry in data} == expected
    assert all(entry["uniques"] is None for entry in data)
    assert [entry["clicks"] for entry in data] == sorted((entry["clicks"] for entry in data), reverse=True)


def test_grouping_with_bots_only_and_a_filter() -> None:
    data = answer(windows_of_a_day(), groupBy="countries", bots="only")["data"]
    assert data == [
        {"country": "US", "clicks": 2, "uniques": None},
        {"country": "FR", "clicks": 1, "uniques": None},
    ]
    data = answer(windows_of_a_day(), groupBy="browsers", country="-DE", bots="all")["data"]
    assert {entry["browser"]: entry["clicks"] for entry in data} == {"Safari": 7, "Googlebot": 2}


def test_top_links_and_top_urls() -> None:
    assert answer(windows_of_a_day(), groupBy="top_links")["data"] == [
        {"link_id": "a", "slug": "sa", "clicks": 9, "uniques": 6},
        {"link_id": "b", "slug": "sb", "clicks": 3, "uniques": 3},
    ]
    assert answer(windows_of_a_day(), groupBy="top_links", limit="1", country="FR")["data"] == [
        {"link_id": "a", "slug": "sa", "clicks": 3, "uniques": None}
    ]
    assert answer(windows_of_a_day(), groupBy="top_urls", bots="all")["data"] == [
        {"url": "https://a/", "clicks": 13},
        {"url": "https://b/", "clicks": 2},
    ]


def test_a_timeseries_fills_every_bucket() -> None:
    data = answer(windows_of_a_day(), groupBy="timeseries")["data"]
    assert len(data) == 24
    assert data[0] == {"start": "2026-11-27T11:00:00Z", "clicks": 0, "uniques": 0}
    assert data[-2:] == [
        {"start": "2026-11-28T09:00:00Z", "clicks": 5, "uniques": 4},
        {"start": "2026-11-28T10:00:00Z", "clicks": 7, "uniques": 7},
    ]
    filtered = answer(windows_of_a_day(), groupBy="timeseries", browser="Chrome")["data"]
    assert [point["clicks"] for point in filtered[-2:]] == [5, 1]
    assert filtered[-1]["uniques"] is None


def test_berlin_day_buckets_split_utc_hours_at_local_midnight() -> None:
    windows = [
        (ms(2026, 11, 27, 22), Row(links={"a": link("acct", {DE_CHROME: (1, 0)})})),  # 23:00 in Berlin
        (ms(2026, 11, 27, 23), Row(links={"a": link("acct", {DE_CHROME: (2, 0)})})),  # 00:00 next day
    ]
    data = answer(windows, groupBy="timeseries", interval="7d", timezone="Europe/Berlin")["data"]
    assert [(point["start"], point["clicks"]) for point in data[-2:]] == [
        ("2026-11-27T00:00:00+01:00", 1),
        ("2026-11-28T00:00:00+01:00", 2),
    ]
    utc = answer(windows, groupBy="timeseries", interval="7d")["data"]
    assert [point["clicks"] for point in utc[-2:]] == [3, 0]


def test_windows_outside_the_range_are_not_counted() -> None:
    windows = [(ms(2026, 11, 26, 9), windows_of_a_day()[0][1]), *windows_of_a_day()]
    assert answer(windows)["data"]["clicks"] == 12


def test_parts_merge_exactly_although_groups_span_workers() -> None:
    rng = random.Random(11)
    browsers = [f"browser-{i}" for i in range(30)]
    per_worker: list[list[tuple[int, Row]]] = [[], [], []]
    expected: Counter[str] = Counter()
    start = ms(2026, 11, 28, 9)
    for index in range(90):
        cells = {}
        for browser in rng.sample(browsers, 5):
            clicks = rng.randint(1, 9)
            cells[key(browser=browser)] = (clicks, 0)
            expected[browser] += clicks
        per_worker[index % 3].append((start, Row(links={f"link-{index}": link("acct", cells)})))
    plan = parse({"groupBy": "browsers", "limit": "3"}.items(), WINDOWS, NOW)
    parts = [json.loads(json.dumps(evaluate.local_part(plan, rows))) for rows in per_worker]
    assert all(len(part["groups"]) > 3 for part in parts)  # parts carry whole groups, not their top 3
    data = evaluate.merge(plan, parts)["data"]
    assert [(entry["browser"], entry["clicks"]) for entry in data] == sorted(
        expected.items(), key=lambda item: (-item[1], item[0])
    )[:3]


def test_uniques_merge_across_workers_without_counting_a_visitor_twice() -> None:
    start = ms(2026, 11, 28, 9)
    first = [(start, Row(links={"a": link("acct", {DE_CHROME: (600, 0)}, sketch(range(600)))}))]
    second = [(start, Row(links={"b": link("acct", {DE_CHROME: (600, 0)}, sketch(range(300, 900)))}))]
    plan = parse({}.items(), WINDOWS, NOW)
    parts = [json.loads(json.dumps(evaluate.local_part(plan, rows))) for rows in (first, second)]
    data = evaluate.merge(plan, parts)["data"]
    assert data["clicks"] == 1200
    assert abs(data["uniques"] - 900) <= 3 * RELATIVE_STANDARD_ERROR * 900


def test_all_is_monthly_and_starts_at_the_first_click() -> None:
    windows = [
        (ms(2026, 7, 14), Row(links={"a": link("acct", {DE_CHROME: (3, 0)})})),
        (ms(2026, 9, 2), Row(links={"a": link("acct", {DE_CHROME: (2, 0)})})),
        (ms(2026, 11, 27), Row(links={"a": link("acct", {DE_CHROME: (4, 0)})})),
    ]
    got = answer(windows, groupBy="timeseries", interval="all")
    assert (got["granularity"], got["start"]) == ("month", "2026-07-01T00:00:00Z")
    assert [(point["start"][:7], point["clicks"]) for point in got["data"]] == [
        ("2026-07", 3),
        ("2026-08", 0),
        ("2026-09", 2),
        ("2026-10", 0),
        ("2026-11", 4),
    ]
    assert answer([], groupBy="timeseries", interval="all")["data"] == [
        {"start": "2026-11-01T00:00:00Z", "clicks": 0, "uniques": 0}
    ]
    year = answer(windows, groupBy="timeseries", interval="1y")
    assert len(year["data"]) == 12 and year["data"][0]["start"] == "2025-12-01T00:00:00Z"  # this month and 11
