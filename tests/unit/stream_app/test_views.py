"""The stats API's trust boundary, served by a real Faust web app with in-memory keys, rows and peers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import faust
import pytest
from aiohttp.test_utils import TestClient, TestServer

from stream_app.aggregation import Click, dims
from stream_app.app import create_app, faust_config
from stream_app.auth import Account, Authenticator, InMemoryKeyResolver
from stream_app.engine import PartitionEngine
from stream_app.settings import WorkerSettings
from stream_app.testing import DictRowStore
from stream_app.views import register_views
from stream_app.windows import MINUTE_MS, Granularity

T0 = int(datetime(2026, 11, 28, 10, 0, tzinfo=UTC).timestamp() * 1000)
GRANS = (Granularity("minute", MINUTE_MS, retention_ms=10 * MINUTE_MS),)
OPERATOR_KEY = "operator-key-0123456789"
RANGE = {"from": "2026-11-28T09:00:00Z", "to": "2026-11-28T11:00:00Z"}
ALICE, BOB = "Bearer key-alice", "Bearer key-bob"


class Rows:
    """One partition holding Alice's link ``a`` (3 clicks) and Bob's link ``b`` (2 clicks)."""

    granularities = GRANS

    def __init__(self) -> None:
        self.engine = PartitionEngine(0, DictRowStore(), GRANS, grace_ms=0, idle_ms=MINUTE_MS, buckets=2)
        clicks = [
            Click(i, T0 + i, "a", "acct-alice", dims(country="DE"), False, "alice-slug") for i in range(3)
        ]
        clicks += [
            Click(3 + i, T0 + i, "b", "acct-bob", dims(country="FR"), False, "bob-slug") for i in range(2)
        ]
        self.engine.process(clicks, T0, clock_ms=T0)

    def engines(self) -> Iterator[tuple[int, PartitionEngine]]:
        yield 0, self.engine

    def owned(self) -> list[int]:
        return [0]


class Peers:
    """Another worker that owns Bob's link ``c``; records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, dict[str, str], str | None]] = []
        self.partitions = [1]  # what the other worker answers for

    async def gather(self, path: str, params: dict[str, str], account_id: str | None) -> list[dict[str, Any]]:
        self.asked.append((path, params, account_id))
        if account_id != "acct-bob":
            empty = {"links": [], "countries": {}, "totals": _split(0), "series": []}
            return [{**_described(params), **empty, "partitions": self.partitions}]
        link = {"link_id": "c", "slug": "c", "account_id": "acct-bob", **_split(7)}
        counts = {"links": [link], "countries": {"US": _split(7)}, "totals": _split(7)}
        return [{**_described(params), **counts, "partitions": self.partitions}]


def _split(total: int) -> dict[str, int]:
    return {"total": total, "human": total, "bot": 0}


def _described(params: dict[str, str]) -> dict[str, Any]:
    return {"granularity": "minute", "from": params["from"], "to": params["to"], "limit": 10}


@pytest.fixture
def resolver() -> InMemoryKeyResolver:
    return InMemoryKeyResolver({"key-alice": Account("acct-alice", "A"), "key-bob": Account("acct-bob", "B")})


@pytest.fixture
def peers() -> Peers:
    return Peers()


@pytest.fixture
async def client(resolver: InMemoryKeyResolver, peers: Peers) -> AsyncIterator[TestClient[Any, Any]]:
    app = faust.App("views-test", **faust_config(WorkerSettings()))
    register_views(app, Rows(), Authenticator(resolver, OPERATOR_KEY), peers, partition_count=2)
    async with TestClient(TestServer(app.web.web_app)) as test_client:
        yield test_client


async def _get(client: TestClient[Any, Any], path: str, key: str | None, **params: str) -> tuple[int, Any]:
    headers = {"Authorization": key} if key else {}
    response = await client.get(path, params={**RANGE, **params}, headers=headers)
    return response.status, await response.json()


@pytest.mark.parametrize("path", ["/api/stats/top-links", "/api/stats/countries", "/api/stats/links/a"])
@pytest.mark.parametrize("key", [None, "Bearer nope", "key-alice", f"Basic {OPERATOR_KEY}"])
async def test_no_valid_key_gets_401_with_a_reason(
    client: TestClient[Any, Any], path: str, key: str | None
) -> None:
    status, body = await _get(client, path, key)
    assert status == 401
    assert body["error"]


async def test_an_unreachable_account_service_gets_503(
    client: TestClient[Any, Any], resolver: InMemoryKeyResolver
) -> None:
    resolver.unavailable = True
    status, body = await _get(client, "/api/stats/countries", ALICE)
    assert status == 503
    assert "account service" in body["error"]


