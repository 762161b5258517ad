"""Batch ingest derives the dimensions a redirect's click gets, from the user agent, referer and IP given."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from producer.app import create_app
from producer.ingest_api import GIVEN
from producer.links import Account
from producer.memory_store import InMemoryStore
from producer.publisher import InMemoryClickPublisher
from producer.settings import ProducerSettings
from producer.visitors import StaticSalt, VisitorKeys

KEY = "key-alice"
AUTH = {"Authorization": f"Bearer {KEY}"}
KEYS = VisitorKeys(StaticSalt(b"k" * 32))
AT = datetime(2026, 11, 1, 10, tzinfo=UTC)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.0 Mobile/15E148 Safari/604.1"
)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"


class Ingest:
    def __init__(self, client: httpx.AsyncClient, publisher: InMemoryClickPublisher, link_id: str) -> None:
        self.client, self.publisher, self.link_id = client, publisher, link_id

    async def send(self, *clicks: dict[str, Any]) -> dict[str, Any]:
        records = [{"link_id": self.link_id, "timestamp": AT.isoformat(), **click} for click in clicks]
        response = await self.client.post("/api/clicks/batch", json={"clicks": records}, headers=AUTH)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


@pytest.fixture
async def ingest() -> AsyncIterator[Ingest]:
    store, publisher = InMemoryStore(), InMemoryClickPublisher()
    await store.add_account(Account("alice", "alice"))
    await store.add_key("alice", KEY)
    app = create_app(ProducerSettings(), store=store, publisher=publisher, visitors=KEYS)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test") as client:
        body = {
            "default_destination": "https://example.com/",
            "country_destinations": {"FR": "https://e.fr/"},
        }
        link = (await client.post("/api/links", json=body, headers=AUTH)).json()
        yield Ingest(client, publisher, link["link_id"])


async def test_a_backfilled_click_gets_the_dimensions_and_visitor_key(ingest: Ingest) -> None:
    result = await ingest.send(
        {"country": "FR", "user_agent": IPAD, "referer": "https://www.Example.org/x", "ip": "198.51.100.7"},
        {"country": "DE", "user_agent": FIREFOX},
    )
    assert result["accepted"] == 2
    tablet, desktop = ingest.publisher.events
    assert (tablet.device, tablet.browser, tablet.os) == ("tablet", "Mobile Safari", "iOS")
    assert (tablet.referer_domain, tablet.rule, tablet.destination) == ("example.org", "FR", "https://e.fr/")
    assert tablet.visitor == KEYS.key(AT, "198.51.100.7", IPAD) and tablet.visitor is not None
    assert (desktop.device, desktop.os, desktop.rule, desktop.visitor) == ("desktop", "Linux", None, None)
    assert not tablet.is_bot and tablet.bot_reason is None


async def test_the_ip_is_validated_normalised_and_never_kept(ingest: Ingest) -> None:
    result = await ingest.send(
        {"user_agent": FIREFOX, "ip": "::ffff:198.51.100.7"},
        {"user_agent": FIREFOX, "ip": "not an address"},
    )
    assert (result["accepted"], [error["index"] for error in result["errors"]]) == (1, [1])
    assert result["errors"][0]["error"].startswith("ip:")
    (event,) = ingest.publisher.events
    assert event.visitor == KEYS.key(AT, "198.51.100.7", FIREFOX)
    assert all("198.51.100.7" not in str(value) for value in event.to_record().values())


async def test_is_bot_as_given_wins_and_says_so(ingest: Ingest) -> None:
    await ingest.send(
        {"user_agent": FIREFOX, "is_bot": True},
        {"user_agent": "curl/8.4.0", "is_bot": False},
        {"user_agent": "curl/8.4.0"},
        {},  # no user agent: a backfill's click is a person unless it says otherwise
        {"user_agent": ""},
    )
    assert [(e.is_bot, e.bot_reason) for e in ingest.publisher.events] == [
        (True, GIVEN),
        (False, None),
        (True, "curl"),
        (False, None),
        (True, "no user agent"),
    ]
    assert ingest.publisher.events[3].device is None


async def test_the_openapi_document_describes_each_click_and_its_ip(ingest: Ingest) -> None:
    doc = (await ingest.client.get("/openapi.json")).json()
    body = doc["paths"]["/api/clicks/batch"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    fields = body["properties"]["clicks"]["items"]["properties"]
    assert {"user_agent", "referer", "ip", "is_bot"} <= fields.keys()
    assert "never stored or sent" in fields["ip"]["description"]


async def test_a_time_off_the_utc_range_is_its_own_error_and_its_mates_are_kept(ingest: Ingest) -> None:
    result = await ingest.send(
        {"user_agent": FIREFOX, "ip": "198.51.100.7", "timestamp": "0001-01-01T00:00:00+23:59"},
        {"user_agent": FIREFOX, "ip": "198.51.100.7"},
        {"timestamp": "1969-12-31T23:59:59Z"},
        {"timestamp": "2026-11-01T12:00:00+02:00"},
    )
    assert (result["accepted"], [error["index"] for error in result["errors"]]) == (2, [0, 2])
    assert all(error["error"].startswith("timestamp:") for error in result["errors"])
    assert [event.timestamp for event in ingest.publisher.events] == [AT, AT]


async def test_a_click_older_than_every_window_is_refused_with_its_reason_and_its_mates_kept(
    ingest: Ingest,
) -> None:
    now = datetime.now(UTC)
    result = await ingest.send(
        {"timestamp": (now - timedelta(days=401)).isoformat()},
        {"timestamp": (now - timedelta(days=2)).isoformat()},
        {"timestamp": (now - timedelta(hours=3)).isoformat()},
    )
    assert (result["accepted"], [error["index"] for error in result["errors"]]) == (2, [0])
    assert "more than 400 days before" in result["errors"][0]["error"]
    assert "no window keeps it" in result["errors"][0]["error"]
