"""Hostile input to the redirect service's HTTP side, each attack a test (in-memory seams, no broker)."""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from producer.app import create_app
from producer.links import Account
from producer.memory_store import InMemoryStore
from producer.publisher import InMemoryClickPublisher
from producer.rejected import FileRejectedSink, RejectedRecord
from producer.settings import ProducerSettings
from producer.spool import Spool
from producer.sqlite_store import SqliteStore
from schemas.codec import LinkClickCodec

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ALICE, BOB = "key-alice", "key-bob"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"


class Target:
    def __init__(self, client: httpx.AsyncClient, publisher: InMemoryClickPublisher) -> None:
        self.client = client
        self.publisher = publisher

    async def link(self, key: str = ALICE, **body: object) -> httpx.Response:
        payload = {"default_destination": "https://example.com/", **body}
        return await self.client.post("/api/links", json=payload, headers=auth(key))


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def serve(client_address: str) -> AsyncIterator[Target]:
    store = InMemoryStore()
    for account, key in (("alice", ALICE), ("bob", BOB)):
        await store.add_account(Account(account, f"{account} Inc."))
        await store.add_key(account, key)
    publisher = InMemoryClickPublisher()
    settings = ProducerSettings(max_body_bytes=4096, trusted_proxies=["127.0.0.1/32"], link_cache_seconds=0)
    app = create_app(settings, store=store, publisher=publisher, clock=lambda: NOW)
    transport = httpx.ASGITransport(app, client=(client_address, 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Target(client, publisher)


@pytest.fixture
async def target() -> AsyncIterator[Target]:
    async for made in serve("127.0.0.1"):
        yield made


async def test_a_click_from_year_9999_is_refused_and_its_batch_mates_recorded(target: Target) -> None:
    link = (await target.link()).json()
    clicks = [
        {"link_id": link["link_id"], "timestamp": "9999-12-31T23:59:59Z"},
        {"link_id": link["link_id"], "timestamp": NOW.isoformat(), "event_id": "ok"},
    ]
    result = (
        await target.client.post("/api/clicks/batch", json={"clicks": clicks}, headers=auth(ALICE))
    ).json()
    assert (result["accepted"], result["rejected"]) == (1, 1)
    assert result["errors"][0]["index"] == 0
    assert "ahead of the service's clock" in result["errors"][0]["error"]
    assert [event.event_id for event in target.publisher.events] == ["ok"]


async def test_a_megabyte_user_agent_makes_a_small_event(target: Target) -> None:
    response = await target.client.get("/no-such-link", headers={"User-Agent": "A" * 1_200_000})
    assert response.status_code == 404
    (event,) = target.publisher.events
    assert event.user_agent is not None and len(event.user_agent) == 1024
    assert len(LinkClickCodec().encode(event)) < 4096


async def test_a_slug_with_a_trailing_newline_is_refused(target: Target) -> None:
    response = await target.link(slug="sale\n")
    assert response.status_code == 422
    assert "letters, digits" in response.text
    await target.link(slug="sale")
    assert (await target.client.get("/sale%0A")).status_code == 404
    assert target.publisher.events == []  # not even recorded as a visit to 'sale'


@pytest.mark.parametrize(
    ("destination", "reason"),
    [
        ("https://example.com/\\udc80", "surrogate"),
        ("https://example.com:99999/", "port"),
        ("https://example.com/a\\u007fb", "control"),
        ("https://example.com/\\u202egnp.exe", "U+202E"),
    ],
)
async def test_hostile_destinations_get_422_with_a_reason(
    target: Target, destination: str, reason: str
) -> None:
    body = '{"slug": "evil", "default_destination": "' + destination + '"}'  # JSON escapes, raw
    response = await target.client.post(
        "/api/links", content=body, headers={**auth(ALICE), "Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert reason in response.text
    assert (await target.client.get("/evil")).status_code == 404


async def test_an_over_limit_chunked_body_gets_413(target: Target) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"clicks": ['
        for _ in range(100):
            yield b'{"link_id": "x", "timestamp": "2026-03-01T12:00:00Z"},'
        yield b"{}]}"

    response = await target.client.post("/api/clicks/batch", content=chunks(), headers=auth(ALICE))
    assert response.status_code == 413
    assert "larger than 4096 bytes" in response.text


@pytest.mark.parametrize("path", ["/api/links", "/api/clicks/batch"])
async def test_the_key_is_checked_before_the_body_is_read(target: Target, path: str) -> None:
    for headers in ({}, auth("not-a-key")):
        response = await target.client.post(
            path, content=b"{not json", headers={**headers, "Content-Type": "application/json"}
        )
        assert response.status_code == 401, response.text  # not 422: the body was never parsed


async def test_a_deleted_slug_cannot_be_taken_over_by_another_account(target: Target) -> None:
    link = (await target.link(ALICE, slug="shared")).json()
    deleted = await target.client.delete(f"/api/links/{link['link_id']}", headers=auth(ALICE))
    assert deleted.status_code == 204
    taken = await target.link(BOB, slug="shared", default_destination="https://evil.example/")
    assert taken.status_code == 409
    assert (await target.client.get("/shared")).status_code == 404
    assert (await target.link(ALICE, slug="shared")).status_code == 201


@pytest.fixture
async def via_mapped_proxy() -> AsyncIterator[Target]:
    async for made in serve("::ffff:127.0.0.1"):
        yield made


async def test_an_ipv4_mapped_trusted_proxy_is_recognised(via_mapped_proxy: Target) -> None:
    await via_mapped_proxy.link(slug="geo", country_destinations={"DE": "https://example.de/"})
    response = await via_mapped_proxy.client.get(
        "/geo", headers={"CF-IPCountry": "DE", "User-Agent": BROWSER}
    )
    assert response.headers["location"] == "https://example.de/"


async def test_the_account_endpoint_names_the_keys_account_and_nothing_else(target: Target) -> None:
    ok = await target.client.get("/api/account", headers=auth(BOB))
    assert (ok.status_code, ok.json()) == (200, {"account_id": "bob", "name": "bob Inc."})
    missing = await target.client.get("/api/account")
    assert missing.status_code == 401 and "missing API key" in missing.json()["detail"]
    wrong = await target.client.get("/api/account", headers=auth("guess"))
    assert wrong.status_code == 401 and "unknown API key" in wrong.json()["detail"]
    spec = (await target.client.get("/openapi.json")).json()
    assert "401" in spec["paths"]["/api/account"]["get"]["responses"]


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    import os

    old = os.umask(0o022)
    yield
    os.umask(old)


def test_link_database_spool_and_rejected_records_are_not_world_readable(
    tmp_path: Path, permissive_umask: None
) -> None:
    SqliteStore(tmp_path / "data" / "links.db").close()
    with Spool(tmp_path / "data" / "spool") as spool:
        spool.append([(b"k", b"v")])
    FileRejectedSink(tmp_path / "data" / "rejected").put(RejectedRecord(b"k", b"v", "refused", "X"))
    for path in (tmp_path / "data").rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}"
