"""``GET /api/analytics`` on a real Faust web app: keys, scope, parts gathered whole, the OpenAPI document."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import faust
import pytest
from aiohttp.test_utils import TestClient, TestServer

from stream_app.aggregation import Row
from stream_app.analytics import GROUP_BY
from stream_app.app import faust_config
from stream_app.auth import Account, Authenticator, InMemoryKeyResolver
from stream_app.errors import PeersUnavailableError
from stream_app.settings import WorkerSettings
from stream_app.timeframe import DAY_MS, HOUR_MS, MINUTE_MS
from stream_app.views import register_views
from stream_app.windows import Granularity
from tests.unit.stream_app.test_evaluate import DE_CHROME, FR_SAFARI, link, sketch

NOW = int(datetime(2026, 11, 28, 10, 20, tzinfo=UTC).timestamp() * 1000)
NINE = NOW - NOW % HOUR_MS - HOUR_MS
GRANS = (
    Granularity("minute", MINUTE_MS, DAY_MS),
    Granularity("hour", HOUR_MS, 30 * DAY_MS),
)
OPERATOR_KEY = "operator-key-0123456789"
ALICE, BOB = "Bearer key-alice", "Bearer key-bob"


class Engine:
    """Hour windows: Alice's link ``a`` (5 people from DE, 3 from FR) and Bob's ``b`` (4 from FR)."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, int, int]] = []
        row = Row(
            links={
                "a": link("acct-alice", {DE_CHROME: (5, 0), FR_SAFARI: (3, 0)}, sketch(range(8)), slug="sa"),
                "b": link("acct-bob", {FR_SAFARI: (4, 0)}, sketch(range(50, 54)), slug="sb"),
            }
        )
        self.rows = {"hour": [(NINE, row)]}

    def windows(self, granularity: str, from_ms: int, to_ms: int) -> Iterator[tuple[int, Row]]:
        self.asked.append((granularity, from_ms, to_ms))
        return iter(
            [(start, row) for start, row in self.rows.get(granularity, []) if from_ms <= start < to_ms]
        )


class Rows:
    granularities = GRANS

    def __init__(self) -> None:
        self.engine = Engine()

    def engines(self) -> Iterator[tuple[int, Any]]:
        yield 0, self.engine

    def owned(self) -> list[int]:
        return [0]


