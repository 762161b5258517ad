"""The redirect service's HTTP behaviour, with in-memory seams (no broker, no database file)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from producer.app import create_app
from producer.links import Account
from producer.memory_store import InMemoryStore
from producer.publisher import InMemoryClickPublisher
from producer.settings import ProducerSettings
from schemas.events import EventType

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
ALICE, BOB = "key-alice", "key-bob"


class Harness:
    def __init__(self, client: httpx.AsyncClient, publisher: InMemoryClickPublisher) -> None:
        self.client = client
        self.publisher = publisher

    async def create(self, key: str = ALICE, **body: object) -> httpx.Response:
        payload = {"default_destination": "https://example.com/", **body}
        return await self.client.post("/api/links", json=payload, headers={"Authorization": f"Bearer {key}"})


@pytest.fixture
async def service() -> AsyncIterator[Harness]:
    store = InMemoryStore()
    for account, key in (("alice", ALICE), ("bob", BOB)):
        await store.add_account(Account(account, account))
        await store.add_key(account, key)
    publisher = InMemoryClickPublisher()
    settings = ProducerSettings(link_cache_seconds=60, max_body_bytes=4096, trusted_proxies=["127.0.0.1/32"])
    app = create_app(settings, store=store, publisher=publisher)
    transport = httpx.ASGITransport(app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Harness(client, publisher)


async def test_redirect_by_country_with_no_cache_headers(service: Harness) -> None:
    await service.create(slug="sale", country_destinations={"DE": "https://example.de/"})
    german = await service.client.get("/sale", headers={"CF-IPCountry": "DE", "User-Agent": BROWSER})
    other = await service.client.head("/sale", headers={"CF-IPCountry": "JP"})
    assert (german.status_code, german.headers["location"]) == (302, "https://example.de/")
    assert (other.status_code, other.headers["location"]) == (302, "https://example.com/")
    assert "no-store" in german.headers["cache-control"]
    assert [event.type for event in service.publisher.events] == [EventType.LINK_CLICK] * 2
    first = service.publisher.events[0]
    assert (first.slug, first.country, first.destination, first.is_bot) == (
        "sale",
        "DE",
        "https://example.de/",
        False,
    )


async def test_geo_headers_from_untrusted_peers_are_ignored() -> None:
    store = InMemoryStore()
    await store.add_account(Account("alice", "alice"))
    await store.add_key("alice", ALICE)
    publisher = InMemoryClickPublisher()
    app = create_app(ProducerSettings(trusted_proxies=["10.0.0.0/8"]), store=store, publisher=publisher)
    transport = httpx.ASGITransport(app, client=("203.0.113.9", 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        await client.post(
            "/api/links",
            json={
                "slug": "x",
                "default_destination": "https://example.com/",
                "country_destinations": {"DE": "https://example.de/"},
            },
            headers={"Authorization": f"Bearer {ALICE}"},
        )
        response = await client.get("/x", headers={"CF-IPCountry": "DE"})
    assert response.headers["location"] == "https://example.com/"
    assert publisher.events[0].country is None


async def test_unknown_disabled_and_expired_links_answer_404_and_410_and_are_recorded(
    service: Harness,
) -> None:
    await service.create(slug="off", disabled=True)
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    await service.create(slug="old", expires_at=past)
    assert (await service.client.get("/nothing-here")).status_code == 404
    assert (await service.client.get("/off")).status_code == 410
    assert (await service.client.get("/old")).status_code == 410
    assert [event.type for event in service.publisher.events] == [
        EventType.LINK_NOT_FOUND,
        EventType.LINK_DISABLED,
        EventType.LINK_EXPIRED,
    ]


async def test_an_update_is_visible_on_the_next_click(service: Harness) -> None:
    link = (await service.create(slug="move")).json()
    assert (await service.client.get("/move")).headers["location"] == "https://example.com/"
    patched = await service.client.patch(
        f"/api/links/{link['link_id']}",
        json={"default_destination": "https://example.org/new"},
        headers={"Authorization": f"Bearer {ALICE}"},
    )
    assert patched.status_code == 200
    assert (await service.client.get("/move")).headers["location"] == "https://example.org/new"
    await service.client.delete(f"/api/links/{link['link_id']}", headers={"Authorization": f"Bearer {ALICE}"})
    assert (await service.client.get("/move")).status_code == 404


async def test_accounts_see_and_change_only_their_own_links(service: Harness) -> None:
    link = (await service.create(ALICE, slug="alices")).json()
    bob = {"Authorization": f"Bearer {BOB}"}
    assert (await service.client.get(f"/api/links/{link['link_id']}", headers=bob)).status_code == 404
    patch = await service.client.patch(f"/api/links/{link['link_id']}", json={"disabled": True}, headers=bob)
    assert patch.status_code == 404
    assert (await service.client.delete(f"/api/links/{link['link_id']}", headers=bob)).status_code == 404
    assert (await service.client.get("/api/links", headers=bob)).json()["items"] == []
    assert (await service.client.get("/alices")).status_code == 302


async def test_the_api_needs_a_valid_key(service: Harness) -> None:
    assert (await service.client.get("/api/links")).status_code == 401
    wrong = await service.client.get("/api/links", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert "unknown API key" in wrong.text


async def test_paging_walks_every_link_once(service: Harness) -> None:
    for i in range(7):
        await service.create(slug=f"p{i}")
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        page = (
            await service.client.get(
                "/api/links", params=params, headers={"Authorization": f"Bearer {ALICE}"}
            )
        ).json()
        seen += [link["slug"] for link in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"p{i}" for i in range(7)]


async def test_slugs_are_generated_and_unique(service: Harness) -> None:
    first = (await service.create()).json()
    second = (await service.create()).json()
    assert first["slug"] != second["slug"]
    assert (await service.create(slug=first["slug"])).status_code == 409


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"default_destination": "javascript:alert(1)"}, "http(s)"),
        ({"default_destination": "/relative"}, "relative"),
        ({"country_destinations": {"de": "https://example.de/"}}, "ISO 3166-1"),
        ({"country_destinations": {"DE": "data:text/html,hi"}}, "http(s)"),
        ({"slug": "api"}, "reserved"),
        ({"slug": "bad slug"}, "letters"),
        ({"unexpected": 1}, "Extra inputs"),
    ],
)
async def test_bad_links_get_a_422_with_the_reason(
    service: Harness, body: dict[str, object], reason: str
) -> None:
    response = await service.create(**body)
    assert response.status_code == 422
    assert reason in response.text


async def test_oversized_bodies_get_413(service: Harness) -> None:
    response = await service.create(
        slug="big", country_destinations={"DE": "https://example.de/" + "a" * 5000}
    )
    assert response.status_code == 413
    assert "larger than 4096 bytes" in response.text


async def test_batch_ingest_publishes_the_valid_and_reports_the_invalid(service: Harness) -> None:
    link = (await service.create(slug="bf", country_destinations={"FR": "https://example.fr/"})).json()
    at = "2026-11-01T10:00:00+00:00"
    response = await service.client.post(
        "/api/clicks/batch",
        json={
            "clicks": [
                {"link_id": link["link_id"], "timestamp": at, "country": "FR", "event_id": "e1"},
                {"link_id": "nope", "timestamp": at},
                {"link_id": link["link_id"], "timestamp": "2026-11-01T10:00:00"},
                {"link_id": link["link_id"], "timestamp": at, "country": "XX"},
                {"link_id": link["link_id"], "timestamp": at, "user_agent": "Googlebot/2.1"},
            ]
        },
        headers={"Authorization": f"Bearer {ALICE}"},
    )
    result = response.json()
    assert (result["accepted"], result["rejected"]) == (2, 3)
    assert [error["index"] for error in result["errors"]] == [1, 2, 3]
    assert "no link 'nope'" in result["errors"][0]["error"]
    assert "timezone" in result["errors"][1]["error"]
    events = service.publisher.events
    assert [(e.event_id, e.destination, e.is_bot) for e in events][:1] == [
        ("e1", "https://example.fr/", False)
    ]
    assert events[1].is_bot is True
    assert events[0].timestamp == datetime(2026, 11, 1, 10, tzinfo=UTC)


async def test_health_and_metrics(service: Harness) -> None:
    assert (await service.client.get("/healthz")).json() == {"status": "ok"}
    assert (await service.client.get("/readyz")).status_code == 200
    assert "clickpipe_producer_clicks_dropped_total 0.0" in (await service.client.get("/metrics")).text
    assert (await service.client.get("/openapi.json")).json()["info"]["title"] == "clickpipe redirect service"


async def test_readyz_turns_503_past_the_spool_threshold() -> None:
    publisher = InMemoryClickPublisher()
    app = create_app(
        ProducerSettings(spool_ready_max_bytes=1_000), store=InMemoryStore(), publisher=publisher
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test") as client:
        publisher.spool_bytes = 1_000
        assert (await client.get("/readyz")).status_code == 200
        publisher.spool_bytes = 1_001
        response = await client.get("/readyz")
        assert response.status_code == 503
        assert "over 1000" in response.json()["reason"]
        publisher.state = "failed"
        assert (await client.get("/readyz")).json()["publisher"] == "failed"


async def test_readyz_turns_503_when_the_link_view_stops_following_changes() -> None:
    app = create_app(ProducerSettings(), store=InMemoryStore(), publisher=InMemoryClickPublisher())
    services = app.app.state.services  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test") as client:
        assert (await client.get("/readyz")).json()["links"] == "cached"
        services.cache.state = "failed"  # what the notified view's done-callback records
        response = await client.get("/readyz")
        assert (response.status_code, response.json()["links"]) == (503, "failed")


async def test_batch_ingest_refuses_clicks_from_the_future_one_by_one() -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    store, publisher = InMemoryStore(), InMemoryClickPublisher()
    await store.add_account(Account("alice", "alice"))
    await store.add_key("alice", ALICE)
    app = create_app(
        ProducerSettings(max_clock_skew_seconds=60), store=store, publisher=publisher, clock=lambda: now
    )
    auth = {"Authorization": f"Bearer {ALICE}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test") as client:
        link = (
            await client.post("/api/links", json={"default_destination": "https://e.com/"}, headers=auth)
        ).json()
        stamps = [now, now + timedelta(seconds=60), now + timedelta(seconds=61), "9999-12-31T23:59:59Z"]
        clicks = [
            {"link_id": link["link_id"], "timestamp": str(stamp), "event_id": f"e{i}"}
            for i, stamp in enumerate(stamps)
        ]
        result = (await client.post("/api/clicks/batch", json={"clicks": clicks}, headers=auth)).json()
    assert (result["accepted"], result["rejected"]) == (2, 2)
    assert [error["index"] for error in result["errors"]] == [2, 3]
    assert all("ahead of the service's clock" in error["error"] for error in result["errors"])
    assert [event.event_id for event in publisher.events] == ["e0", "e1"]
