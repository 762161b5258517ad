"""The dashboard against hostile data: a slug written to the topic as HTML stays text."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from schemas.codec import LinkClickCodec
from tests.fixtures import OPERATOR_KEY, Broker, StartWorker, Topics, sign_in, wait_async
from tests.kafka_io import click_at, produce

pytestmark = [pytest.mark.integration, pytest.mark.browser]

HOSTILE_SLUG = '<img src=x onerror="window.__pwned=1">"><script>window.__pwned=2</script>'
HOSTILE_LINK = '"><svg onload="window.__pwned=3">'


async def test_a_hostile_slug_is_shown_as_text(
    broker: Broker, topics: Topics, start_worker: StartWorker, browser: Any
) -> None:
    worker = start_worker()
    click = click_at(HOSTILE_LINK, datetime.now(UTC), slug=HOSTILE_SLUG)
    await produce(broker, topics.clicks, [LinkClickCodec().encode(click)], key=click.key)

    browser.get(worker.url + "/dashboard?dimension=top_links")
    assert browser.execute_script("return document.getElementById('login').hidden") is False
    sign_in(browser, OPERATOR_KEY)
    await wait_async(browser, "return document.getElementById('link').options.length > 1")
    options = browser.execute_script(
        "return [...document.getElementById('link').options].map((o) => [o.text, o.value]);"
    )
    assert options == [["all links", ""], [HOSTILE_SLUG, HOSTILE_LINK]]
    await wait_async(browser, "return document.body.dataset.refreshed")
    row = browser.execute_script(
        "const tr = document.querySelector('#dimension-table tbody tr');"
        "return [tr.cells[0].textContent, tr.cells[1].textContent, tr.cells[0].children.length];"
    )
    assert row == [HOSTILE_SLUG, "1", 0]
    assert browser.execute_script("return window.__pwned === undefined")
    assert (
        browser.execute_script(
            "return document.querySelectorAll("
            "'img, script:not([src]), svg:not(#world-map), [onload], [onerror]').length"
        )
        == 0
    )
    assert browser.execute_script("return sessionStorage.getItem('clickpipe.apiKey')") == OPERATOR_KEY
    assert OPERATOR_KEY not in browser.current_url


async def test_a_refused_key_brings_the_form_back(start_worker: StartWorker, browser: Any) -> None:
    worker = start_worker()
    browser.get(worker.url + "/dashboard")
    sign_in(browser, "not-an-ascii-kéy")  # refused by the worker itself, whatever AUTH_URL says
    reason = await wait_async(browser, "return document.getElementById('login-error').textContent")
    assert reason
    assert browser.execute_script("return document.getElementById('login').hidden") is False
    assert browser.execute_script("return sessionStorage.getItem('clickpipe.apiKey')") is None