class Peers:
    """Another worker owning partition 1 and Bob's link ``c`` (2 clicks from DE)."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, dict[str, str], str | None]] = []
        self.partitions = [1]
        self.fail = False

    async def gather(self, path: str, params: dict[str, str], account_id: str | None) -> list[dict[str, Any]]:
        self.asked.append((path, params, account_id))
        if self.fail:
            raise PeersUnavailableError("another worker did not answer")
        bob = account_id == "acct-bob"
        group_by = params.get("groupBy", "count")
        if group_by == "countries":
            part: dict[str, Any] = {"groups": {"DE": 2} if bob else {}}
        elif group_by == "timeseries":
            part = {"buckets": {}}
        elif GROUP_BY.get(group_by):
            part = {"groups": {}}
        elif group_by == "top_links":
            part = {"links": {"c": ["sc", 2, None]} if bob else {}}
        else:
            part = {"clicks": 2 if bob else 0, "sketch": None}
        return [{"part": part, "partitions": self.partitions}]


@pytest.fixture
def peers() -> Peers:
    return Peers()


@pytest.fixture
def rows() -> Rows:
    return Rows()


@pytest.fixture
async def client(peers: Peers, rows: Rows) -> AsyncIterator[TestClient[Any, Any]]:
    resolver = InMemoryKeyResolver(
        {"key-alice": Account("acct-alice", "A"), "key-bob": Account("acct-bob", "B")}
    )
    app = faust.App("analytics-view-test", **faust_config(WorkerSettings()))
    register_views(
        app, rows, Authenticator(resolver, OPERATOR_KEY), peers, partition_count=2, clock=lambda: NOW
    )
    async with TestClient(TestServer(app.web.web_app)) as test_client:
        yield test_client


async def _get(client: TestClient[Any, Any], key: str | None, **params: str) -> tuple[int, Any]:
    headers = {"Authorization": key} if key else {}
    response = await client.get("/api/analytics", params=params, headers=headers)
    return response.status, await response.json()


@pytest.mark.parametrize("key", [None, "Bearer nope", "key-alice", f"Basic {OPERATOR_KEY}"])
async def test_no_valid_key_gets_401(client: TestClient[Any, Any], key: str | None) -> None:
    status, body = await _get(client, key)
    assert status == 401
    assert body["error"]


async def test_an_account_counts_only_its_own_links(client: TestClient[Any, Any]) -> None:
    status, body = await _get(client, ALICE)
    assert status == 200, body
    assert body["data"] == {"clicks": 8, "uniques": 8}
    status, body = await _get(client, ALICE, groupBy="countries")
    assert [(entry["country"], entry["clicks"]) for entry in body["data"]] == [("DE", 5), ("FR", 3)]
    status, body = await _get(client, ALICE, link="b")
    assert body["data"] == {"clicks": 0, "uniques": 0}


async def test_another_workers_part_is_merged(client: TestClient[Any, Any]) -> None:
    status, body = await _get(client, BOB, groupBy="countries")
    assert status == 200
    assert [(entry["country"], entry["clicks"]) for entry in body["data"]] == [("FR", 4), ("DE", 2)]
    _, body = await _get(client, BOB, groupBy="top_links")
    assert [(entry["link_id"], entry["clicks"]) for entry in body["data"]] == [("b", 4), ("c", 2)]


async def test_the_operator_sees_every_account(client: TestClient[Any, Any]) -> None:
    _, body = await _get(client, f"Bearer {OPERATOR_KEY}", groupBy="top_links")
    assert [(entry["link_id"], entry["clicks"]) for entry in body["data"]] == [("a", 8), ("b", 4)]


async def test_peers_get_the_callers_verified_scope_and_a_pinned_plan(
    client: TestClient[Any, Any], peers: Peers
) -> None:
    status, _ = await _get(
        client, BOB, groupBy="cities", interval="7d", timezone="Europe/Berlin", country="-FR"
    )
    assert status == 200
    [(path, params, account_id)] = peers.asked
    assert path == "/api/analytics"
    assert account_id == "acct-bob"  # never the key
    assert params == {
        "groupBy": "cities",
        "start": "2026-11-21T23:00:00Z",
        "end": "2026-11-28T23:00:00Z",
        "timezone": "Europe/Berlin",
        "granularity": "day",
        "bots": "exclude",
        "limit": "100",
        "country": "-FR",
        "scope": "local",
    }


async def test_scope_local_answers_this_workers_part_only(client: TestClient[Any, Any], peers: Peers) -> None:
    status, body = await _get(client, ALICE, scope="local", groupBy="countries")
    assert status == 200
    assert body == {"part": {"groups": {"DE": 5, "FR": 3}}, "partitions": [0]}
    assert peers.asked == []


@pytest.mark.parametrize("partitions", [[], [0, 1]], ids=["a-partition-in-flight", "answered-twice"])
async def test_an_answer_is_whole_or_a_503(
    client: TestClient[Any, Any], peers: Peers, partitions: list[int]
) -> None:
    peers.partitions = partitions
    status, body = await _get(client, ALICE)
    assert status == 503
    assert "data" not in body


async def test_a_peer_that_fails_makes_a_503(client: TestClient[Any, Any], peers: Peers) -> None:
    peers.fail = True
    status, body = await _get(client, ALICE)
    assert status == 503
    assert body == {"error": "another worker did not answer"}


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"groupBy": "nope"}, "groupBy"),
        ({"timezone": "Not/AZone"}, "timezone"),
        ({"account_id": "acct-bob"}, "account_id"),
        ({"scope": "everything"}, "scope"),
        ({"country": ",".join(["DE"] * 101)}, "country"),
    ],
)
async def test_a_bad_parameter_gets_400_naming_it(
    client: TestClient[Any, Any], peers: Peers, params: dict[str, str], parameter: str
) -> None:
    status, body = await _get(client, ALICE, **params)
    assert status == 400
    assert body["parameter"] == parameter
    assert body["error"]
    assert peers.asked == []


async def test_a_bad_parameter_without_a_key_is_still_401(client: TestClient[Any, Any]) -> None:
    status, _ = await _get(client, None, groupBy="nope")
    assert status == 401


async def test_repeated_parameters_are_refused(client: TestClient[Any, Any]) -> None:
    response = await client.get("/api/analytics?country=DE&country=FR", headers={"Authorization": ALICE})
    assert response.status == 400
    assert (await response.json())["parameter"] == "country"


async def test_day_buckets_in_berlin_read_hour_windows(client: TestClient[Any, Any], rows: Rows) -> None:
    status, body = await _get(client, ALICE, groupBy="timeseries", interval="7d", timezone="Europe/Berlin")
    assert status == 200
    assert rows.engine.asked == [("hour", body_start_ms(body), body_end_ms(body))]
    assert body["data"][-1] == {"start": "2026-11-28T00:00:00+01:00", "clicks": 8, "uniques": 8}
    assert len(body["data"]) == 7


def body_start_ms(body: dict[str, Any]) -> int:
    return int(datetime.fromisoformat(body["start"]).timestamp() * 1000)


def body_end_ms(body: dict[str, Any]) -> int:
    return int(datetime.fromisoformat(body["end"]).timestamp() * 1000)


async def test_the_openapi_document_is_served_without_a_key(client: TestClient[Any, Any]) -> None:
    response = await client.get("/api/openapi.json")
    assert response.status == 200
    document = await response.json()
    assert "/api/analytics" in document["paths"]
