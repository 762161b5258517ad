"""The dashboard in a real browser: headless Chromium shows the numbers the stats API returns."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from clickpipe.broker import free_port
from clickpipe.loadgen import LoadOptions, run_load
from tests.fixtures import get_stats, sign_in

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _range() -> dict[str, str]:
    now = datetime.now(UTC)
    return {"from": (now - timedelta(hours=1)).isoformat(), "to": (now + timedelta(minutes=1)).isoformat()}


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


async def test_loadgen_through_clickpipe_up_and_the_dashboard_shows_every_click(
    pipeline: dict[str, str], browser: Any
) -> None:
    report = await run_load(
        LoadOptions(url=pipeline["producer"], api_key=pipeline["key"], links=40, requests=10_000, seed=3),
        progress=None,
    )
    assert report.redirected == 10_000
    params = {**_range(), "granularity": "minute"}
    headers = {"Authorization": f"Bearer {pipeline['key']}"}
    async with httpx.AsyncClient(base_url=pipeline["worker"], headers=headers, timeout=10) as client:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            countries = (await get_stats(client, "/api/stats/countries", params)).json()
            if countries["totals"]["total"] >= 10_000:
                break
            await asyncio.sleep(0.5)
        top = (await get_stats(client, "/api/stats/top-links", {**params, "limit": "10"})).json()
    assert countries["totals"] == {
        "total": 10_000,
        "human": report.redirected_people,
        "bot": report.redirected_bots,
    }

    browser.get(pipeline["worker"] + "/dashboard")
    sign_in(browser, pipeline["key"])
    deadline = time.monotonic() + 30
    while (
        time.monotonic() < deadline
        and browser.execute_script("return document.body.dataset.refreshed") is None
    ):
        await asyncio.sleep(0.1)
    shown = {
        name: int(browser.execute_script(f"return document.getElementById('{name}').dataset.value"))
        for name in ("total-clicks", "human-clicks", "bot-clicks", "link-count")
    }
    charts = browser.execute_script(
        """
        const data = (id) => Chart.getChart(id).data;
        const top = data('top-links-chart'), countries = data('countries-chart'), bots = data('bots-chart');
        return {
          topLabels: top.labels, topHuman: top.datasets[0].data, topBot: top.datasets[1].data,
          countryLabels: countries.labels, countryTotals: countries.datasets[0].data,
          bots: bots.datasets[0].data,
        };
        """
    )
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "dashboard.png"))

    assert shown == {
        "total-clicks": 10_000,
        "human-clicks": report.redirected_people,
        "bot-clicks": report.redirected_bots,
        "link-count": 40,
    }
    assert charts["bots"] == [report.redirected_people, report.redirected_bots]
    assert charts["topLabels"] == [link["slug"] for link in top["links"]]
    assert all(label.startswith("lg-") for label in charts["topLabels"])
    assert charts["topHuman"] == [link["human"] for link in top["links"]]
    assert charts["topBot"] == [link["bot"] for link in top["links"]]
    expected_countries = list(countries["countries"].items())[:15]
    assert charts["countryLabels"] == [country for country, _ in expected_countries]
    assert charts["countryTotals"] == [counts["total"] for _, counts in expected_countries]
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000
