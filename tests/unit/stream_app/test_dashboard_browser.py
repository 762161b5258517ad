"""The dashboard in headless Chromium against a canned ``/api/analytics`` (no broker, no worker).

The server answers in the shape docs/analytics.md gives, records every query the page makes, and can be told
to fail, so the page's map, dimension table, filters, URL state and error states are checked exactly; the
test against the real worker is tests/integration/test_dashboard.py.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from stream_app.dashboard import DASHBOARD_FILES, dashboard_file
from tests.fixtures import choose, dashboard_top_n, refreshed_after, sign_in, wait

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
KEY = "cpk_canned-key"
HOSTILE_SLUG = '<img src=x onerror="window.__pwned=1">"><script>window.__pwned=2</script>'
HOSTILE_LINK = '"><svg onload="window.__pwned=3">'
HOSTILE_CITY = '<img src=x onerror="window.__pwned=4">'
NONE = "\u2013"  # what the page shows for an unknown number (an en dash)
HOSTILE_COUNTRY = '<svg onload="window.__pwned=5">'

COUNTRIES = [
    {"country": "US", "clicks": 600, "uniques": None},
    {"country": "DE", "clicks": 300, "uniques": None},
    {"country": "BR", "clicks": 120, "uniques": None},
    {"country": "unknown", "clicks": 14, "uniques": None},
    {"country": HOSTILE_COUNTRY, "clicks": 1, "uniques": None},
]
ANSWERS: dict[str, Any] = {
    "count": {"clicks": 1035, "uniques": 812},
    "timeseries": [
        {"start": f"2026-11-28T{hour:02d}:00:00Z", "clicks": 10 * hour, "uniques": 8 * hour}
        for hour in range(24)
    ],
    "countries": COUNTRIES,
    "cities": [
        {"city": HOSTILE_CITY, "clicks": 9, "uniques": None},
        {"city": "Berlin", "clicks": 4, "uniques": None},
    ],
    "browsers": [
        {"browser": "Chrome", "clicks": 700, "uniques": None},
        {"browser": "Firefox", "clicks": 335, "uniques": None},
    ],
    "top_links": [
        {"link_id": HOSTILE_LINK, "slug": HOSTILE_SLUG, "clicks": 700, "uniques": 600},
        {"link_id": "l2", "slug": "promo", "clicks": 335, "uniques": 212},
    ],
}


@dataclass
class CannedApi:
    """A dashboard server with a canned analytics API; ``queries`` holds each analytics query it was sent."""

    url: str
    queries: list[dict[str, str]] = field(default_factory=list)
    failure: tuple[int, dict[str, str]] | None = None

    def last(self, group_by: str) -> dict[str, str]:
        return [query for query in self.queries if query["groupBy"] == group_by][-1]


@pytest.fixture
def canned_api() -> Iterator[CannedApi]:
    api = CannedApi(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path in DASHBOARD_FILES:
                body, kind = dashboard_file(url.path)
                return self.answer(200, body, kind)
            if url.path != "/api/analytics":
                return self.answer(404, b"{}", "application/json")
            if self.headers.get("Authorization") != f"Bearer {KEY}":
                return self.json(401, {"error": "unknown API key"})
            query = {name: values[-1] for name, values in parse_qs(url.query).items()}
            api.queries.append(query)
            if api.failure:
                return self.json(*api.failure)
            return self.json(
                200,
                {
                    "data": ANSWERS.get(query["groupBy"], []),
                    "start": "2026-11-28T00:00:00Z",
                    "end": "2026-11-29T00:00:00Z",
                    "granularity": "hour",
                    "timezone": query.get("timezone", "UTC"),
                    "bots": query.get("bots", "exclude"),
                    "uniques_error": 0.0081,
                },
            )

        def json(self, status: int, body: dict[str, Any]) -> None:
            self.answer(status, json.dumps(body).encode(), "application/json")

        def answer(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def table(browser: Any) -> list[list[str]]:
    return browser.execute_script(  # type: ignore[no-any-return]
        "return [...document.querySelectorAll('#dimension-table tbody tr')]"
        ".map((tr) => [...tr.cells].slice(0, 3).map((td) => td.textContent));"
    )


def assert_nothing_ran(browser: Any) -> None:
    assert browser.execute_script("return window.__pwned === undefined")
    assert (
        browser.execute_script(
            "return document.querySelectorAll("
            "'img, script:not([src]), svg:not(#world-map), [onload], [onerror]').length"
        )
        == 0
    )


def test_map_dimensions_uniques_and_filters(canned_api: CannedApi, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get(canned_api.url + "/dashboard?interval=7d&tz=UTC")
    sign_in(browser, KEY)
    wait(browser, "return document.body.dataset.refreshed")

    assert canned_api.last("count") == {
        "groupBy": "count",
        "interval": "7d",
        "timezone": "UTC",
        "bots": "exclude",
    }
    assert browser.execute_script("return document.getElementById('total-clicks').dataset.value") == "1035"
    assert browser.execute_script("return document.getElementById('total-uniques').dataset.value") == "812"
    assert browser.find_element(By.ID, "uniques-note").text == "estimated, \u00b10.8%"
    series = browser.execute_script(
        "const c = Chart.getChart('series-chart');"
        "return [c.data.labels.length, c.data.datasets.map((d) => d.data)];"
    )
    assert series == [24, [[10 * h for h in range(24)], [8 * h for h in range(24)]]]

    # The map: every country drawn, the ones sent filled by clicks, the rest empty.
    shades = browser.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('#world-map path.country')]"
        ".map((p) => [p.dataset.code, p.getAttribute('class')]));"
    )
    assert len(shades) > 150
    assert shades["US"] == "country shade-6"
    assert shades["DE"] == "country shade-5"  # sqrt(300/600) * 6 = 4.2 -> 5
    assert shades["BR"] == "country shade-3"
    assert {code for code, shade in shades.items() if shade != "country shade-0"} == {"US", "DE", "BR"}
    colours = browser.execute_script(
        "const fill = (c) =>"
        "  getComputedStyle(document.querySelector(`#world-map path[data-code=${c}]`)).fill;"
        "return [fill('US'), fill('FR')];"
    )
    assert colours[0] != colours[1]
    assert "15 clicks not on the map" in browser.find_element(By.ID, "map-unknown").text
    browser.execute_script(
        "const p = document.querySelector('#world-map path[data-code=DE]'), box = p.getBoundingClientRect();"
        "p.dispatchEvent(new MouseEvent('mousemove',"
        "  {clientX: box.x + 5, clientY: box.y + 5, bubbles: true}));"
    )
    assert browser.find_element(By.ID, "map-tooltip").text == "Germany (DE)\n300 clicks · \u2013 uniques"

    # The dimension picker: countries by default, then browsers, then links with their uniques.
    assert table(browser)[:2] == [["US", "600", NONE], ["DE", "300", NONE]]
    assert table(browser)[4] == [HOSTILE_COUNTRY, "1", NONE]
    refreshed_after(browser, lambda: choose(browser, "dimension", "browsers"))
    assert canned_api.last("browsers")["limit"] == str(dashboard_top_n())
    assert table(browser) == [["Chrome", "700", NONE], ["Firefox", "335", NONE]]
    refreshed_after(browser, lambda: choose(browser, "dimension", "cities"))
    assert table(browser)[0] == [HOSTILE_CITY, "9", NONE]
    refreshed_after(browser, lambda: choose(browser, "dimension", "top_links"))
    assert table(browser) == [[HOSTILE_SLUG, "700", "600"], ["promo", "335", "212"]]
    assert browser.execute_script(
        "return [...document.getElementById('link').options].map((o) => [o.text, o.value]);"
    ) == [["all links", ""], [HOSTILE_SLUG, HOSTILE_LINK], ["promo", "l2"]]

    # Filters change the query, and the URL (never the key).
    refreshed_after(browser, lambda: choose(browser, "bots", "all"))
    country = browser.find_element(By.ID, "country")
    refreshed_after(browser, lambda: country.send_keys("de, -fr", Keys.TAB))
    refreshed_after(browser, lambda: choose(browser, "device", "mobile"))
    refreshed_after(browser, lambda: choose(browser, "link", HOSTILE_LINK))
    expected = {"interval": "7d", "timezone": "UTC", "bots": "all", "country": "DE,-FR", "device": "mobile"}
    assert canned_api.last("count") == {"groupBy": "count", **expected, "link": HOSTILE_LINK}
    # A refresh asks top_links twice at once (the table's top N, the link picker's 1000); either comes last.
    top_n = str(dashboard_top_n())
    table_queries = [
        query for query in canned_api.queries if query["groupBy"] == "top_links" and query["limit"] == top_n
    ]
    assert table_queries[-1] == {
        "groupBy": "top_links",
        **expected,
        "link": HOSTILE_LINK,
        "limit": top_n,
    }
    picker = [
        query for query in canned_api.queries if query["groupBy"] == "top_links" and query["limit"] == "1000"
    ]
    assert picker[-1] == {
        "groupBy": "top_links",
        "interval": "7d",
        "timezone": "UTC",
        "bots": "all",
        "limit": "1000",
    }
    shared = browser.current_url
    assert KEY not in shared and "cpk_" not in shared
    assert "country=DE%2C-FR" in shared and "bots=all" in shared and "dimension=top_links" in shared

    # A click on a country filters to it.
    refreshed_after(
        browser, lambda: browser.find_element(By.CSS_SELECTOR, "#world-map path[data-code=BR]").click()
    )
    assert canned_api.last("countries")["country"] == "BR"
    shared = browser.current_url
    assert "country=BR&" in shared

    ARTIFACTS.mkdir(exist_ok=True)
    browser.set_window_size(1400, browser.execute_script("return document.body.scrollHeight") + 140)
    browser.save_screenshot(str(ARTIFACTS / "dashboard-canned.png"))
    assert (ARTIFACTS / "dashboard-canned.png").stat().st_size > 20_000

    # The shared URL opens the same view (the key stays in this tab's sessionStorage).
    browser.get(shared)
    wait(browser, "return document.body.dataset.refreshed")
    controls = browser.execute_script(
        "return ['interval', 'timezone', 'bots', 'country', 'device', 'link', 'dimension']"
        ".map((id) => document.getElementById(id).value);"
    )
    assert controls == ["7d", "UTC", "all", "BR", "mobile", HOSTILE_LINK, "top_links"]
    assert_nothing_ran(browser)


def test_the_browser_time_zone_is_the_default(canned_api: CannedApi, browser: Any) -> None:
    browser.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": "Australia/Adelaide"})
    browser.get(canned_api.url + "/dashboard")
    sign_in(browser, KEY)
    wait(browser, "return document.body.dataset.refreshed")
    assert canned_api.last("count") == {
        "groupBy": "count",
        "interval": "24h",
        "timezone": "Australia/Adelaide",
        "bots": "exclude",
    }
    assert browser.execute_script("return document.getElementById('timezone').value") == "Australia/Adelaide"
    assert browser.current_url.endswith("/dashboard")  # the default is not written into the URL
    # The series is labelled in the chosen zone: 00:00 UTC is 10:30 in Adelaide (summer time).
    assert browser.execute_script("return Chart.getChart('series-chart').data.labels[0]") == "28/11, 10:30"


@pytest.mark.parametrize(
    ("status", "body", "shown"),
    [
        (
            400,
            {"error": "<b>not a country</b>: XX", "parameter": "country"},
            "The worker refused a filter (country): <b>not a country</b>: XX",
        ),
        (
            503,
            {"error": "partitions are moving between workers or being recovered; try again"},
            "The analytics are not available right now (partitions are moving between workers or being "
            "recovered; try again); retrying.",
        ),
    ],
)
def test_errors_are_shown_as_text(
    canned_api: CannedApi, browser: Any, status: int, body: dict[str, str], shown: str
) -> None:
    canned_api.failure = (status, body)
    browser.get(canned_api.url + "/dashboard")
    sign_in(browser, KEY)
    wait(browser, "return document.getElementById('error').dataset.status")
    assert browser.execute_script("return document.getElementById('error').textContent") == shown
    assert browser.execute_script("return document.getElementById('error').dataset.status") == str(status)
    assert browser.execute_script("return document.querySelectorAll('#error *').length") == 0
    canned_api.failure = None
    wait(browser, "return document.getElementById('error').hidden", timeout=15)  # the next refresh recovers
    assert browser.execute_script("return document.getElementById('total-clicks').dataset.value") == "1035"


def test_a_refused_key_brings_the_form_back_with_the_reason(canned_api: CannedApi, browser: Any) -> None:
    browser.get(canned_api.url + "/dashboard")
    sign_in(browser, "cpk_wrong")
    assert wait(browser, "return document.getElementById('login-error').textContent") == "unknown API key"
    assert browser.execute_script("return document.getElementById('login').hidden") is False
    assert browser.execute_script("return sessionStorage.getItem('clickpipe.apiKey')") is None
