"""API keys to account scopes: the authenticator, the cache, and the HTTP resolver against a small server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from clickpipe.broker import free_port
from stream_app.auth import (
    OPERATOR,
    Account,
    Authenticator,
    CachingKeyResolver,
    HttpKeyResolver,
    InMemoryKeyResolver,
    Scope,
)
from stream_app.errors import AuthUnavailableError, InvalidKeyError
from tests.clock import ManualClock

ALICE = Account("acct-alice", "Alice")
OPERATOR_KEY = "operator-key-0123456789"


def authenticator(resolver: InMemoryKeyResolver | None = None) -> Authenticator:
    return Authenticator(resolver or InMemoryKeyResolver({"key-alice": ALICE}), OPERATOR_KEY)


@pytest.mark.parametrize(
    "header",
    [None, "", "key-alice", "Basic a2V5LWFsaWNl", "Bearer ", "Bearer key-\x00alice", "Bearer " + "k" * 600],
)
async def test_no_bearer_key_is_refused(header: str | None) -> None:
    with pytest.raises(InvalidKeyError):
        await authenticator().scope(header)


async def test_a_tenant_key_scopes_to_its_account_and_the_operator_key_to_all() -> None:
    auth = authenticator()
    assert await auth.scope("Bearer key-alice") == Scope("acct-alice")
    assert await auth.scope("bearer key-alice") == Scope("acct-alice")
    assert await auth.scope(f"Bearer {OPERATOR_KEY}") == OPERATOR
    assert OPERATOR.sees("anyone") and not Scope("acct-alice").sees("acct-bob")
    with pytest.raises(InvalidKeyError):
        await auth.scope("Bearer key-mallory")


async def test_without_an_operator_key_nothing_sees_everything() -> None:
    auth = Authenticator(InMemoryKeyResolver({}), None)
    with pytest.raises(InvalidKeyError):
        await auth.scope("Bearer None")


async def test_answers_are_cached_for_their_ttl_and_outages_are_not() -> None:
    inner = InMemoryKeyResolver({"key-alice": ALICE})
    clock = ManualClock(1000.0)
    cache = CachingKeyResolver(inner, ttl=30, negative_ttl=5, clock=clock)
    assert await cache.resolve("key-alice") == ALICE
    assert await cache.resolve("key-alice") == ALICE
    for _ in range(2):
        with pytest.raises(InvalidKeyError):
            await cache.resolve("bad")
    assert inner.calls == 2
    clock.now += 5
    with pytest.raises(InvalidKeyError):
        await cache.resolve("bad")
    assert inner.calls == 3
    clock.now += 30
    inner.unavailable = True
    for _ in range(2):
        with pytest.raises(AuthUnavailableError):
            await cache.resolve("key-alice")
    assert inner.calls == 5
    inner.unavailable = False
    assert await cache.resolve("key-alice") == ALICE


async def test_the_cache_holds_at_most_max_entries() -> None:
    inner = InMemoryKeyResolver({"key-alice": ALICE})
    cache = CachingKeyResolver(inner, ttl=30, negative_ttl=30, max_entries=2, clock=ManualClock(1000.0))
    await cache.resolve("key-alice")
    for key in ("x", "y"):
        with pytest.raises(InvalidKeyError):
            await cache.resolve(key)
    await cache.resolve("key-alice")  # pushed out by the made-up keys: asked again
    assert inner.calls == 4


@pytest.fixture
async def account_service() -> AsyncIterator[TestServer]:
    async def account(request: web.Request) -> web.Response:
        key = request.headers.get("Authorization")
        if key == "Bearer key-alice":
            return web.json_response({"account_id": "acct-alice", "name": "Alice"})
        if key == "Bearer key-boom":
            return web.json_response({"detail": "boom"}, status=500)
        if key == "Bearer key-garbage":
            return web.Response(text="<html>")
        return web.json_response({"detail": "bad key"}, status=401)

    app = web.Application()
    app.router.add_get("/api/account", account)
    async with TestServer(app) as server:
        yield server


async def test_the_http_resolver_asks_the_producer(account_service: TestServer) -> None:
    resolver = HttpKeyResolver(str(account_service.make_url("/")), timeout=5)
    assert await resolver.resolve("key-alice") == ALICE
    with pytest.raises(InvalidKeyError):
        await resolver.resolve("key-mallory")
    with pytest.raises(AuthUnavailableError) as failed:
        await resolver.resolve("key-boom")
    assert failed.value.status == 500
    with pytest.raises(AuthUnavailableError):
        await resolver.resolve("key-garbage")


async def test_the_http_resolver_reports_an_unreachable_producer() -> None:
    resolver = HttpKeyResolver(f"http://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(AuthUnavailableError) as failed:
        await resolver.resolve("key-alice")
    assert failed.value.retriable