async def test_an_account_sees_only_its_own_links(client: TestClient[Any, Any]) -> None:
    status, top = await _get(client, "/api/stats/top-links", ALICE)
    assert status == 200
    assert [(link["link_id"], link["total"]) for link in top["links"]] == [("a", 3)]
    assert (await _get(client, "/api/stats/countries", ALICE))[1]["countries"] == {"DE": _split(3)}
    assert (await _get(client, "/api/stats/links/b", ALICE))[1]["totals"] == _split(0)
    assert (await _get(client, "/api/stats/links/a", ALICE))[1]["totals"] == _split(3)


async def test_the_operator_sees_every_account(client: TestClient[Any, Any]) -> None:
    _, top = await _get(client, "/api/stats/top-links", f"Bearer {OPERATOR_KEY}")
    assert [(link["link_id"], link["total"]) for link in top["links"]] == [("a", 3), ("b", 2)]


async def test_other_workers_get_the_callers_verified_scope_never_the_key(
    client: TestClient[Any, Any], peers: Peers
) -> None:
    _, top = await _get(client, "/api/stats/top-links", BOB, account_id="acct-alice", account="acct-alice")
    assert [(link["link_id"], link["total"]) for link in top["links"]] == [("c", 7), ("b", 2)]
    [(path, params, account_id)] = peers.asked
    assert path == "/api/stats/top-links"
    assert params == {**RANGE, "scope": "local"}
    assert account_id == "acct-bob"


async def test_scope_local_does_not_widen_what_a_tenant_sees(
    client: TestClient[Any, Any], peers: Peers
) -> None:
    status, top = await _get(client, "/api/stats/top-links", ALICE, scope="local", account_id="acct-bob")
    assert status == 200
    assert [link["link_id"] for link in top["links"]] == ["a"]
    assert peers.asked == []


async def test_faust_own_pages_are_not_served() -> None:
    app = create_app(WorkerSettings())
    web = app.web
    web.blueprints.apply(web)  # what the web server does when it starts
    async with TestClient(TestServer(web.web_app)) as client:
        for path in (
            "/",
            "/router/",
            "/table/window-rows/",
            "/graph/",
            "/stats/",
            "/assignment/",
            "/performance/",
        ):
            response = await client.get(path)
            assert response.status == 404, path
            response.release()
    ours = {resource.canonical for resource in web.web_app.router.resources()}
    assert ours == {
        "/api/analytics",
        "/api/openapi.json",
        "/api/stats/links/{link_id}",
        "/api/stats/countries",
        "/api/stats/top-links",
        "/dashboard",
        "/static/dashboard.js",
        "/static/dashboard.css",
        "/static/vendor/chart.umd.min.js",
        "/static/dashboard-state.js",
        "/static/dashboard-map.js",
        "/static/vendor/d3-array.min.js",
        "/static/vendor/d3-geo.min.js",
        "/static/vendor/topojson-client.min.js",
        "/static/vendor/countries-110m.json",
        "/static/vendor/countries-110m.iso-alpha2.json",
        "/metrics",
        "/readyz",
        "/healthz",
    }


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"limit": "²"}, "limit"),
        ({"from": "0001-01-01T00:00:00+01:00"}, "from"),
        ({"to": "9999-12-31T23:59:59-01:00"}, "to"),
        ({"from": "9999-12-31T22:00:00Z", "to": "9999-12-31T23:59:59Z"}, "from"),
    ],
)
async def test_hostile_parameters_get_400_with_a_reason(
    client: TestClient[Any, Any], params: dict[str, str], parameter: str
) -> None:
    status, body = await _get(client, "/api/stats/top-links", ALICE, **params)
    assert status == 400
    assert body["error"]
    assert body["parameter"] == parameter


@pytest.mark.parametrize(
    ("theirs", "uncovered"),
    [([], [1]), ([0, 1], [0]), ([1], [])],
    ids=["a-partition-in-flight", "answered-twice", "whole"],
)
async def test_an_answer_is_whole_or_a_503_never_a_part(
    client: TestClient[Any, Any], peers: Peers, theirs: list[int], uncovered: list[int]
) -> None:
    """While partitions move between workers, a part of the counts must not pass for all of them."""
    peers.partitions = theirs
    status, body = await _get(client, "/api/stats/top-links", ALICE)
    if uncovered:
        assert status == 503
        assert body["partitions"] == uncovered
    else:
        assert status == 200
        assert "partitions" not in body
