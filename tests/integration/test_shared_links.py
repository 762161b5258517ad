"""Two redirect hosts on one PostgreSQL database (issue 20): a link created, changed, disabled or deleted,
or a key revoked, through one host takes effect on the other within a second; with the database down both
go on redirecting the links they know, and changes flow again once it is back."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.integration.conftest import API_KEY, Service, StartProducer
from tests.postgres import LocalPostgres

pytestmark = pytest.mark.postgres

LIMIT = 1.0  # seconds: a change through one host is live on every other within this
AUTH = {"Authorization": f"Bearer {API_KEY}"}


async def within(check: Callable[[], Awaitable[bool]], limit: float) -> float:
    """Poll ``check`` until it is true; return the seconds it took, failing past ``limit``."""
    started = time.monotonic()
    while not await check():
        elapsed = time.monotonic() - started
        assert elapsed < limit, f"not true within {limit} s"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


def two_hosts(start_producer: StartProducer, url: str, tmp_path: Path) -> tuple[Service, Service]:
    """Host a reads the URL from the variable, host b from a secret file: two data directories, one
    database."""
    secret = tmp_path / "database-url"
    secret.write_text(url + "\n")
    secret.chmod(0o600)
    return (
        start_producer("host-a", database_url=url),
        start_producer("host-b", database_url_file=str(secret)),
    )


def clickpipe(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CLICKPIPE_PRODUCER_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "clickpipe", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


async def location(client: httpx.AsyncClient, slug: str) -> tuple[int, str | None]:
    response = await client.get(f"/{slug}")
    return response.status_code, response.headers.get("location")


async def test_changes_through_one_host_take_effect_on_the_other_within_a_second(
    start_producer: StartProducer, postgres_url: str, tmp_path: Path, figures: list[str]
) -> None:
    a, b = two_hosts(start_producer, postgres_url, tmp_path)
    took: dict[str, float] = {}
    async with (
        httpx.AsyncClient(base_url=a.url, headers=AUTH) as one,
        httpx.AsyncClient(base_url=b.url) as two,
    ):
        created = await one.post(
            "/api/links", json={"slug": "shared", "default_destination": "https://example.com/a"}
        )
        assert created.status_code == 201, created.text
        link_id = created.json()["link_id"]

        async def redirects_to(url: str) -> bool:
            return await location(two, "shared") == (302, url)

        took["create"] = await within(lambda: redirects_to("https://example.com/a"), LIMIT)

        patched = await one.patch(
            f"/api/links/{link_id}",
            json={
                "default_destination": "https://example.com/b",
                "country_destinations": {"DE": "https://example.de/"},
            },
        )
        assert patched.status_code == 200, patched.text
        took["new destinations"] = await within(lambda: redirects_to("https://example.com/b"), LIMIT)
        german = await two.get("/shared", headers={"CF-IPCountry": "DE"})
        assert german.headers["location"] == "https://example.de/"

        assert (await one.patch(f"/api/links/{link_id}", json={"disabled": True})).status_code == 200

        async def status_on_b(code: int) -> bool:
            return (await two.get("/shared")).status_code == code

        took["disable"] = await within(lambda: status_on_b(410), LIMIT)

        assert (await one.patch(f"/api/links/{link_id}", json={"disabled": False})).status_code == 200
        took["enable"] = await within(lambda: status_on_b(302), LIMIT)

        toggles = []  # disable and enable again and again: the spread of the propagation time
        for disabled in [True, False] * 10:
            assert (await one.patch(f"/api/links/{link_id}", json={"disabled": disabled})).status_code == 200
            toggles.append(await within(lambda d=disabled: status_on_b(410 if d else 302), LIMIT))

        assert (await one.delete(f"/api/links/{link_id}")).status_code == 204
        took["delete"] = await within(lambda: status_on_b(404), LIMIT)

        # The link API on b sees the same accounts and links: the slug stays reserved, and listing agrees.
        listed = await two.get("/api/links", headers=AUTH)
        assert [item["slug"] for item in listed.json()["items"]] == ["demo"]
    for name, seconds in took.items():
        figures.append(f"two hosts on PostgreSQL: {name} through a, live on b after {seconds * 1000:.0f} ms")
    toggles.sort()
    figures.append(
        f"two hosts on PostgreSQL: {len(toggles)} disable/enable toggles through a, live on b after "
        f"{toggles[len(toggles) // 2] * 1000:.0f} ms median, {toggles[-1] * 1000:.0f} ms at most"
    )
    password = urlsplit(postgres_url).password
    assert password and all(password not in host.output() for host in (a, b))


async def test_a_key_revoked_is_refused_by_every_host_at_once(
    start_producer: StartProducer, postgres_url: str, tmp_path: Path
) -> None:
    a, b = two_hosts(start_producer, postgres_url, tmp_path)
    made = clickpipe("accounts", "create", "Acme", url=postgres_url)
    assert made.returncode == 0, made.stderr
    account = made.stdout.split()[1]
    keyed = clickpipe("keys", "create", account, url=postgres_url)
    assert keyed.returncode == 0, keyed.stderr
    key = keyed.stdout.strip()
    bearer = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=a.url) as one, httpx.AsyncClient(base_url=b.url) as two:
        for client in (one, two):
            assert (await client.get("/api/account", headers=bearer)).json()["name"] == "Acme"
        revoked = clickpipe("keys", "revoke", key, url=postgres_url)
        assert revoked.returncode == 0, revoked.stderr
        for client in (one, two):  # keys are checked against the database on every call: no wait
            assert (await client.get("/api/account", headers=bearer)).status_code == 401
            assert (await client.get("/api/account", headers=AUTH)).status_code == 200
    assert clickpipe("keys", "revoke", key, url=postgres_url).returncode == 1


async def test_with_the_database_down_known_links_redirect_and_changes_flow_again_after(
    start_producer: StartProducer, own_postgres: LocalPostgres, tmp_path: Path, figures: list[str]
) -> None:
    url = own_postgres.url
    a, b = two_hosts(start_producer, url, tmp_path)
    async with (
        httpx.AsyncClient(base_url=a.url, headers=AUTH) as one,
        httpx.AsyncClient(base_url=b.url) as two,
    ):
        created = await one.post(
            "/api/links", json={"slug": "kept", "default_destination": "https://example.com/"}
        )
        link_id = created.json()["link_id"]
        await within(lambda: _status(two, "/kept", 302), LIMIT)

        metrics = (await two.get("/metrics")).text
        assert "clickpipe_producer_links_known 2.0" in metrics  # demo and kept
        assert "clickpipe_producer_link_view_listening 1.0" in metrics

        await asyncio.to_thread(own_postgres.stop)
        for client in (one, two):
            await within(lambda c=client: _links_state(c, "reconnecting"), 10)
        for _ in range(20):  # known links keep redirecting, from memory
            for client in (one, two):
                assert await location(client, "kept") == (302, "https://example.com/")
                assert (await client.get("/demo")).status_code == 302
        assert (await one.get("/unknown")).status_code == 404
        # The API needs the database: 503 at once (the store's pool would wait 5 s for a connection, but the
        # listener has told it the server is gone), well within a client's 3 s.
        assert (await one.get("/api/links", timeout=3)).status_code == 503

        assert "clickpipe_producer_link_view_listening 0.0" in (await two.get("/metrics")).text

        await asyncio.to_thread(own_postgres.start)
        back = max([await within(lambda c=client: _links_state(c, "listening"), 15) for client in (one, two)])
        patched = await one.patch(
            f"/api/links/{link_id}", json={"default_destination": "https://example.com/new"}
        )
        assert patched.status_code == 200, patched.text
        took = await within(lambda: _location_is(two, "/kept", "https://example.com/new"), LIMIT)
        assert "clickpipe_producer_link_view_loads 2.0" in (await two.get("/metrics")).text
    figures.append(
        f"two hosts, PostgreSQL restarted: both listening again {back:.2f} s after; a change then live on "
        f"the other host after {took * 1000:.0f} ms"
    )
    assert own_postgres.password not in a.output() + b.output()


async def _status(client: httpx.AsyncClient, path: str, code: int) -> bool:
    return (await client.get(path)).status_code == code


async def _location_is(client: httpx.AsyncClient, path: str, url: str) -> bool:
    return (await client.get(path)).headers.get("location") == url


async def _links_state(client: httpx.AsyncClient, state: str) -> bool:
    return (await client.get("/readyz")).json().get("links") == state
