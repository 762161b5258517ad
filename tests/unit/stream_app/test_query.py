import pytest

from schemas.errors import ClickpipeError
from stream_app import query
from stream_app.aggregation import LinkCounts, Row, dims, packed
from stream_app.errors import BadQueryError
from stream_app.views import parse_limit, parse_range

MIN = 60_000


def link(
    account: str, total: int, bot: int, countries: dict[str, tuple[int, int]], slug: str | None
) -> LinkCounts:
    return LinkCounts(
        account,
        total,
        bot,
        {dims(country=country): packed(*counts) for country, counts in countries.items()},
        slug,
    )


ROWS_WORKER_1 = [
    (0, MIN, True, Row(5, {"a": link("acct", 3, 1, {"DE": (2, 1), "FR": (1, 0)}, "sa")})),
    (
        MIN,
        2 * MIN,
        False,
        Row(
            9, {"a": link("acct", 1, 0, {"DE": (1, 0)}, "sa"), "b": link("acct", 4, 0, {"US": (4, 0)}, None)}
        ),
    ),
]
ROWS_WORKER_2 = [(0, MIN, True, Row(2, {"c": link("other", 2, 2, {"DE": (2, 2)}, "sc")}))]


def test_link_series_in_time_order_with_countries() -> None:
    answer = query.link_series(reversed(ROWS_WORKER_1), "a")
    assert [point["window_start"] for point in answer["series"]] == [0, MIN]
    assert answer["series"][0]["countries"] == {
        "DE": {"total": 2, "human": 1, "bot": 1},
        "FR": {"total": 1, "human": 1, "bot": 0},
    }
    assert answer["series"][0]["closed"] is True
    assert answer["totals"] == {"total": 4, "human": 3, "bot": 1}


def test_countries_merge_across_workers() -> None:
    merged = query.merge_countries([query.countries(ROWS_WORKER_1), query.countries(ROWS_WORKER_2)])
    assert merged["countries"] == {
        "DE": {"total": 5, "human": 2, "bot": 3},
        "US": {"total": 4, "human": 4, "bot": 0},
        "FR": {"total": 1, "human": 1, "bot": 0},
    }
    assert merged["totals"]["total"] == 10


def test_top_links_merge_and_limit() -> None:
    merged = query.merge_top_links([query.top_links(ROWS_WORKER_1, 1), query.top_links(ROWS_WORKER_2, 1)], 2)
    # each worker's local top 1 ("a" ties "b" at 4 and wins by id), merged and cut to 2
    assert [(link["link_id"], link["total"]) for link in merged["links"]] == [("a", 4), ("c", 2)]


def test_top_links_full_ranking() -> None:
    ranked = query.top_links(ROWS_WORKER_1 + ROWS_WORKER_2, 10)["links"]
    assert [(link["link_id"], link["slug"], link["total"], link["bot"]) for link in ranked] == [
        ("a", "sa", 4, 1),
        ("b", None, 4, 0),
        ("c", "sc", 2, 2),
    ]


def test_link_series_merge_adds_the_same_window() -> None:
    part = query.link_series(ROWS_WORKER_1, "a")
    merged = query.merge_link_series([part, part])
    assert merged["totals"] == {"total": 8, "human": 6, "bot": 2}
    assert merged["series"][0]["countries"]["DE"] == {"total": 4, "human": 2, "bot": 2}


SIZES = {"minute": MIN, "hour": 60 * MIN}


def test_parse_range_accepts_iso_8601() -> None:
    span = parse_range({"from": "2026-11-28T10:00:00Z", "to": "2026-11-28T11:00:00+00:00"}, SIZES)
    assert span.granularity == "minute"
    assert span.to_ms - span.from_ms == 60 * MIN


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"to": "2026-11-28T11:00:00Z"}, "from"),
        ({"from": "yesterday", "to": "2026-11-28T11:00:00Z"}, "from"),
        ({"from": "2026-11-28T11:00:00Z", "to": "2026-11-28T10:00:00Z"}, "range"),
        (
            {"from": "2026-11-28T10:00:00Z", "to": "2026-11-28T11:00:00Z", "granularity": "week"},
            "granularity",
        ),
        ({"from": "1970-01-01T00:00:00Z", "to": "2026-11-28T11:00:00Z"}, "range"),
        ({"from": "0001-01-01T00:00:00+01:00", "to": "2026-11-28T11:00:00Z"}, "from"),
        ({"from": "0001-01-01T00:00:00Z", "to": "0001-01-01T01:00:00Z"}, "from"),
        ({"from": "2026-11-28T10:00:00Z", "to": "9999-12-31T23:59:59-01:00"}, "to"),
        ({"from": "9999-12-31T22:00:00Z", "to": "9999-12-31T23:59:59Z"}, "from"),
    ],
)
def test_parse_range_rejects_bad_parameters_naming_which(params: dict[str, str], parameter: str) -> None:
    with pytest.raises(BadQueryError) as caught:
        parse_range(params, SIZES)
    assert caught.value.parameter == parameter
    assert caught.value.reason


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "1001", "²", "١٢", "1²", "0" * 10_000 + "1", " 5"])
def test_parse_limit_rejects(limit: str) -> None:
    with pytest.raises(BadQueryError) as caught:
        parse_limit({"limit": limit})
    assert caught.value.parameter == "limit"
    assert isinstance(caught.value, ClickpipeError)  # one root for everything raised on purpose


def test_an_account_sees_only_its_own_links_and_the_operator_sees_all() -> None:
    rows = ROWS_WORKER_1 + ROWS_WORKER_2
    assert {link["link_id"] for link in query.top_links(query.visible(rows, "other"), 10)["links"]} == {"c"}
    assert query.countries(query.visible(rows, "other"))["totals"]["total"] == 2
    assert query.link_series(query.visible(rows, "other"), "a") == {
        "series": [],
        "totals": {"total": 0, "human": 0, "bot": 0},
    }
    assert list(query.visible(rows, "nobody")) == []
    assert list(query.visible(rows, None)) == rows
