"""The dashboard in a real browser: headless Chromium shows what ``/api/analytics`` answers (map included)."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from clickpipe.broker import free_port
from clickpipe.loadgen import LoadOptions, run_load
from tests.fixtures import choose, dashboard_top_n, refreshed_after, sign_in, wait

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[dict[str, str]]:
    """``clickpipe up`` as a user runs it (on free ports); yields its URLs and the demo API key."""
    ports = {name: str(free_port()) for name in ("broker", "producer", "worker")}
    log = tmp_path / "up.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "clickpipe", "up",
                "--broker-port", ports["broker"], "--producer-port", ports["producer"],
                "--worker-port", ports["worker"],
            ],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while "Press Ctrl-C" not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"clickpipe up did not come up:\n{log.read_text(errors='replace')[-5000:]}")
            time.sleep(0.2)
        key = re.search(r"API key: (cpk_\S+)\)", log.read_text()).group(1)  # type: ignore[union-attr]
        yield {
            "producer": f"http://127.0.0.1:{ports['producer']}",
            "worker": f"http://127.0.0.1:{ports['worker']}",
            "key": key,
        }
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            assert process.wait(timeout=90) == 0
        finally:
            if process.poll() is None:
                process.kill()


async def _analytics(client: httpx.AsyncClient, **params: str) -> dict[str, Any]:
    """One ``/api/analytics`` answer, waiting out the worker's "not whole yet" 503s."""
    deadline = time.monotonic() + 60
    while True:
        response = await client.get("/api/analytics", params=params)
        if response.status_code != 503 or time.monotonic() > deadline:
            response.raise_for_status()
            return response.json()  # type: ignore[no-any-return]
        await asyncio.sleep(0.2)


def _table(browser: Any) -> list[list[str]]:
    return browser.execute_script(  # type: ignore[no-any-return]
        "return [...document.querySelectorAll('#dimension-table tbody tr')]"
        ".map((tr) => [...tr.cells].slice(0, 3).map((td) => td.textContent));"
    )


def _shown(value: int | None) -> str:
    return "\u2013" if value is None else f"{value:,}"


async def test_loadgen_through_clickpipe_up_and_the_dashboard_shows_the_analytics(
    pipeline: dict[str, str], browser: Any
) -> None:
    report = await run_load(
        LoadOptions(url=pipeline["producer"], api_key=pipeline["key"], links=40, requests=3_000, seed=3),
        progress=None,
    )
    assert report.redirected == 3_000
    headers = {"Authorization": f"Bearer {pipeline['key']}"}
    async with httpx.AsyncClient(base_url=pipeline["worker"], headers=headers, timeout=30) as client:
        deadline = time.monotonic() + 120
        everything = {"interval": "24h", "timezone": "UTC", "bots": "all"}
        while (await _analytics(client, groupBy="count", **everything))["data"]["clicks"] < 3_000:
            assert time.monotonic() < deadline, "the worker never counted every click"
            await asyncio.sleep(0.5)
        view = {"interval": "24h", "timezone": "UTC", "bots": "exclude"}
        count = (await _analytics(client, groupBy="count", **view))["data"]
        countries = (await _analytics(client, groupBy="countries", limit="1000", **view))["data"]
        top_n = str(dashboard_top_n())
        browsers = (await _analytics(client, groupBy="browsers", limit=top_n, **view))["data"]
        links = (await _analytics(client, groupBy="top_links", limit=top_n, **view))["data"]
        german = (await _analytics(client, groupBy="count", country="DE", **view))["data"]
    assert count["clicks"] == report.redirected_people

    browser.get(pipeline["worker"] + "/dashboard?tz=UTC")
    sign_in(browser, pipeline["key"])
    wait(browser, "return document.body.dataset.refreshed")
    totals = browser.execute_script(
        "return ['total-clicks', 'total-uniques'].map((id) => document.getElementById(id).dataset.value);"
    )
    assert totals == [str(count["clicks"]), "" if count["uniques"] is None else str(count["uniques"])]

    # The map fills exactly the countries the API names (those big enough to draw), the busiest darkest.
    filled = browser.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('#world-map path.country')]"
        ".filter((p) => !p.classList.contains('shade-0'))"
        ".map((p) => [p.dataset.code, Number(p.dataset.clicks)]));"
    )
    drawn = browser.execute_script(
        "return [...document.querySelectorAll('#world-map path.country')].map((p) => p.dataset.code);"
    )
    assert len(drawn) > 150
    expected = {row["country"]: row["clicks"] for row in countries if row["country"] in drawn}
    assert filled == expected and len(filled) >= 5
    busiest = max(expected, key=expected.__getitem__)
    assert (
        browser.execute_script(
            f"return document.querySelector('#world-map path[data-code={busiest}]').getAttribute('class')"
        )
        == "country shade-6"
    )
    assert (
        _table(browser)
        == [[row["country"], f"{row['clicks']:,}", _shown(row["uniques"])] for row in countries][:20]
    )

    # The dimension picker switches the table; links show their uniques.
    refreshed_after(browser, lambda: choose(browser, "dimension", "browsers"))
    assert _table(browser) == [
        [row["browser"], f"{row['clicks']:,}", _shown(row["uniques"])] for row in browsers
    ]
    refreshed_after(browser, lambda: choose(browser, "dimension", "top_links"))
    assert _table(browser) == [[row["slug"], f"{row['clicks']:,}", _shown(row["uniques"])] for row in links]
    assert all(row[0].startswith("lg-") for row in _table(browser))

    ARTIFACTS.mkdir(exist_ok=True)
    browser.set_window_size(1400, browser.execute_script("return document.body.scrollHeight") + 140)
    browser.save_screenshot(str(ARTIFACTS / "dashboard.png"))
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 20_000

    # A filter changes the query: the totals become Germany's, and the URL says so.
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    field = browser.find_element(By.ID, "country")
    refreshed_after(browser, lambda: field.send_keys("de", Keys.TAB))
    assert browser.execute_script("return document.getElementById('total-clicks').dataset.value") == str(
        german["clicks"]
    )
    assert 0 < german["clicks"] < count["clicks"]
    assert "country=DE" in browser.current_url and pipeline["key"] not in browser.current_url
    assert browser.execute_script("return document.getElementById('error').hidden")
