"""The redirect's ASGI front: it answers ``GET``/``HEAD /{slug}`` itself, exactly as the FastAPI route did,
and passes everything else to FastAPI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from producer.app import create_app
from producer.errors import StoreError
from producer.links import Account, Link
from producer.memory_store import InMemoryStore
from producer.publisher import InMemoryClickPublisher
from producer.redirect import RedirectFront
from producer.settings import ProducerSettings
from producer.visitors import StaticSalt, VisitorKeys
from schemas.events import EventType

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KEY = "key-alice"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
KEYS = VisitorKeys(StaticSalt(b"k" * 32))


class Front:
    def __init__(self, app: RedirectFront, publisher: InMemoryClickPublisher) -> None:
        self.app = app
        self.publisher = publisher
        self.reached_fastapi: list[str] = []
        inner = app.app

        async def recording(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                self.reached_fastapi.append(scope["path"])
            await inner(scope, receive, send)

        app.app = recording

    def client(self, peer: str = "127.0.0.1") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(self.app, client=(peer, 50000))
        return httpx.AsyncClient(transport=transport, base_url="http://test")

    async def link(self, **body: object) -> None:
        async with self.client() as client:
            payload = {"default_destination": "https://example.com/", **body}
            response = await client.post(
                "/api/links", json=payload, headers={"Authorization": f"Bearer {KEY}"}
            )
            assert response.status_code == 201, response.text


async def _front(store: InMemoryStore) -> Front:
    await store.add_account(Account("alice", "alice"))
    await store.add_key("alice", KEY)
    publisher = InMemoryClickPublisher()
    settings = ProducerSettings(trusted_proxies=["127.0.0.1/32"], link_cache_seconds=60)
    app = create_app(settings, store=store, publisher=publisher, clock=lambda: NOW, visitors=KEYS)
    return Front(app, publisher)


@pytest.fixture
async def front() -> AsyncIterator[Front]:
    yield await _front(InMemoryStore())


async def test_get_and_head_of_a_slug_never_reach_fastapi(front: Front) -> None:
    await front.link(slug="sale")
    front.reached_fastapi.clear()
    async with front.client() as client:
        got = await client.get("/sale", headers={"User-Agent": BROWSER})
        head = await client.head("/sale")
        missing = await client.get("/nothing")
    assert (got.status_code, head.status_code, missing.status_code) == (302, 302, 404)
    assert front.reached_fastapi == []
    assert [event.type for event in front.publisher.events] == [
        EventType.LINK_CLICK,
        EventType.LINK_CLICK,
        EventType.LINK_NOT_FOUND,
    ]


async def test_the_api_health_docs_and_metrics_go_to_fastapi(front: Front) -> None:
    async with front.client() as client:
        for path in ("/healthz", "/readyz", "/metrics", "/docs", "/openapi.json"):
            assert (await client.get(path)).status_code == 200, path
        assert (await client.get("/api/links")).status_code == 401
    assert front.reached_fastapi == [
        "/healthz",
        "/readyz",
        "/metrics",
        "/docs",
        "/openapi.json",
        "/api/links",
    ]
    assert front.publisher.events == []


async def test_a_malformed_slug_is_404_and_not_recorded(front: Front) -> None:
    async with front.client() as client:
        assert (await client.get("/a.b")).status_code == 404
        assert (await client.get("/-x")).status_code == 404
    assert front.publisher.events == []


async def test_head_sends_no_body_but_the_same_headers(front: Front) -> None:
    async with front.client() as client:
        got = await client.get("/gone")
        head = await client.head("/gone")
    assert (got.status_code, head.status_code) == (404, 404)
    assert b"Link not found" in got.content and head.content == b""
    assert head.headers["content-length"] == got.headers["content-length"] == str(len(got.content))
    assert head.headers["content-type"] == "text/html; charset=utf-8"
    for response in (got, head):
        assert "no-store" in response.headers["cache-control"]
        assert response.headers["pragma"] == "no-cache"


async def test_the_location_is_quoted_as_starlette_quotes_it(front: Front) -> None:
    await front.link(slug="cafe", default_destination="https://example.com/café?q=ü&r=1#top")
    async with front.client() as client:
        response = await client.get("/cafe")
    assert response.headers["location"] == "https://example.com/caf%C3%A9?q=%C3%BC&r=1#top"
    assert (response.headers["content-length"], response.content) == ("0", b"")
    assert "no-store" in response.headers["cache-control"]


async def test_trust_is_judged_per_peer_on_one_app(front: Front) -> None:
    await front.link(slug="geo", country_destinations={"DE": "https://example.de/"})
    german = {"CF-IPCountry": "DE", "CF-IPCity": "Berlin"}
    async with front.client("127.0.0.1") as proxy, front.client("203.0.113.9") as stranger:
        for _ in range(2):  # the second round answers from what was remembered
            assert (await proxy.get("/geo", headers=german)).headers["location"] == "https://example.de/"
            assert (await stranger.get("/geo", headers=german)).headers["location"] == "https://example.com/"
    countries = [(event.country, event.city) for event in front.publisher.events]
    assert countries == [("DE", "Berlin"), (None, None)] * 2


async def test_the_first_of_repeated_headers_counts(front: Front) -> None:
    await front.link(slug="dup")
    async with front.client() as client:
        await client.get("/dup", headers=[("User-Agent", "curl/8.0"), ("User-Agent", BROWSER)])
    assert front.publisher.events[0].user_agent == "curl/8.0"
    assert front.publisher.events[0].is_bot is True


async def test_the_visitor_key_uses_the_address_a_trusted_proxy_names_and_else_the_peer(front: Front) -> None:
    await front.link(slug="who", country_destinations={"DE": "https://example.de/"})
    named = {"CF-Connecting-IP": "198.51.100.7", "X-Forwarded-For": "192.0.2.1", "User-Agent": BROWSER}
    forwarded = {"X-Forwarded-For": "192.0.2.1, 10.1.1.1", "User-Agent": BROWSER, "Referer": "https://t.co/x"}
    async with front.client("127.0.0.1") as proxy, front.client("203.0.113.9") as stranger:
        await proxy.get("/who", headers={**named, "CF-IPCountry": "DE"})
        await proxy.get("/who", headers=forwarded)
        await stranger.get("/who", headers=named)
        await proxy.get("/who", headers={"User-Agent": BROWSER})
    assert [event.visitor for event in front.publisher.events] == [
        KEYS.key(NOW, ip, BROWSER) for ip in ("198.51.100.7", "192.0.2.1", "203.0.113.9", "127.0.0.1")
    ]
    first, second = front.publisher.events[:2]
    assert (first.rule, first.device, first.browser, first.os) == ("DE", "desktop", "Chrome", "Linux")
    assert (second.rule, second.referer_domain) == (None, "t.co")


class BrokenStore(InMemoryStore):
    broken = False

    async def get_by_slug(self, slug: str) -> Link | None:
        if self.broken:
            raise StoreError("database is locked")
        return await super().get_by_slug(slug)


async def test_an_unreadable_link_store_answers_503_and_records_nothing() -> None:
    store = BrokenStore()
    front = await _front(store)
    store.broken = True
    async with front.client() as client:
        response = await client.get("/anything")
    assert response.status_code == 503
    assert response.json() == {"detail": "the link database is unavailable; try again"}
    assert "no-store" in response.headers["cache-control"]
    assert front.publisher.events == []


@pytest.mark.parametrize(
    ("destination", "query", "location"),
    [
        ("https://shop.example/", "utm_source=x", "https://shop.example/?utm_source=x"),
        (
            "https://shop.example/p?id=7",
            "utm_source=x&utm_campaign=bf",
            "https://shop.example/p?id=7&utm_source=x&utm_campaign=bf",
        ),
        (
            "https://shop.example/?utm_source=own&id=7",
            "utm_source=x",
            "https://shop.example/?utm_source=x&id=7",
        ),
        ("https://shop.example/?a=1&b=2&a=3", "a=9", "https://shop.example/?a=9&b=2"),
        ("https://shop.example/p#top", "q=caf%C3%A9", "https://shop.example/p?q=caf%C3%A9#top"),
        ("https://shop.example/p", "&&flag&", "https://shop.example/p?flag"),
    ],
)
async def test_the_short_links_query_is_carried_onto_the_destination(
    front: Front, destination: str, query: str, location: str
) -> None:
    await front.link(slug="carry", default_destination=destination)
    async with front.client() as client:
        response = await client.get(f"/carry?{query}", headers={"User-Agent": BROWSER})
    assert response.status_code == 302
    assert response.headers["location"] == location
    assert front.publisher.events[-1].destination == destination  # the dimension stays the link's own


async def test_a_query_cannot_move_the_destination_elsewhere(front: Front) -> None:
    await front.link(slug="safe", default_destination="https://shop.example/p")
    async with front.client() as client:
        response = await client.get(
            "/safe?x=1@evil.example/%0d%0aSet-Cookie:a", headers={"User-Agent": BROWSER}
        )
    location = httpx.URL(response.headers["location"])
    assert (location.host, location.path) == ("shop.example", "/p")
    assert "\r" not in response.headers["location"] and "\n" not in response.headers["location"]


@pytest.mark.parametrize(
    ("method", "headers", "reason"),
    [
        ("HEAD", {}, "HEAD request"),
        ("GET", {"Sec-Purpose": "prefetch;prerender"}, "prerender"),
        ("GET", {"Purpose": "prefetch"}, "prefetch"),
        ("GET", {"X-Purpose": "preview"}, "preview"),
        ("GET", {"X-Moz": "prefetch"}, "prefetch"),
        ("GET", {}, None),
    ],
)
async def test_heads_and_prefetches_are_recorded_as_bots_with_their_reason(
    front: Front, method: str, headers: dict[str, str], reason: str | None
) -> None:
    await front.link(slug="peek")
    async with front.client() as client:
        response = await client.request(method, "/peek", headers={"User-Agent": BROWSER, **headers})
    assert response.status_code == 302
    event = front.publisher.events[-1]
    assert (event.type, event.is_bot, event.bot_reason) == (EventType.LINK_CLICK, reason is not None, reason)
    assert event.browser == "Chrome"  # the device dimensions are still the user agent's


async def test_a_named_bot_keeps_its_own_reason_on_head(front: Front) -> None:
    await front.link(slug="crawl")
    async with front.client() as client:
        await client.head("/crawl", headers={"User-Agent": "Googlebot/2.1 (+http://www.google.com/bot.html)"})
    assert front.publisher.events[-1].bot_reason not in (None, "HEAD request")


async def test_a_wrong_method_gets_405_naming_every_allowed_one(front: Front) -> None:
    async with front.client() as client:
        response = await client.request("OPTIONS", "/api/links/some-id")
    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) == {"GET", "PATCH", "DELETE"}
    assert "allowed: " in response.json()["detail"]


async def test_a_body_that_is_not_utf8_json_gets_422_not_500(front: Front) -> None:
    await front.link(slug="bytes")
    async with front.client() as client:
        response = await client.post(
            "/api/links", content=b"JlC\xa9\x1f", headers={"Authorization": f"Bearer {KEY}"}
        )
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"
