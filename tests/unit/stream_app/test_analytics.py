"""``/api/analytics`` parameters: every default, every refusal, the plan they resolve to."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from stream_app import analytics
from stream_app.analytics import Filter, parse
from stream_app.errors import BadQueryError
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


NOW = ms(2026, 11, 28, 10, 20, 30)


def plan(**params: str) -> analytics.Plan:
    return parse(params.items(), WINDOWS, NOW)


def refused(items: list[tuple[str, str]]) -> BadQueryError:
    with pytest.raises(BadQueryError) as caught:
        parse(items, WINDOWS, NOW)
    assert caught.value.reason
    return caught.value


def test_defaults_are_the_last_24_hours_counted_in_utc_without_bots() -> None:
    got = plan()
    assert (got.group_by, got.granularity, got.zone.key, got.bots, got.limit) == (
        "count",
        "hour",
        "UTC",
        "exclude",
        100,
    )
    assert got.end_ms == ms(2026, 11, 28, 11)
    assert got.start_ms == ms(2026, 11, 27, 11)
    assert len(got.edges) == 25
    assert got.source.granularity == "hour"
    assert got.answers_uniques


def test_7d_in_berlin_is_seven_local_days_up_to_tomorrow() -> None:
    got = plan(interval="7d", timezone="Europe/Berlin", groupBy="timeseries")
    assert got.granularity == "day"
    assert got.end_ms == ms(2026, 11, 29, tz=BERLIN)
    assert got.start_ms == ms(2026, 11, 22, tz=BERLIN)
    assert len(got.edges) == 8
    assert got.source.granularity == "hour"
    assert not got.source.rounded


def test_mtd_in_a_zone_starts_at_the_first_of_the_local_month() -> None:
    got = parse({"interval": "mtd", "timezone": "Asia/Tokyo"}.items(), WINDOWS, ms(2026, 11, 30, 16))
    assert got.start_ms == ms(2026, 12, 1, tz=ZoneInfo("Asia/Tokyo"))


def test_1h_is_sixty_minutes() -> None:
    got = plan(interval="1h", groupBy="timeseries")
    assert (got.granularity, len(got.edges) - 1, got.source.granularity) == ("minute", 60, "minute")


def test_start_and_end_without_an_offset_are_read_in_the_timezone() -> None:
    got = plan(start="2026-11-20", end="2026-11-22", timezone="Europe/Berlin")
    assert (got.start_ms, got.end_ms, got.interval) == (
        ms(2026, 11, 20, tz=BERLIN),
        ms(2026, 11, 22, tz=BERLIN),
        None,
    )
    assert got.granularity == "hour"


def test_start_alone_runs_to_now() -> None:
    got = plan(start="2026-11-28T09:00:00Z", granularity="hour")
    assert (got.start_ms, got.end_ms) == (ms(2026, 11, 28, 9), ms(2026, 11, 28, 11))


def test_filters_take_comma_lists_with_exclusions() -> None:
    got = plan(country="DE,-FR,US", link="a", device="-other,-tablet")
    assert got.links == Filter(frozenset({"a"}), frozenset())
    assert got.dimensions == (
        (0, Filter(frozenset({"DE", "US"}), frozenset({"FR"}))),
        (4, Filter(frozenset(), frozenset({"other", "tablet"}))),
    )
    assert got.dimensions[0][1].admits("DE")
    assert not got.dimensions[0][1].admits("FR")
    assert not got.dimensions[0][1].admits("JP")
    assert got.dimensions[1][1].admits("mobile")
    assert not got.answers_uniques


def test_a_link_filter_keeps_uniques_but_a_grouping_does_not() -> None:
    assert plan(link="a,b", groupBy="top_links").answers_uniques
    assert not plan(groupBy="countries").answers_uniques


def test_forwarded_parameters_plan_the_same_query() -> None:
    first = plan(interval="7d", timezone="Europe/Berlin", groupBy="cities", country="DE,-FR", bots="all")
    again = parse(first.forwarded().items(), WINDOWS, NOW + 5 * HOUR_MS)
    assert again.edges == first.edges
    assert (again.dimensions, again.bots, again.group_by, again.zone) == (
        first.dimensions,
        "all",
        "cities",
        BERLIN,
    )


BAD: list[tuple[list[tuple[str, str]], str]] = [
    ([("groupBy", "everything")], "groupBy"),
    ([("groupBy", "")], "groupBy"),
    ([("interval", "2d")], "interval"),
    ([("bots", "some")], "bots"),
    ([("granularity", "week")], "granularity"),
    ([("granularity", "")], "granularity"),
    ([("interval", "")], "interval"),
    ([("bots", "")], "bots"),
    ([("start", "")], "start"),
    ([("limit", "0")], "limit"),
    ([("limit", "1001")], "limit"),
    ([("limit", "²")], "limit"),
    ([("limit", "-1")], "limit"),
    ([("timezone", "Mars/Olympus")], "timezone"),
    ([("timezone", "../../etc/passwd")], "timezone"),
    ([("timezone", "/etc/localtime")], "timezone"),
    ([("timezone", "Europe")], "timezone"),
    ([("timezone", "")], "timezone"),
    ([("start", "yesterday")], "start"),
    ([("start", "0001-01-01T00:00:00+14:00")], "start"),
    ([("start", "9999-12-31T00:00:00")], "start"),
    ([("end", "2026-11-28T00:00:00Z")], "start"),
    ([("start", "2026-11-28T00:00:00Z"), ("end", "2026-11-27T00:00:00Z")], "range"),
    ([("start", "2026-11-28T00:00:00Z"), ("interval", "7d")], "interval"),
    ([("start", "2020-01-01T00:00:00Z"), ("granularity", "minute")], "range"),
    ([("start", "1970-01-01T00:00:00Z"), ("end", "8999-01-01T00:00:00Z")], "range"),
    ([("country", "")], "country"),
    ([("country", "DE,,FR")], "country"),
    ([("country", "-")], "country"),
    ([("city", "x" * 513)], "city"),
    ([("referer", "a\x00b")], "referer"),
    ([("link", ",".join(str(i) for i in range(101)))], "link"),
    ([("country", "DE"), ("country", "FR")], "country"),
    ([("link", ",".join(["x" * 40] * 99)), ("country", "DE"), ("city", "x" * 100)], "city"),
    ([("account_id", "acct-other")], "account_id"),
    ([("groupby", "countries")], "groupby"),
]


@pytest.mark.parametrize(("items", "parameter"), BAD, ids=[f"{p}-{i}" for i, (_, p) in enumerate(BAD)])
def test_every_bad_parameter_is_refused_by_name(items: list[tuple[str, str]], parameter: str) -> None:
    assert refused(items).parameter == parameter


def test_reasons_do_not_echo_huge_values() -> None:
    error = refused([("groupBy", "x" * 10_000)])
    assert len(error.reason) < 300


def test_the_bounds_hold_at_their_limits() -> None:
    assert len(plan(link=",".join(str(i) for i in range(100))).links.include) == 100  # type: ignore[union-attr]
    assert plan(city="x" * 512).dimensions
    assert plan(limit="1000").limit == 1000


@pytest.mark.parametrize("interval", ["1y", "ytd", "all"])
def test_a_year_and_all_are_bucketed_by_month(interval: str) -> None:
    got = plan(interval=interval, groupBy="timeseries")
    assert got.granularity == "month"
    assert got.edges[-1] == ms(2026, 12, 1)
    assert all(datetime.fromtimestamp(edge / 1000, UTC_ZONE).day == 1 for edge in got.edges)
    assert got.source.granularity == "day"  # UTC months are whole days
    assert plan(interval=interval, granularity="day").granularity == "day"


def test_month_buckets_follow_the_callers_zone_across_a_year_end() -> None:
    got = plan(
        start="2025-11-15T00:00:00", end="2026-02-10T00:00:00", timezone="Europe/Berlin", granularity="month"
    )
    assert got.edges == (
        ms(2025, 11, 1, tz=BERLIN),
        ms(2025, 12, 1, tz=BERLIN),
        ms(2026, 1, 1, tz=BERLIN),
        ms(2026, 2, 1, tz=BERLIN),
        ms(2026, 3, 1, tz=BERLIN),
    )


@pytest.mark.parametrize(
    ("name", "given", "stored"),
    [
        ("country", "de,-fr,Unknown", ({"DE", "unknown"}, {"FR"})),
        ("continent", "eu,-Na", ({"EU"}, {"NA"})),
        ("device", "Mobile,-TABLET", ({"mobile"}, {"tablet"})),
        ("rule", "de,default", ({"DE", "default"}, set())),
        ("referer", "https://www.google.com/search?q=x,-t.co,Direct", ({"google.com", "direct"}, {"t.co"})),
        ("referer", "WWW.Bücher.de", ({"xn--bcher-kva.de"}, set())),
        ("city", "berlin", ({"berlin"}, set())),  # free text: compared as given
    ],
)
def test_filter_values_are_read_as_people_write_them(
    name: str, given: str, stored: tuple[set[str], set[str]]
) -> None:
    ((_, got),) = plan(**{name: given}).dimensions
    assert got == Filter(frozenset(stored[0]), frozenset(stored[1]))


@pytest.mark.parametrize(
    ("name", "given", "shown"),
    [
        ("country", "Germany", "ISO 3166-1 alpha-2"),
        ("country", "D", "ISO 3166-1 alpha-2"),
        ("continent", "Europe", "AF, AN, AS, EU, NA, OC, SA"),
        ("device", "bot", "desktop, mobile, tablet, other"),
        ("referer", "not a domain!", "domains (google.com)"),
        ("rule", "fallback", "default"),
    ],
)
def test_a_filter_value_no_click_can_have_is_refused_with_the_accepted_form(
    name: str, given: str, shown: str
) -> None:
    error = refused([(name, given)])
    assert error.parameter == name
    assert shown in error.reason and repr(given) in error.reason


def test_a_link_filter_takes_an_id_or_a_slug() -> None:
    got = plan(link="shoes,-8f3c").links
    assert got is not None
    assert got.admits_link("abc", "shoes")
    assert not got.admits_link("8f3c", "shoes")  # excluded by its id
    assert not got.admits_link("abc", "boots")
    assert plan(link="abc").links.admits_link("abc", None)  # type: ignore[union-attr]


def test_dubs_event_key_and_domain_are_accepted() -> None:
    assert plan(event="clicks") == plan()
    by_key = plan(key="shoes", domain="go.example.com").links
    assert by_key is not None and by_key.admits_link("id-1", "shoes")
    assert plan(key="shoes") == plan(link="shoes")


@pytest.mark.parametrize(
    ("items", "parameter"),
    [
        ([("event", "leads")], "event"),
        ([("domain", "go.example.com")], "domain"),
        ([("key", "shoes"), ("domain", "not a host")], "domain"),
        ([("key", "shoes"), ("link", "boots")], "key"),
    ],
)
def test_dubs_parameters_are_refused_when_they_cannot_be_answered(
    items: list[tuple[str, str]], parameter: str
) -> None:
    assert refused(items).parameter == parameter
