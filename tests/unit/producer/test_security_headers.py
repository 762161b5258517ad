"""Every answer of the redirect service carries the security headers: redirects, pages, JSON, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from producer.app import create_app
from producer.demo import DEMO_LINK, seed_demo
from producer.memory_store import InMemoryStore
from producer.publisher import InMemoryClickPublisher
from producer.settings import ProducerSettings


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    store = InMemoryStore()
    await seed_demo(store, store, None)
    app = create_app(ProducerSettings(), store=store, publisher=InMemoryClickPublisher())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test") as http:
        yield http


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (f"/{DEMO_LINK.slug}", 302),
        ("/no-such-link", 404),
        ("/api/links", 401),
        ("/healthz", 200),
        ("/a/b/c", 404),
    ],
)
async def test_every_answer_forbids_scripts_framing_and_sniffing(
    client: httpx.AsyncClient, path: str, status: int
) -> None:
    response = await client.get(path)
    assert response.status_code == status
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"


async def test_the_api_docs_may_load_swagger_ui_from_its_cdn(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    assert "https://cdn.jsdelivr.net" in response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
